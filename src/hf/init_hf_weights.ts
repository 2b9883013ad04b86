// Random weights for a vision tower (benchmarks, GPU checks): transformers' init scheme.
import { tf } from "../model/tf.ts";
import { mulberry32 } from "../random/mulberry32.ts";
import { hfParamShapes, hfTrains, type HfVisionSpec } from "./hf_config.ts";
import { uploadNow } from "./_upload.ts";

/** Options of {@linkcode initHfWeights}. */
export interface InitHfWeightsOptions {
  /** Add CLIP's `visual_projection`. @default {false} */
  projection?: boolean;
  /** Seed. @default {1} */
  seed?: number;
  /** Which variables are trainable, as `loadHfModel`'s option. @default {undefined} */
  trainLayers?: number;
}

/**
 * Every parameter of a vision tower with transformers' init scales (MLCD/CLIP `_init_weights`:
 * attention inputs `D^-0.5·(2L)^-0.5`, outputs `D^-0.5`, fc1 `(2D)^-0.5`, the class embedding
 * `D^-0.5`, the patch and position embeddings 0.02, `class_pos_emb` `(head/2)^-0.5`; LayerNorm
 * 1 and 0, biases 0), drawn uniformly with that standard deviation (fast for 1.8B values) and
 * uploaded tensor by tensor.
 *
 * @param c The config.
 * @param options See {@linkcode InitHfWeightsOptions}.
 * @returns Variables by Hugging Face name.
 *
 * @example Usage
 * ```ts ignore
 * const weights = initHfWeights(config, { seed: 1 });
 * ```
 */
export function initHfWeights(
  c: HfVisionSpec,
  options: InitHfWeightsOptions = {},
): Map<string, tf.Variable> {
  const rand = mulberry32(options.seed ?? 1);
  const D = c.hiddenSize, L = c.numHiddenLayers, hd = D / c.numAttentionHeads;
  const std = (name: string): number => {
    if (/(norm\d?|layernorm|layrnorm)\.(weight|bias)$/.test(name) || name.endsWith(".bias")) {
      return 0;
    }
    if (/\.(q_proj|k_proj|v_proj)\.weight$/.test(name) || name.endsWith("fc2.weight")) {
      return D ** -0.5 * (2 * L) ** -0.5;
    }
    if (name.endsWith("out_proj.weight") || name.endsWith("class_embedding")) return D ** -0.5;
    if (name.endsWith("fc1.weight")) return (2 * D) ** -0.5;
    if (name.endsWith("class_pos_emb")) return (hd / 2) ** -0.5;
    if (name.startsWith("visual_projection")) return D ** -0.5;
    return 0.02;
  };
  const out = new Map<string, tf.Variable>();
  try {
    for (const [name, shape] of hfParamShapes(c, options.projection ?? false)) {
      const n = shape.reduce((a, b) => a * b, 1);
      const data = new Float32Array(n);
      const s = std(name);
      if (s === 0) {
        data.fill(/norm\d?\.weight$|layernorm\.weight$|layrnorm\.weight$/.test(name) ? 1 : 0);
      } else {
        const a = s * Math.sqrt(3);
        for (let i = 0; i < n; i++) data[i] = (rand() * 2 - 1) * a;
      }
      const t = tf.tensor(data, shape, "float32");
      const train = options.trainLayers !== undefined && hfTrains(c, name, options.trainLayers);
      out.set(name, tf.variable(t, train));
      uploadNow(t);
      t.dispose();
    }
  } catch (e) {
    for (const v of out.values()) v.dispose();
    throw e;
  }
  return out;
}
