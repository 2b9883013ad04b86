// Loads a local Hugging Face model directory (MLCDVisionModel or a CLIP vision tower) onto the
// toolkit's device: config and headers checked first, the memory need checked against the
// adapter, then the weights read shard by shard, one tensor at a time, each uploaded at once.
import type { Gpu } from "../gpu/gpu.ts";
import type { Encoder, EncoderSpec } from "../model/encoder.ts";
import { tf, useTfBackend } from "../model/tf.ts";
import {
  HF_PROJECTION,
  hfParamShapes,
  hfTrains,
  type HfVisionSpec,
  readHfVisionSpec,
  readJson,
} from "./hf_config.ts";
import { checkHfWeights, type HfWeightRef, listHfWeights } from "./hf_weights.ts";
import { checkHfFits, type HfMemoryPlan, hfMemoryPlan } from "./memory.ts";
import { hfImageTransform, type ImageTransform } from "./preprocess.ts";
import {
  type HfPreprocessor,
  parsePreprocessorConfig,
  preprocessorSide,
} from "./preprocessor_config.ts";
import { readTensorF32 } from "./safetensors_file.ts";
import { hfVisionForward } from "./vision_forward.ts";
import { uploadNow } from "./_upload.ts";

/** Options of {@linkcode loadHfModel}. */
export interface LoadHfModelOptions {
  /**
   * Layers to fine-tune: `0` every parameter, `N` the last N encoder layers with the
   * post-LayerNorm and the projection. Absent: embedding only (the memory check then counts
   * no training state). @default {undefined}
   */
  trainLayers?: number;
  /** Images per training step, for the memory check. @default {1} */
  batchSize?: number;
  /** Called after every tensor loaded, with the count done and the total. @default {undefined} */
  onTensor?: (done: number, total: number) => void;
}

/** A vision tower on the device, ready to embed and to fine-tune. */
export interface HfModel {
  /** The model directory. */
  dir: string;
  /** Its `config.json`. */
  config: HfVisionSpec;
  /** Its `preprocessor_config.json`. */
  preprocessor: HfPreprocessor;
  /** Side of the images the processor makes (the encoder's input). */
  inputSize: number;
  /** Whether CLIP's `visual_projection` is part of the pooled output. */
  projection: boolean;
  /** Every parameter by Hugging Face name (PyTorch shapes). */
  weights: Map<string, tf.Variable>;
  /**
   * The encoder: `[batch, inputSize²·3]` HWC rows to pooled outputs; its `params` are the
   * trained subset (all of them without `trainLayers`), by Hugging Face name.
   */
  encoder: Encoder;
  /** The processor as a loader transform (decode, resize, crop, normalise). */
  transform: ImageTransform;
  /** The memory the model needs. */
  plan: HfMemoryPlan;
  /** Images per forward chunk (every activation buffer within the binding limit). */
  maxRows: number;
  /** Releases the weights. */
  dispose(): void;
}

/**
 * Reads `config.json`, `preprocessor_config.json` and the safetensors weights of a local
 * Hugging Face model directory (one file, or shards with an index; F32, F16 or BF16) and builds
 * the encoder on `gpu`'s device. Everything is checked before any weight is read: the model
 * type and activation, every tensor's presence, shape and dtype, every shard's length, and
 * the memory need against the adapter's limits.
 *
 * @param gpu The GPU context (tfjs is bound to its device).
 * @param dir The model directory.
 * @param options See {@linkcode LoadHfModelOptions}.
 * @returns The model.
 * @throws {TypeError} Naming the file or tensor for malformed, missing or mismatched input.
 * @throws {RangeError} When the model cannot fit the adapter (one line, before loading).
 *
 * @example Usage
 * ```ts ignore
 * const model = await loadHfModel(gpu, "models/mlcd-vit-bigG-patch14-448");
 * const z = await embed(model.encoder, rows, { normalize: true });
 * ```
 */
export async function loadHfModel(
  gpu: Gpu,
  dir: string,
  options: LoadHfModelOptions = {},
): Promise<HfModel> {
  const { dir: d, config, preprocessor, inputSize, refs, projection, shapes, plan, maxRows } =
    await inspectHfModel(gpu, dir, options);
  const trainLayers = options.trainLayers;
  await useTfBackend(gpu);

  // Shard by shard, in file order: one tensor's bytes on the host at a time.
  const byFile = new Map<string, [string, number[]][]>();
  for (const s of shapes) {
    const path = refs.get(s[0])!.file.path;
    if (!byFile.has(path)) byFile.set(path, []);
    byFile.get(path)!.push(s);
  }
  const weights = new Map<string, tf.Variable>();
  const disposeAll = () => {
    for (const v of weights.values()) v.dispose();
  };
  let done = 0;
  try {
    for (const [path, list] of byFile) {
      list.sort((a, b) => refs.get(a[0])!.entry.begin - refs.get(b[0])!.entry.begin);
      const file = await Deno.open(path, { read: true });
      try {
        for (const [name, shape] of list) {
          const data = await readTensorF32(file, path, name, refs.get(name)!.entry);
          const train = trainLayers !== undefined && hfTrains(config, name, trainLayers);
          const t = tf.tensor(data, shape, "float32");
          weights.set(name, tf.variable(t, train));
          uploadNow(t);
          t.dispose();
          options.onTensor?.(++done, shapes.length);
        }
      } finally {
        file.close();
      }
    }
  } catch (e) {
    disposeAll();
    throw e;
  }
  const ordered = new Map(shapes.map(([n]) => [n, weights.get(n)!] as const));
  return createHfModel(config, ordered, {
    dir: d,
    preprocessor,
    inputSize,
    projection,
    maxRows,
    plan,
    ...(trainLayers !== undefined ? { trainLayers } : {}),
  });
}

/** What {@linkcode inspectHfModel} finds in a model directory, before any weight is read. */
export interface HfModelInspection {
  /** The directory, without a trailing slash. */
  dir: string;
  /** Its `config.json`. */
  config: HfVisionSpec;
  /** Its `preprocessor_config.json`. */
  preprocessor: HfPreprocessor;
  /** Side of the processor's images. */
  inputSize: number;
  /** Every tensor's file and span. */
  refs: Map<string, HfWeightRef>;
  /** Whether CLIP's `visual_projection` is used. */
  projection: boolean;
  /** The parameters loaded, with their shapes. */
  shapes: [string, number[]][];
  /** The memory the model needs. */
  plan: HfMemoryPlan;
  /** Images per forward chunk. */
  maxRows: number;
}

/**
 * Every check {@linkcode loadHfModel} makes before reading a weight: the config and processor,
 * every tensor's presence, shape and dtype, every shard's length, and the memory need against
 * `gpu`'s limits. Reads only JSON files and safetensors headers, so a command can run it before
 * it changes anything.
 *
 * @param gpu The GPU context (its limits).
 * @param dir The model directory.
 * @param options `trainLayers` and `batchSize`, as for {@linkcode loadHfModel}.
 * @returns What was found.
 * @throws {TypeError} Naming the file or tensor for malformed, missing or mismatched input.
 * @throws {RangeError} When the model cannot fit the adapter.
 *
 * @example Usage
 * ```ts ignore
 * const { plan } = await inspectHfModel(gpu, "models/mlcd-vit-bigG-patch14-448", { trainLayers: 4 });
 * ```
 */
export async function inspectHfModel(
  gpu: Gpu,
  dir: string,
  options: Pick<LoadHfModelOptions, "trainLayers" | "batchSize"> = {},
): Promise<HfModelInspection> {
  const d = dir.replace(/\/+$/, "") || ".";
  const config = await readHfVisionSpec(d);
  const ppFile = `${d}/preprocessor_config.json`;
  const preprocessor = parsePreprocessorConfig(await readJson(ppFile), ppFile);
  const inputSize = preprocessorSide(preprocessor, ppFile);
  const refs = await listHfWeights(d);
  const archs = JSON.stringify(config.raw.architectures ?? []);
  const needsProjection = config.modelType === "clip" || archs.includes("WithProjection");
  const projection = config.kind === "clip" && (refs.has(HF_PROJECTION) || needsProjection);
  const shapes = hfParamShapes(config, projection);
  checkHfWeights(d, refs, shapes);
  const grid = Math.floor(config.imageSize / config.patchSize);
  if (config.kind === "clip" && Math.floor(inputSize / config.patchSize) !== grid) {
    throw new RangeError(
      `Cannot load ${d}: ${ppFile} makes ${inputSize} px images but the CLIP position embedding has a ${grid}×${grid} grid (image_size ${config.imageSize})`,
    );
  }
  const trainLayers = options.trainLayers;
  if (
    trainLayers !== undefined &&
    (!Number.isInteger(trainLayers) || trainLayers < 0 || trainLayers > config.numHiddenLayers)
  ) {
    throw new RangeError(
      `Expected trainLayers to be 0 (all) or a layer count in [1, ${config.numHiddenLayers}] but found ${trainLayers}`,
    );
  }
  const plan = hfMemoryPlan(config, {
    inputSize,
    projection,
    ...(trainLayers !== undefined ? { trainLayers } : {}),
  });
  const maxRows = checkHfFits(gpu, plan, { name: d, batchSize: options.batchSize ?? 1 });
  return { dir: d, config, preprocessor, inputSize, refs, projection, shapes, plan, maxRows };
}

/** Options of {@linkcode createHfModel}. */
export interface CreateHfModelOptions {
  /** Side of the input images. */
  inputSize: number;
  /** Whether `visual_projection.weight` is applied. @default {false} */
  projection?: boolean;
  /** Layers trained, as in {@linkcode LoadHfModelOptions}. @default {undefined} */
  trainLayers?: number;
  /** The processor. @default {a CLIP processor resizing and cropping to inputSize} */
  preprocessor?: HfPreprocessor;
  /** Images per forward chunk. @default {Infinity} */
  maxRows?: number;
  /** The memory plan. @default {computed} */
  plan?: HfMemoryPlan;
  /** Where the model came from. @default {""} */
  dir?: string;
}

/**
 * Builds an {@linkcode HfModel} over weights already on the device (e.g. from
 * `initHfWeights`, for benchmarks and GPU checks); {@linkcode loadHfModel} uses it after loading.
 * The model owns the weights: its `dispose()` releases them.
 *
 * @param config The config.
 * @param weights Every parameter by Hugging Face name.
 * @param options See {@linkcode CreateHfModelOptions}.
 * @returns The model.
 *
 * @example Usage
 * ```ts ignore
 * const model = createHfModel(config, initHfWeights(config, { seed: 1 }), { inputSize: 224 });
 * ```
 */
export function createHfModel(
  config: HfVisionSpec,
  weights: Map<string, tf.Variable>,
  options: CreateHfModelOptions,
): HfModel {
  const { inputSize, trainLayers } = options;
  const projection = options.projection ?? false;
  const preprocessor = options.preprocessor ??
    parsePreprocessorConfig({ size: inputSize, crop_size: inputSize }, "(default processor)");
  const forward = hfVisionForward(config, weights, {
    inputSize,
    projection,
    trainLayers: trainLayers ?? 0,
    ...(options.maxRows !== undefined ? { maxRows: options.maxRows } : {}),
  });
  let disposed = false;
  const dispose = () => {
    if (disposed) return;
    disposed = true;
    forward.dispose();
    for (const v of weights.values()) v.dispose();
  };
  const params = new Map(
    [...weights].filter(([n]) => trainLayers === undefined || hfTrains(config, n, trainLayers)),
  );
  const encoder: Encoder = {
    spec: hfEncoderSpec(config, inputSize, projection),
    params,
    inputDim: inputSize * inputSize * config.numChannels,
    apply: forward.apply,
    dispose,
  };
  return {
    dir: options.dir ?? "",
    config,
    preprocessor,
    inputSize,
    projection,
    weights,
    encoder,
    transform: hfImageTransform(preprocessor, inputSize),
    plan: options.plan ??
      hfMemoryPlan(config, {
        inputSize,
        projection,
        ...(trainLayers !== undefined ? { trainLayers } : {}),
      }),
    maxRows: options.maxRows ?? Infinity,
    dispose,
  };
}

/**
 * The encoder spec that describes a vision tower in a checkpoint manifest: a `vit` of the
 * model's shape (the weights themselves keep their Hugging Face names).
 *
 * @param c The config.
 * @param inputSize The processor's image side.
 * @param projection Whether the output is CLIP's projection.
 * @returns The spec.
 *
 * @example Usage
 * ```ts
 * import { parseHfVisionSpec } from "./hf_config.ts";
 * import { hfEncoderSpec } from "./load_hf_model.ts";
 * const c = parseHfVisionSpec({ model_type: "mlcd_vision_model" }, "config.json");
 * console.log(hfEncoderSpec(c, 448, false).embedDim); // 1664
 * ```
 */
export function hfEncoderSpec(
  c: HfVisionSpec,
  inputSize: number,
  projection: boolean,
): Required<EncoderSpec> {
  return {
    kind: "vit",
    inputShape: [inputSize, inputSize, c.numChannels],
    embedDim: projection ? c.projectionDim : c.hiddenSize,
    hidden: [],
    channels: [],
    imageSize: inputSize,
    patch: c.patchSize,
    width: c.hiddenSize,
    depth: c.numHiddenLayers,
    heads: c.numAttentionHeads,
    mlpRatio: c.intermediateSize / c.hiddenSize,
  };
}
