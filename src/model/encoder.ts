// Encoders written with tfjs-core ops: parameters are plain named tf.Variables.
import { tf } from "./tf.ts";
import { type GpuMatrix, isGpuMatrix } from "../gpu/gpu_matrix.ts";
import type { Matrix } from "../matrix/matrix.ts";
import { residentRows } from "./_resident_rows.ts";
import { Rng } from "../random/rng.ts";
import { buildVit, VIT_PRESETS, vitParamShapes } from "./vit.ts";
import { checkOptionsObject } from "../_options.ts";

/**
 * Encoder architectures. `head`: an MLP on vectors; `cnn`: a small conv net on images;
 * `vit`: a Vision Transformer on images (see `vit.ts`).
 */
export type EncoderKind = "head" | "cnn" | "vit";

/** What defines an encoder's parameters (stored in checkpoints). */
export interface EncoderSpec {
  /** Architecture. */
  kind: EncoderKind;
  /**
   * Input shape of one sample: `[dim]` for `head`, `[height, width, channels]` for `cnn` and
   * `vit`.
   * Inputs are always passed as flattened rows.
   */
  inputShape: number[];
  /** Output embedding size. */
  embedDim: number;
  /** Hidden layer widths of `head` (ReLU between layers). @default {[512]} */
  hidden?: number[];
  /** Channels of the `cnn`'s stride-2 3×3 conv layers. @default {[32, 64]} */
  channels?: number[];
  /** `vit`: image side the position embeddings are learned at. @default {32} */
  imageSize?: number;
  /** `vit`: patch side in pixels. @default {4} */
  patch?: number;
  /** `vit`: token width. @default {64} */
  width?: number;
  /** `vit`: transformer blocks. @default {2} */
  depth?: number;
  /** `vit`: attention heads. @default {2} */
  heads?: number;
  /** `vit`: MLP hidden width over token width. @default {2} */
  mlpRatio?: number;
}

/** A model: named parameters and a forward function. */
export interface Encoder {
  /** The architecture this encoder was built from. */
  spec: Required<EncoderSpec>;
  /** Trainable parameters by checkpoint name (e.g. `fc0.weight`), in a fixed order. */
  params: Map<string, tf.Variable>;
  /** Number of input values per row. */
  inputDim: number;
  /**
   * Forward pass: `x` is `[batch, inputDim]` (flattened rows); returns `[batch, embedDim]`
   * raw (not normalised) embeddings.
   */
  apply(x: tf.Tensor2D): tf.Tensor2D;
  /** Releases the parameters. */
  dispose(): void;
}

/**
 * Fills in the defaults of an {@linkcode EncoderSpec} and validates it.
 *
 * @param spec A partial spec.
 * @returns The full spec.
 *
 * @example Usage
 * ```ts
 * import { resolveEncoderSpec } from "./encoder.ts";
 * const s = resolveEncoderSpec({ kind: "head", inputShape: [784], embedDim: 128 });
 * console.log(s.hidden); // [512]
 * ```
 */
export function resolveEncoderSpec(spec: EncoderSpec): Required<EncoderSpec> {
  if (spec.kind !== "head" && spec.kind !== "cnn" && spec.kind !== "vit") {
    throw new RangeError(
      `Expected encoder to be "head", "cnn" or "vit" but found "${spec.kind}"`,
    );
  }
  const posInts = (a: unknown, name: string) => {
    if (!Array.isArray(a) || a.some((v) => !Number.isInteger(v) || v < 1)) {
      const E = Array.isArray(a) ? RangeError : TypeError;
      throw new E(
        `Expected ${name} to be an array of positive integers but found ${JSON.stringify(a)}`,
      );
    }
  };
  posInts(spec.inputShape, "inputShape");
  if (spec.kind === "head" && spec.inputShape.length !== 1) {
    throw new TypeError(
      `Expected inputShape of a "head" encoder to be [dim] but found ${
        JSON.stringify(spec.inputShape)
      }`,
    );
  }
  if (spec.kind !== "head" && spec.inputShape.length !== 3) {
    throw new TypeError(
      `Expected inputShape of a "${spec.kind}" encoder to be [height, width, channels] but found ${
        JSON.stringify(spec.inputShape)
      }`,
    );
  }
  if (!Number.isInteger(spec.embedDim) || spec.embedDim < 1) {
    throw new RangeError(`Expected embedDim to be a positive integer but found ${spec.embedDim}`);
  }
  const hidden = spec.hidden ?? [512];
  const channels = spec.channels ?? [32, 64];
  if (hidden.length) posInts(hidden, "hidden");
  posInts(channels, "channels");
  const t = VIT_PRESETS["vit-tiny"];
  const vit = {
    imageSize: spec.imageSize ?? t.imageSize,
    patch: spec.patch ?? t.patch,
    width: spec.width ?? t.width,
    depth: spec.depth ?? t.depth,
    heads: spec.heads ?? t.heads,
    mlpRatio: spec.mlpRatio ?? t.mlpRatio,
  };
  return {
    kind: spec.kind,
    inputShape: [...spec.inputShape],
    embedDim: spec.embedDim,
    hidden,
    channels,
    ...vit,
  };
}

/**
 * The trainable parameters of an encoder, in the order {@linkcode createEncoder} makes them, with
 * their shapes, computed without allocating anything: what a checkpoint must hold for `spec`.
 *
 * @param spec Architecture; see {@linkcode EncoderSpec}.
 * @returns `[name, shape]` pairs (names without the checkpoint's `encoder.` prefix).
 *
 * @example Usage
 * ```ts
 * import { encoderParamShapes } from "./encoder.ts";
 * const shapes = encoderParamShapes({ kind: "head", inputShape: [6], embedDim: 4, hidden: [8] });
 * console.log(shapes[0]); // [ "fc0.weight", [ 6, 8 ] ]
 * ```
 */
export function encoderParamShapes(spec: EncoderSpec): [string, number[]][] {
  const s = resolveEncoderSpec(spec);
  if (s.kind === "vit") return vitParamShapes(s, s.inputShape[2]!, s.embedDim);
  const out: [string, number[]][] = [];
  if (s.kind === "head") {
    let fan = s.inputShape[0]!;
    s.hidden.concat(s.embedDim).forEach((w, i) => {
      out.push([`fc${i}.weight`, [fan, w]], [`fc${i}.bias`, [w]]);
      fan = w;
    });
  } else {
    let [h, w, c] = s.inputShape as [number, number, number];
    s.channels.forEach((co, i) => {
      out.push([`conv${i}.weight`, [3, 3, c, co]], [`conv${i}.bias`, [co]]);
      c = co;
      h = Math.ceil(h / 2);
      w = Math.ceil(w / 2);
    });
    out.push(["fc0.weight", [h * w * c, s.embedDim]], ["fc0.bias", [s.embedDim]]);
  }
  return out;
}

function heNormal(rng: Rng, shape: number[], fanIn: number): tf.Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  const std = Math.sqrt(2 / fanIn);
  for (let i = 0; i < n; i++) data[i] = rng.normal() * std;
  return tf.tensor(data, shape);
}

/** Options of {@linkcode createEncoder}. */
export interface CreateEncoderOptions {
  /** Seed of the initial weights. @default {1234} */
  seed?: number;
}

/**
 * Builds an encoder with seeded He-normal weights and zero biases (deterministic for a seed).
 * Call `useTfBackend(gpu)` first so the parameters live on the GPU.
 *
 * @param spec Architecture; see {@linkcode EncoderSpec}.
 * @param options The `seed` of the initial weights ({@linkcode CreateEncoderOptions}).
 * @returns The encoder.
 * @throws {TypeError} When `options` is not an object (e.g. a seed passed positionally).
 *
 * @example Usage
 * ```ts ignore
 * await useTfBackend(gpu);
 * const enc = createEncoder({ kind: "head", inputShape: [784], embedDim: 128 }, { seed: 1 });
 * const z = enc.apply(tf.zeros([4, 784]));
 * ```
 */
export function createEncoder(spec: EncoderSpec, options: CreateEncoderOptions = {}): Encoder {
  checkOptionsObject("createEncoder", options, "{ seed: 1 }");
  const s = resolveEncoderSpec(spec);
  const rng = new Rng(options.seed ?? 1234);
  const params = new Map<string, tf.Variable>();
  const add = (name: string, t: tf.Tensor) => {
    params.set(name, tf.variable(t, true));
    t.dispose();
  };
  const inputDim = s.inputShape.reduce((a, b) => a * b, 1);
  if (s.kind === "vit") {
    const vit = buildVit(s, s.inputShape, s.embedDim, rng);
    const apply = (x: tf.Tensor2D): tf.Tensor2D => {
      if (x.shape[1] !== inputDim) {
        throw new TypeError(
          `Expected encoder input rows of ${inputDim} values but found ${x.shape[1]}`,
        );
      }
      return vit.apply(x);
    };
    return {
      spec: s,
      params: vit.params,
      inputDim,
      apply,
      dispose() {
        for (const v of vit.params.values()) v.dispose();
      },
    };
  }
  // Weights He-normal over their fan-in (every dimension but the output's), biases zero.
  for (const [name, shape] of encoderParamShapes(s)) {
    const fanIn = shape.slice(0, -1).reduce((a, b) => a * b, 1);
    add(name, name.endsWith(".bias") ? tf.zeros(shape) : heNormal(rng, shape, fanIn));
  }
  const p = (name: string) => params.get(name)!;
  const apply = (x: tf.Tensor2D): tf.Tensor2D =>
    tf.tidy(() => {
      if (x.shape[1] !== inputDim) {
        throw new TypeError(
          `Expected encoder input rows of ${inputDim} values but found ${x.shape[1]}`,
        );
      }
      if (s.kind === "head") {
        let y: tf.Tensor2D = x;
        const layers = s.hidden.length + 1;
        for (let i = 0; i < layers; i++) {
          y = tf.add(tf.matMul(y, p(`fc${i}.weight`) as tf.Tensor2D), p(`fc${i}.bias`));
          if (i < layers - 1) y = tf.relu(y);
        }
        return y;
      }
      let y: tf.Tensor4D = tf.reshape(
        x,
        [x.shape[0], ...s.inputShape] as [number, number, number, number],
      ) as tf.Tensor4D;
      for (let i = 0; i < s.channels.length; i++) {
        y = tf.relu(
          tf.add(tf.conv2d(y, p(`conv${i}.weight`) as tf.Tensor4D, 2, "same"), p(`conv${i}.bias`)),
        );
      }
      const flat = tf.reshape(y, [x.shape[0], -1]) as tf.Tensor2D;
      return tf.add(tf.matMul(flat, p("fc0.weight") as tf.Tensor2D), p("fc0.bias"));
    });
  return {
    spec: s,
    params,
    inputDim,
    apply,
    dispose() {
      for (const v of params.values()) v.dispose();
    },
  };
}

/**
 * Runs the encoder over all rows of a flattened input in batches and returns the embeddings
 * on the host.
 *
 * @param encoder The encoder.
 * @param x Rows of `encoder.inputDim` values, on the host or GPU-resident (float32, on the
 * device tfjs runs on; then nothing is uploaded).
 * @param options `batchSize` (@default {1024}); `normalize` L2-normalises each embedding
 * (@default {false}).
 * @returns A `rows × embedDim` matrix.
 *
 * @example Usage
 * ```ts ignore
 * const emb = await embed(enc, mnist.test.x, { normalize: true });
 * ```
 */
export async function embed(
  encoder: Encoder,
  x: { data: Float32Array; rows: number; cols: number } | GpuMatrix,
  options: { batchSize?: number; normalize?: boolean } = {},
): Promise<{ data: Float32Array; rows: number; cols: number }> {
  if (x.cols !== encoder.inputDim) {
    throw new TypeError(
      `Expected input rows of ${encoder.inputDim} values (the encoder's input) but found ${x.cols}`,
    );
  }
  const bs = options.batchSize ?? 1024;
  const d = encoder.spec.embedDim;
  const out = new Float32Array(x.rows * d);
  // GPU-resident rows are sliced in place; host rows are uploaded batch by batch.
  const resident = isGpuMatrix(x) ? residentRows(x) : undefined;
  try {
    for (let s = 0; s < x.rows; s += bs) {
      const e = Math.min(x.rows, s + bs);
      const y = tf.tidy(() => {
        const xb = resident
          ? resident.slice(s, e)
          : tf.tensor2d((x as Matrix).data.subarray(s * x.cols, e * x.cols), [e - s, x.cols]);
        const z = encoder.apply(xb);
        return options.normalize ? tf.div(z, tf.add(tf.norm(z, 2, 1, true), 1e-12)) : z;
      });
      out.set(await y.data() as Float32Array, s * d);
      y.dispose();
    }
  } finally {
    resident?.dispose();
  }
  return { data: out, rows: x.rows, cols: d };
}
