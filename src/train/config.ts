// The one training config object: defaults, validation, JSON files and command-line flags.
import type { EncoderKind } from "../model/encoder.ts";
import { validateVitShape, VIT_PRESETS, type VitPresetName } from "../model/vit.ts";

/** Every training option. Settable from a JSON file and from flags of `deno task train`. */
export interface TrainConfig {
  /**
   * Encoder architecture: `head` (MLP on vectors), `cnn` or `vit` (images).
   * @default {"head"}
   */
  encoder: EncoderKind;
  /** `head` hidden layer widths. @default {[512]} */
  hidden: number[];
  /** `cnn` conv channels (stride-2 3×3 layers). @default {[32, 64]} */
  channels: number[];
  /**
   * A ViT preset (`vit-tiny`, `vit-s/16`, `vit-b/32`, `vit-b/16`, `vit-l/14`): sets
   * `encoder: "vit"` and the six ViT keys below, which explicit keys then override;
   * `"none"`: no preset. @default {"none"}
   */
  preset: VitPresetName | "none";
  /** Image side: `cnn`/`vit` images are decoded at it, `vit` learns its position grid at it. @default {32} */
  imageSize: number;
  /** `vit` patch side in pixels. @default {4} */
  patch: number;
  /** `vit` token width. @default {64} */
  width: number;
  /** `vit` transformer blocks. @default {2} */
  depth: number;
  /** `vit` attention heads (a divisor of width). @default {2} */
  heads: number;
  /** `vit` MLP hidden width over token width. @default {2} */
  mlpRatio: number;
  /** Embedding size d. @default {128} */
  embedDim: number;
  /** Number of class centers C (k-means clusters). @default {1000} */
  classes: number;
  /** Positive labels per sample (top-l nearest centers). @default {8} */
  l: number;
  /** Negative-class sampling ratio r (Partial FC). @default {0.1} */
  ratio: number;
  /** Logit scale s. @default {32} */
  scale: number;
  /** Margin m on the positives. @default {0.3} */
  margin: number;
  /** Margin type: ArcFace `"arc"` or additive `"cosine"`. @default {"arc"} */
  marginType: "arc" | "cosine";
  /** Loss: `mlcd` (decoupled, the paper's Eq. 5) or `mlc` (multi-label softmax). @default {"mlcd"} */
  loss: "mlcd" | "mlc";
  /** Class-center init: normal(0, 0.01) or the k-means centroids. @default {"normal"} */
  centersInit: "normal" | "kmeans";
  /** k-means iterations for the pseudo-labels. @default {20} */
  kmeansIters: number;
  /** k-means initialisation for the pseudo-labels (`KMeansOptions.init`). @default {"auto"} */
  kmeansInit: "auto" | "kmeans||" | "kmeans++" | "random";
  /** Peak learning rate of AdamW. @default {0.001} */
  lr: number;
  /** Decoupled weight decay on weight matrices and centers (not biases). @default {0.2} */
  weightDecay: number;
  /** AdamW beta1. @default {0.9} */
  beta1: number;
  /** AdamW beta2. @default {0.999} */
  beta2: number;
  /** AdamW epsilon. @default {1e-8} */
  eps: number;
  /**
   * Linear warmup steps, then cosine decay to 0: a number, or `"auto"` for a tenth of the
   * run's steps (rounded up), at most 2000 (the paper's warm-up); see
   * {@linkcode resolveWarmup}. @default {"auto"}
   */
  warmupSteps: number | "auto";
  /** Samples per step. @default {256} */
  batchSize: number;
  /** Passes over the data. @default {5} */
  epochs: number;
  /** Seed of the init, shuffling and negative sampling. @default {1} */
  seed: number;
  /** Write a checkpoint every this many steps (and at the end). @default {100} */
  checkpointEvery: number;
  /**
   * Image augmentation while training: random-resized crop and horizontal flip
   * (`"crop-flip"`), the crop alone (`"crop"`, e.g. for digits and text), or none (resize and
   * centre crop, as for evaluation). @default {"crop-flip"}
   */
  augment: "crop-flip" | "crop" | "none";
  /** Smallest random-resized crop, as a fraction of the image area. @default {0.35} */
  minCropScale: number;
  /**
   * With a Hugging Face model (`train --model`): fine-tune only the last N encoder layers
   * (with the post-LayerNorm and projection); `0` fine-tunes every parameter. @default {0}
   */
  trainLayers: number;
}

/** The default {@linkcode TrainConfig}. */
export const DEFAULT_TRAIN_CONFIG: Readonly<TrainConfig> = Object.freeze({
  encoder: "head",
  hidden: [512],
  channels: [32, 64],
  preset: "none",
  ...VIT_PRESETS["vit-tiny"],
  embedDim: 128,
  classes: 1000,
  l: 8,
  ratio: 0.1,
  scale: 32,
  margin: 0.3,
  marginType: "arc",
  loss: "mlcd",
  centersInit: "normal",
  kmeansIters: 20,
  kmeansInit: "auto",
  lr: 1e-3,
  weightDecay: 0.2,
  beta1: 0.9,
  beta2: 0.999,
  eps: 1e-8,
  warmupSteps: "auto",
  batchSize: 256,
  epochs: 5,
  seed: 1,
  checkpointEvery: 100,
  augment: "crop-flip",
  minCropScale: 0.35,
  trainLayers: 0,
}) as TrainConfig;

/** One-line help per option, used by `deno task train --help`. */
export const TRAIN_CONFIG_HELP: Readonly<Record<keyof TrainConfig, string>> = {
  encoder: 'encoder architecture: "head" (MLP on vectors), "cnn" or "vit" (images)',
  preset: `ViT preset (${
    Object.keys(VIT_PRESETS).join(", ")
  }): sets encoder "vit" and the ViT keys; flags override`,
  imageSize: "image side (cnn/vit decode size; vit position grid)",
  patch: "vit patch side in pixels",
  width: "vit token width",
  depth: "vit transformer blocks",
  heads: "vit attention heads (divides width)",
  mlpRatio: "vit MLP hidden width / token width",
  hidden: "head hidden layer widths, comma-separated",
  channels: "cnn channels of the stride-2 3x3 conv layers, comma-separated",
  embedDim: "embedding size d",
  classes: "number of class centers C (k-means clusters)",
  l: "positive labels per sample (top-l nearest centers); 1 = single-label",
  ratio: "negative class sampling ratio r (Partial FC), in (0, 1]",
  scale: "logit scale s",
  margin: "margin m on the positives",
  marginType: '"arc" (ArcFace cos(theta+m)) or "cosine" (cos - m)',
  loss: '"mlcd" (decoupled positives/negatives) or "mlc" (multi-label softmax)',
  centersInit: '"normal" (N(0, 0.01)) or "kmeans" (the k-means centroids)',
  kmeansIters: "k-means iterations for the pseudo-labels",
  kmeansInit: 'k-means init for the pseudo-labels: "auto", "kmeans||", "kmeans++" or "random"',
  lr: "peak learning rate (AdamW)",
  weightDecay: "decoupled weight decay on weights and centers",
  beta1: "AdamW beta1",
  beta2: "AdamW beta2",
  eps: "AdamW epsilon",
  warmupSteps: 'linear warmup steps, then cosine decay; "auto": 10% of the steps, at most 2000',
  batchSize: "samples per step",
  epochs: "passes over the data",
  seed: "seed of init, shuffling and negative sampling",
  checkpointEvery: "checkpoint every N steps (and at the end)",
  augment: '"crop-flip", "crop" or "none": image augmentation while training',
  minCropScale: "smallest random-resized crop, fraction of the image area, in (0, 1]",
  trainLayers: "with --model: fine-tune only the last N encoder layers (0: all)",
};

const ENUMS: Partial<Record<keyof TrainConfig, readonly string[]>> = {
  encoder: ["head", "cnn", "vit"],
  preset: ["none", ...Object.keys(VIT_PRESETS)],
  marginType: ["arc", "cosine"],
  loss: ["mlcd", "mlc"],
  centersInit: ["normal", "kmeans"],
  kmeansInit: ["auto", "kmeans||", "kmeans++", "random"],
  augment: ["crop-flip", "crop", "none"],
};
const INTS: (keyof TrainConfig)[] = [
  "imageSize",
  "patch",
  "width",
  "depth",
  "heads",
  "embedDim",
  "classes",
  "l",
  "kmeansIters",
  "batchSize",
  "epochs",
  "seed",
  "checkpointEvery",
  "trainLayers",
];

/** A value for a message: as JSON, except numbers as written (`Infinity`, not `null`). */
function show(v: unknown): string {
  if (typeof v === "number") return String(v);
  return JSON.stringify(v, (_k, x) => typeof x === "number" && !Number.isFinite(x) ? String(x) : x);
}

/** A decimal number as written on a command line: `12`, `-3`, `0.5`, `1e-3` (no hex). */
const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;

/**
 * Merges partial settings over the defaults and validates every field: an unknown key is a
 * `TypeError`, an out-of-range value a `RangeError`, each naming the key and the value.
 *
 * @param partial Settings to apply (e.g. parsed from a JSON file and flags).
 * @param base Values to start from. @default {DEFAULT_TRAIN_CONFIG}
 * @returns A complete, valid config.
 *
 * @example Usage
 * ```ts
 * import { resolveTrainConfig } from "./config.ts";
 * console.log(resolveTrainConfig({ l: 1 }).l); // 1
 * ```
 */
export function resolveTrainConfig(
  partial: Record<string, unknown>,
  base: TrainConfig = DEFAULT_TRAIN_CONFIG,
): TrainConfig {
  if (typeof partial !== "object" || partial === null || Array.isArray(partial)) {
    throw new TypeError(
      `Expected the config to be a JSON object but found ${JSON.stringify(partial)}`,
    );
  }
  const out: Record<string, unknown> = structuredClone({ ...base });
  const preset = partial.preset;
  if (typeof preset === "string" && preset in VIT_PRESETS) {
    Object.assign(out, VIT_PRESETS[preset as VitPresetName], { encoder: "vit" });
  }
  for (const [k, v] of Object.entries(partial)) {
    if (!(k in DEFAULT_TRAIN_CONFIG)) {
      throw new TypeError(
        `Unknown config key "${k}"; expected one of ${
          Object.keys(DEFAULT_TRAIN_CONFIG).join(", ")
        }`,
      );
    }
    out[k] = v;
  }
  const c = out as unknown as TrainConfig;
  for (const [k, allowed] of Object.entries(ENUMS)) {
    const v = out[k];
    if (!allowed!.includes(v as string)) {
      throw new RangeError(
        `Expected ${k} to be one of ${allowed!.map((a) => `"${a}"`).join(", ")} but found ${
          show(v)
        }`,
      );
    }
  }
  if (out.warmupSteps !== "auto") {
    const v = out.warmupSteps;
    if (typeof v !== "number" || !Number.isInteger(v) || v < 0) {
      throw new RangeError(
        `Expected warmupSteps to be an integer >= 0 or "auto" but found ${show(v)}`,
      );
    }
  }
  for (const k of INTS) {
    const v = out[k];
    const min = k === "seed" || k === "trainLayers" ? 0 : 1;
    if (typeof v !== "number" || !Number.isInteger(v) || v < min) {
      throw new RangeError(
        `Expected ${k} to be an integer >= ${min} but found ${show(v)}`,
      );
    }
  }
  const pos = (k: keyof TrainConfig, lo: number, hi: number, openLo = true) => {
    const v = out[k];
    if (typeof v !== "number" || !Number.isFinite(v) || (openLo ? v <= lo : v < lo) || v > hi) {
      throw new RangeError(
        `Expected ${k} to be a number in ${openLo ? "(" : "["}${lo}, ${hi}] but found ${show(v)}`,
      );
    }
  };
  pos("ratio", 0, 1);
  pos("scale", 0, 1e4);
  pos("margin", 0, 1.5, false);
  pos("lr", 0, 10);
  pos("weightDecay", 0, 10, false);
  pos("beta1", 0, 0.999999, false);
  pos("beta2", 0, 0.999999, false);
  pos("eps", 0, 1);
  pos("minCropScale", 0, 1);
  pos("mlpRatio", 0, 1e3);
  if (c.encoder === "vit") {
    validateVitShape(c, [c.imageSize, c.imageSize, 3]);
  }
  for (const k of ["hidden", "channels"] as const) {
    const v = out[k];
    if (!Array.isArray(v) || v.some((x) => !Number.isInteger(x) || x < 1)) {
      const E = Array.isArray(v) ? RangeError : TypeError;
      throw new E(
        `Expected ${k} to be an array of positive integers but found ${show(v)}`,
      );
    }
  }
  if (c.l > c.classes) {
    throw new RangeError(`Expected l to be in [1, classes=${c.classes}] but found ${c.l}`);
  }
  return c;
}

/**
 * Parses one flag value for a config key (numbers, comma-separated integer lists, strings).
 *
 * @param key A {@linkcode TrainConfig} key.
 * @param raw The flag's text.
 * @returns The typed value (validated later by {@linkcode resolveTrainConfig}).
 *
 * @example Usage
 * ```ts
 * import { parseConfigValue } from "./config.ts";
 * console.log(parseConfigValue("hidden", "256,128")); // [256, 128]
 * ```
 */
export function parseConfigValue(key: keyof TrainConfig, raw: string): unknown {
  if (key === "warmupSteps" && raw.trim() === "auto") return "auto";
  const d = key === "warmupSteps" ? 0 : DEFAULT_TRAIN_CONFIG[key]; // else a number of steps
  if (Array.isArray(d)) {
    if (raw === "") return [];
    return raw.split(",").map((s) => {
      if (!/^\s*\d+\s*$/.test(s)) {
        throw new RangeError(
          `Expected ${key} to be comma-separated positive integers but found "${raw}"`,
        );
      }
      return Number(s.trim());
    });
  }
  if (typeof d === "number") {
    const n = Number(raw);
    if (!DECIMAL.test(raw.trim())) {
      throw new RangeError(`Expected ${key} to be a decimal number but found ${raw}`);
    }
    if (!Number.isFinite(n)) {
      throw new RangeError(`Expected ${key} to be a finite number but found ${raw}`);
    }
    return n;
  }
  return raw;
}
