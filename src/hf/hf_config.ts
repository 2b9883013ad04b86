// config.json of a Hugging Face vision tower: MLCDVisionModel (2D-RoPE ViT) or the CLIP vision
// model (learned absolute position embedding), and the parameter names and shapes it implies.

/** The two architectures: MLCD's RoPE ViT, or CLIP's ViT with a learned position embedding. */
export type HfVisionKind = "mlcd" | "clip";

/** MLP activations: `gelu` (exact, erf) and CLIP's `quick_gelu` (`x·σ(1.702x)`). */
export type HfActivation = "gelu" | "quick_gelu";

/** A vision tower's architecture, read from `config.json` (HF defaults for absent keys). */
export interface HfVisionSpec {
  /** Architecture. */
  kind: HfVisionKind;
  /** `model_type` as written (`mlcd_vision_model`, `mlcd`, `clip_vision_model`, `clip`). */
  modelType: string;
  /** Token width (`hidden_size`). */
  hiddenSize: number;
  /** MLP width (`intermediate_size`). */
  intermediateSize: number;
  /** Encoder layers (`num_hidden_layers`). */
  numHiddenLayers: number;
  /** Attention heads (`num_attention_heads`). */
  numAttentionHeads: number;
  /** Image channels (`num_channels`). */
  numChannels: number;
  /** Image side the model was trained at (`image_size`; CLIP's position grid). */
  imageSize: number;
  /** Patch side (`patch_size`). */
  patchSize: number;
  /** MLP activation (`hidden_act`). */
  hiddenAct: HfActivation;
  /** LayerNorm epsilon (`layer_norm_eps`). */
  layerNormEps: number;
  /** CLIP's `projection_dim` (the size of `visual_projection`, when the weights have one). */
  projectionDim: number;
  /** The vision part of config.json as read (kept for writing the model back). */
  raw: Record<string, unknown>;
}

const MLCD_TYPES = ["mlcd", "mlcd_vision_model"];
const CLIP_TYPES = ["clip_vision_model", "clip"];

const DEFAULTS: Record<HfVisionKind, Record<string, number | string>> = {
  // transformers' MLCDVisionConfig defaults (the bigG-336 shape).
  mlcd: {
    hidden_size: 1664,
    intermediate_size: 8192,
    num_hidden_layers: 48,
    num_attention_heads: 16,
    num_channels: 3,
    image_size: 336,
    patch_size: 14,
    hidden_act: "gelu",
    layer_norm_eps: 1e-5,
    projection_dim: 0,
  },
  // transformers' CLIPVisionConfig defaults (ViT-B/32).
  clip: {
    hidden_size: 768,
    intermediate_size: 3072,
    num_hidden_layers: 12,
    num_attention_heads: 12,
    num_channels: 3,
    image_size: 224,
    patch_size: 32,
    hidden_act: "quick_gelu",
    layer_norm_eps: 1e-5,
    projection_dim: 512,
  },
};

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

/**
 * Parses a vision tower's `config.json`: `model_type` `mlcd_vision_model` / `mlcd` (or
 * architectures `MLCDVisionModel`), `clip_vision_model`, or a `clip` config's `vision_config`.
 *
 * @param json The parsed file.
 * @param file The file's path, for messages.
 * @returns The config.
 * @throws {TypeError} For an unknown `model_type` or activation, or a key of the wrong type.
 * @throws {RangeError} For a value out of range (e.g. a width that the heads do not divide).
 *
 * @example Usage
 * ```ts
 * import { parseHfVisionSpec } from "./hf_config.ts";
 * const c = parseHfVisionSpec({ model_type: "clip_vision_model", hidden_size: 64, num_attention_heads: 4 }, "config.json");
 * console.log(c.kind, c.patchSize); // clip 32
 * ```
 */
export function parseHfVisionSpec(json: unknown, file: string): HfVisionSpec {
  if (!isObject(json)) throw new TypeError(`Cannot read ${file}: expected a JSON object`);
  const archs = Array.isArray(json.architectures) ? json.architectures.map(String) : [];
  let modelType = typeof json.model_type === "string" ? json.model_type : "";
  if (!modelType && archs.includes("MLCDVisionModel")) modelType = "mlcd_vision_model";
  let vision = json;
  let projectionDim: unknown = json.projection_dim;
  if (!MLCD_TYPES.includes(modelType) && !CLIP_TYPES.includes(modelType)) {
    throw new TypeError(
      `Cannot load ${file}: model_type ${
        JSON.stringify(json.model_type ?? null)
      } is not supported (expected ${[...MLCD_TYPES, ...CLIP_TYPES].join(", ")})`,
    );
  }
  if (modelType === "clip" || (modelType === "mlcd" && isObject(json.vision_config))) {
    if (!isObject(json.vision_config)) {
      throw new TypeError(`Cannot load ${file}: a "${modelType}" config needs a vision_config`);
    }
    vision = json.vision_config;
    projectionDim = json.projection_dim ?? vision.projection_dim;
  }
  const kind: HfVisionKind = MLCD_TYPES.includes(modelType) ? "mlcd" : "clip";
  const d = DEFAULTS[kind];
  const int = (key: string, min: number): number => {
    let v = vision[key] ?? d[key];
    if (Array.isArray(v) && v.length === 2 && v[0] === v[1]) v = v[0]; // [h, w] sizes
    if (typeof v !== "number" || !Number.isInteger(v) || v < min) {
      const E = typeof v === "number" ? RangeError : TypeError;
      throw new E(
        `Cannot load ${file}: expected ${key} to be an integer >= ${min} but found ${
          JSON.stringify(v)
        }`,
      );
    }
    return v;
  };
  const act = vision.hidden_act ?? d.hidden_act;
  if (act !== "gelu" && act !== "quick_gelu") {
    throw new TypeError(
      `Cannot load ${file}: hidden_act ${
        JSON.stringify(act)
      } is not supported (expected "gelu" or "quick_gelu")`,
    );
  }
  const eps = vision.layer_norm_eps ?? d.layer_norm_eps;
  if (typeof eps !== "number" || !(eps > 0 && eps < 1)) {
    throw new RangeError(
      `Cannot load ${file}: expected layer_norm_eps in (0, 1) but found ${JSON.stringify(eps)}`,
    );
  }
  const groups = vision.num_key_value_groups ?? 1;
  if (groups !== 1) {
    throw new RangeError(
      `Cannot load ${file}: num_key_value_groups ${JSON.stringify(groups)} is not supported (1)`,
    );
  }
  const c: HfVisionSpec = {
    kind,
    modelType,
    hiddenSize: int("hidden_size", 1),
    intermediateSize: int("intermediate_size", 1),
    numHiddenLayers: int("num_hidden_layers", 1),
    numAttentionHeads: int("num_attention_heads", 1),
    numChannels: int("num_channels", 1),
    imageSize: int("image_size", 1),
    patchSize: int("patch_size", 1),
    hiddenAct: act,
    layerNormEps: eps,
    projectionDim: 0,
    raw: structuredClone(vision),
  };
  const pd = projectionDim ?? d.projection_dim;
  c.projectionDim = typeof pd === "number" && Number.isInteger(pd) && pd >= 0 ? pd : 0;
  const hd = c.hiddenSize / c.numAttentionHeads;
  if (!Number.isInteger(hd)) {
    throw new RangeError(
      `Cannot load ${file}: hidden_size ${c.hiddenSize} is not a multiple of num_attention_heads ${c.numAttentionHeads}`,
    );
  }
  if (kind === "mlcd" && hd % 4 !== 0) {
    throw new RangeError(
      `Cannot load ${file}: the 2D RoPE needs a head size (hidden_size / num_attention_heads) divisible by 4 but found ${hd}`,
    );
  }
  if (c.patchSize > c.imageSize) {
    throw new RangeError(
      `Cannot load ${file}: patch_size ${c.patchSize} exceeds image_size ${c.imageSize}`,
    );
  }
  return c;
}

/**
 * Reads and parses `<dir>/config.json`.
 *
 * @param dir A Hugging Face model directory.
 * @returns The vision config.
 * @throws {Deno.errors.NotFound} Naming the missing file.
 * @throws {TypeError} For malformed JSON or an unsupported model (see {@linkcode parseHfVisionSpec}).
 *
 * @example Usage
 * ```ts ignore
 * const config = await readHfVisionSpec("models/mlcd-vit-bigG-patch14-448");
 * ```
 */
export async function readHfVisionSpec(dir: string): Promise<HfVisionSpec> {
  const file = `${dir.replace(/\/+$/, "")}/config.json`;
  return parseHfVisionSpec(await readJson(file), file);
}

/**
 * Reads a JSON file; a missing file is `Deno.errors.NotFound` and bad JSON a `TypeError`, both
 * naming the file.
 *
 * @param file The path.
 * @returns The parsed value.
 *
 * @example Usage
 * ```ts ignore
 * const index = await readJson("models/x/model.safetensors.index.json");
 * ```
 */
export async function readJson(file: string): Promise<unknown> {
  let text: string;
  try {
    text = await Deno.readTextFile(file);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new Deno.errors.NotFound(`Cannot load ${file}: the file does not exist`);
    }
    throw e;
  }
  try {
    return JSON.parse(text);
  } catch {
    throw new TypeError(`Cannot read ${file}: not valid JSON`);
  }
}

/** The key prefix of the vision tower's weights in every supported layout. */
export const HF_VISION_PREFIX = "vision_model.";

/** The name of CLIP's optional projection weight. */
export const HF_PROJECTION = "visual_projection.weight";

/**
 * The parameters of a vision tower as Hugging Face names them, with their PyTorch shapes
 * (linear weights `[out, in]`, the patch embedding `[hidden, channels, patch, patch]`).
 *
 * @param c The config.
 * @param projection Whether the model has CLIP's `visual_projection`.
 * @returns `[name, shape]` pairs in the model's state-dict order.
 *
 * @example Usage
 * ```ts
 * import { hfParamShapes, parseHfVisionSpec } from "./hf_config.ts";
 * const c = parseHfVisionSpec({ model_type: "mlcd_vision_model", hidden_size: 64, intermediate_size: 128, num_hidden_layers: 1, num_attention_heads: 4 }, "config.json");
 * console.log(hfParamShapes(c, false).find(([n]) => n.endsWith("class_pos_emb"))); // [ "vision_model.class_pos_emb", [ 1, 8 ] ]
 * ```
 */
export function hfParamShapes(c: HfVisionSpec, projection: boolean): [string, number[]][] {
  const D = c.hiddenSize, I = c.intermediateSize, P = c.patchSize;
  const v = HF_VISION_PREFIX;
  const g = Math.floor(c.imageSize / P);
  const out: [string, number[]][] = [
    [`${v}embeddings.class_embedding`, [D]],
    [`${v}embeddings.patch_embedding.weight`, [D, c.numChannels, P, P]],
  ];
  if (c.kind === "clip") out.push([`${v}embeddings.position_embedding.weight`, [g * g + 1, D]]);
  out.push([`${v}pre_layrnorm.weight`, [D]], [`${v}pre_layrnorm.bias`, [D]]);
  for (let i = 0; i < c.numHiddenLayers; i++) {
    const l = `${v}encoder.layers.${i}.`;
    for (const p of ["k_proj", "v_proj", "q_proj", "out_proj"]) {
      out.push([`${l}self_attn.${p}.weight`, [D, D]], [`${l}self_attn.${p}.bias`, [D]]);
    }
    out.push(
      [`${l}layer_norm1.weight`, [D]],
      [`${l}layer_norm1.bias`, [D]],
      [`${l}mlp.fc1.weight`, [I, D]],
      [`${l}mlp.fc1.bias`, [I]],
      [`${l}mlp.fc2.weight`, [D, I]],
      [`${l}mlp.fc2.bias`, [D]],
      [`${l}layer_norm2.weight`, [D]],
      [`${l}layer_norm2.bias`, [D]],
    );
  }
  out.push([`${v}post_layernorm.weight`, [D]], [`${v}post_layernorm.bias`, [D]]);
  if (c.kind === "mlcd") out.push([`${v}class_pos_emb`, [1, D / c.numAttentionHeads / 2]]);
  if (projection) out.push([HF_PROJECTION, [c.projectionDim, D]]);
  return out;
}

/**
 * Which parameters `trainLayers` trains: `0` all of them; `N` the last N encoder layers, the
 * post-LayerNorm and the projection (embeddings, pre-LayerNorm and earlier layers frozen).
 *
 * @param c The config.
 * @param name A parameter name from {@linkcode hfParamShapes}.
 * @param trainLayers `0` or a layer count in `[1, numHiddenLayers]`.
 * @returns Whether the parameter is trained.
 *
 * @example Usage
 * ```ts
 * import { hfTrains, parseHfVisionSpec } from "./hf_config.ts";
 * const c = parseHfVisionSpec({ model_type: "clip_vision_model", num_hidden_layers: 4 }, "config.json");
 * console.log(hfTrains(c, "vision_model.encoder.layers.3.mlp.fc1.weight", 1)); // true
 * ```
 */
export function hfTrains(c: HfVisionSpec, name: string, trainLayers: number): boolean {
  if (trainLayers === 0) return true;
  const m = /\.encoder\.layers\.(\d+)\./.exec(name);
  if (m) return Number(m[1]) >= c.numHiddenLayers - trainLayers;
  return name.includes("post_layernorm") || name === HF_PROJECTION;
}
