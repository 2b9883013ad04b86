// What a vision tower needs in device memory, and the check that refuses, before anything is
// loaded, a model that cannot fit the adapter's buffer limits (or, on a CPU adapter, its RAM).
import type { Gpu } from "../gpu/gpu.ts";
import { hfParamShapes, hfTrains, type HfVisionSpec } from "./hf_config.ts";

/** Memory needs of a vision tower in float32, in bytes unless named otherwise. */
export interface HfMemoryPlan {
  /** Parameters. */
  params: number;
  /** Parameters trained (0 for inference). */
  trainableParams: number;
  /** The weights in float32. */
  weightBytes: number;
  /** Gradients and AdamW's two moments of the trained parameters (3 × 4 bytes each). */
  trainStateBytes: number;
  /**
   * Live activations per image, approximate: one layer's intermediates (inference), plus what
   * the gradient tape keeps of every trained layer (training).
   */
  activationBytesPerImage: number;
  /** The largest weight tensor. */
  largestWeightBytes: number;
  /** The largest activation buffer one image needs (attention scores or the MLP's hidden). */
  largestActivationBytes: number;
}

/** Options of {@linkcode hfMemoryPlan}. */
export interface HfMemoryPlanOptions {
  /** Side of the input images. */
  inputSize: number;
  /** Whether the model has CLIP's `visual_projection`. @default {false} */
  projection?: boolean;
  /** `undefined`: inference; `0`: fine-tune every layer; `N`: the last N layers. @default {undefined} */
  trainLayers?: number;
}

/**
 * The memory a vision tower needs to embed images or to be fine-tuned with AdamW.
 *
 * @param c The config.
 * @param options See {@linkcode HfMemoryPlanOptions}.
 * @returns The plan.
 *
 * @example Usage
 * ```ts
 * import { parseHfVisionSpec } from "./hf_config.ts";
 * import { hfMemoryPlan } from "./memory.ts";
 * const c = parseHfVisionSpec({ model_type: "mlcd_vision_model" }, "config.json");
 * console.log((hfMemoryPlan(c, { inputSize: 336 }).weightBytes / 1e9).toFixed(2)); // 7.36
 * ```
 */
export function hfMemoryPlan(c: HfVisionSpec, options: HfMemoryPlanOptions): HfMemoryPlan {
  const shapes = hfParamShapes(c, options.projection ?? false);
  let params = 0, trainable = 0, largest = 0;
  for (const [name, s] of shapes) {
    const n = s.reduce((a, b) => a * b, 1);
    params += n;
    largest = Math.max(largest, n * 4);
    if (options.trainLayers !== undefined && hfTrains(c, name, options.trainLayers)) {
      trainable += n;
    }
  }
  const g = Math.floor(options.inputSize / c.patchSize), T = g * g + 1;
  const D = c.hiddenSize, I = c.intermediateSize, nh = c.numAttentionHeads;
  const input = options.inputSize ** 2 * c.numChannels;
  // Floats per image that one layer's tfjs ops keep (every intermediate of the layer, or what
  // the gradient tape saves of it), fitted to tf.memory() on towers of width 128-768, MLP
  // 512-3072, 50-197 tokens, 4-12 heads (within 10-20 %, on the high side).
  const layerFloats = 67 * T * D + 9.5 * T * I + 3 * nh * T * T;
  const trained = options.trainLayers === undefined
    ? 0
    : options.trainLayers === 0
    ? c.numHiddenLayers
    : options.trainLayers;
  return {
    params,
    trainableParams: trainable,
    weightBytes: params * 4,
    trainStateBytes: trainable * 12,
    activationBytesPerImage: 4 * (2 * input + (trained + 1) * layerFloats),
    largestWeightBytes: largest,
    largestActivationBytes: 4 * Math.max(nh * T * T, T * I, input, T * 3 * D),
  };
}

/**
 * Bytes as `7.4 GB`, `22 GB`, `340 MB` or `12 kB`.
 *
 * @param bytes A size.
 * @returns The size for messages.
 *
 * @example Usage
 * ```ts
 * import { formatBytes } from "./memory.ts";
 * console.log(formatBytes(7.36e9)); // 7.4 GB
 * ```
 */
export function formatBytes(bytes: number): string {
  if (bytes >= 1e9) return `${(bytes / 1e9).toFixed(bytes >= 1e10 ? 0 : 1)} GB`;
  if (bytes >= 1e6) return `${Math.round(bytes / 1e6)} MB`;
  return `${Math.round(bytes / 1e3)} kB`;
}

/** Options of {@linkcode checkHfFits}. */
export interface CheckHfFitsOptions {
  /** Images per training step (for training plans). @default {1} */
  batchSize?: number;
  /** A name for messages (the model directory). @default {"the model"} */
  name?: string;
  /** Host memory in bytes (CPU adapters); measured when omitted. @default {undefined} */
  hostBytes?: number;
}

/**
 * Refuses, before loading, a model that cannot run on `gpu`: a weight or one image's largest
 * activation over the adapter's storage-binding limit, or (on a CPU adapter, whose memory is
 * the host's) a total over the machine's RAM. Returns how many images one forward chunk may
 * hold so that every activation buffer fits the binding limit.
 *
 * @param gpu The GPU context.
 * @param plan From {@linkcode hfMemoryPlan}.
 * @param options See {@linkcode CheckHfFitsOptions}.
 * @returns Images per forward chunk.
 * @throws {RangeError} One line naming the model, the need and the limit.
 *
 * @example Usage
 * ```ts ignore
 * const maxRows = checkHfFits(gpu, hfMemoryPlan(config, { inputSize: 448 }), { name: dir });
 * ```
 */
export function checkHfFits(
  gpu: Gpu,
  plan: HfMemoryPlan,
  options: CheckHfFitsOptions = {},
): number {
  const name = options.name ?? "the model";
  const limit = gpu.maxBindingBytes;
  if (plan.largestWeightBytes > limit) {
    throw new RangeError(
      `Refusing to load ${name}: its largest weight takes ${
        formatBytes(plan.largestWeightBytes)
      }, over the adapter's ${formatBytes(limit)} storage-binding limit`,
    );
  }
  if (plan.largestActivationBytes > limit) {
    throw new RangeError(
      `Refusing to load ${name}: one image needs a ${
        formatBytes(plan.largestActivationBytes)
      } activation buffer, over the adapter's ${formatBytes(limit)} storage-binding limit`,
    );
  }
  const maxRows = Math.max(1, Math.floor(limit / plan.largestActivationBytes));
  if (gpu.quirks.profile === "cpu") {
    let host = options.hostBytes;
    if (host === undefined) {
      try {
        host = Deno.systemMemoryInfo().total;
      } catch {
        host = Infinity; // no permission to read it: nothing to compare against
      }
    }
    const batch = plan.trainableParams > 0 ? options.batchSize ?? 1 : Math.min(maxRows, 64);
    // A CPU adapter's forward multiplies by materialised Wᵀ: one more copy of trained weights.
    const transposed = plan.trainableParams * 4;
    const need = plan.weightBytes + plan.trainStateBytes + transposed +
      batch * plan.activationBytesPerImage;
    if (need > host) {
      throw new RangeError(
        `Refusing to load ${name}: ${
          plan.trainableParams > 0 ? `fine-tuning with batch ${batch}` : "embedding"
        } needs about ${formatBytes(need)} (weights ${formatBytes(plan.weightBytes)}${
          plan.trainStateBytes
            ? `, gradients and AdamW ${formatBytes(plan.trainStateBytes + transposed)}`
            : ""
        }, activations ${
          formatBytes(batch * plan.activationBytesPerImage)
        }) but this CPU adapter's host has ${formatBytes(host)}`,
      );
    }
  }
  return maxRows;
}
