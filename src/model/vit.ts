// The Vision Transformer encoder (timm / CLIP layout) in tfjs-core ops on the shared device.
import { tf, tfOnCpuAdapter } from "./tf.ts";
import { batchMatMulRegisters } from "./_batch_matmul.ts";
import type { Rng } from "../random/rng.ts";

/** The shape hyper-parameters of a ViT. */
export interface VitShape {
  /** Image side the position embeddings are learned at (`imageSize / patch` per side). */
  imageSize: number;
  /** Patch side in pixels (the patch embedding's kernel and stride). */
  patch: number;
  /** Token width (model dimension). */
  width: number;
  /** Number of transformer blocks. */
  depth: number;
  /** Attention heads per block (`width` must be a multiple). */
  heads: number;
  /** MLP hidden width as a multiple of `width` (rounded to an integer width). */
  mlpRatio: number;
}

/** Names of the {@linkcode VIT_PRESETS}. */
export type VitPresetName = "vit-tiny" | "vit-s/16" | "vit-b/32" | "vit-b/16" | "vit-l/14";

/**
 * ViT shapes by name. `vit-s/16`, `vit-b/32`, `vit-b/16` and `vit-l/14` are the standard
 * models (Dosovitskiy et al. 2021; timm's `vit_small_patch16_224`, `vit_base_patch32_224`,
 * `vit_base_patch16_224`, and CLIP's ViT-L/14 width at 224 px). `vit-tiny` is a toy model for
 * tests and CPU runs (not timm's ViT-Ti): 32 px, patch 4, width 64, 2 blocks, 2 heads.
 *
 * @example Usage
 * ```ts
 * import { VIT_PRESETS } from "./vit.ts";
 * console.log(VIT_PRESETS["vit-b/32"].patch); // 32
 * ```
 */
export const VIT_PRESETS: Readonly<Record<VitPresetName, Readonly<VitShape>>> = Object.freeze({
  "vit-tiny": Object.freeze({
    imageSize: 32,
    patch: 4,
    width: 64,
    depth: 2,
    heads: 2,
    mlpRatio: 2,
  }),
  "vit-s/16": Object.freeze({
    imageSize: 224,
    patch: 16,
    width: 384,
    depth: 12,
    heads: 6,
    mlpRatio: 4,
  }),
  "vit-b/32": Object.freeze({
    imageSize: 224,
    patch: 32,
    width: 768,
    depth: 12,
    heads: 12,
    mlpRatio: 4,
  }),
  "vit-b/16": Object.freeze({
    imageSize: 224,
    patch: 16,
    width: 768,
    depth: 12,
    heads: 12,
    mlpRatio: 4,
  }),
  "vit-l/14": Object.freeze({
    imageSize: 224,
    patch: 14,
    width: 1024,
    depth: 24,
    heads: 16,
    mlpRatio: 4,
  }),
});

/**
 * LayerNorm epsilon of the ViT (timm's value; the PyTorch reference test uses the same).
 *
 * @example Usage
 * ```ts
 * import { VIT_LAYER_NORM_EPS } from "./vit.ts";
 * console.log(VIT_LAYER_NORM_EPS); // 1e-6
 * ```
 */
export const VIT_LAYER_NORM_EPS = 1e-6;

/**
 * Checks a {@linkcode VitShape} against the input shape `[height, width, channels]`.
 *
 * @param v The ViT shape.
 * @param inputShape `[height, width, channels]` of one image.
 * @throws {RangeError} Naming the first bad value.
 *
 * @example Usage
 * ```ts
 * import { VIT_PRESETS, validateVitShape } from "./vit.ts";
 * validateVitShape(VIT_PRESETS["vit-tiny"], [32, 32, 3]);
 * ```
 */
export function validateVitShape(v: VitShape, inputShape: readonly number[]): void {
  for (const k of ["imageSize", "patch", "width", "depth", "heads"] as const) {
    if (!Number.isInteger(v[k]) || v[k] < 1) {
      throw new RangeError(`Expected ${k} to be a positive integer but found ${v[k]}`);
    }
  }
  if (!Number.isFinite(v.mlpRatio) || v.mlpRatio <= 0 || Math.round(v.width * v.mlpRatio) < 1) {
    throw new RangeError(`Expected mlpRatio to be a positive number but found ${v.mlpRatio}`);
  }
  if (v.width % v.heads !== 0) {
    throw new RangeError(
      `Expected width to be a multiple of heads=${v.heads} but found ${v.width}`,
    );
  }
  if (v.patch > v.imageSize) {
    throw new RangeError(
      `Expected patch to be at most imageSize=${v.imageSize} but found ${v.patch}`,
    );
  }
  const [h, w] = inputShape as [number, number, number];
  if (h < v.patch || w < v.patch) {
    throw new RangeError(
      `Expected images of at least patch=${v.patch} pixels per side but found ${h}×${w}`,
    );
  }
}

/**
 * Trainable parameters of a ViT with an output projection to `embedDim`, in the order the
 * encoder stores them, with their shapes. Names follow timm (`blocks.0.attn.qkv.weight`);
 * linear weights are `[in, out]`, the patch embedding `[patch, patch, channels, width]`.
 *
 * @param v The ViT shape.
 * @param channels Image channels.
 * @param embedDim Output size of the projection (`0`: no projection).
 * @returns `[name, shape]` pairs.
 *
 * @example Usage
 * ```ts
 * import { VIT_PRESETS, vitParamShapes } from "./vit.ts";
 * const n = vitParamShapes(VIT_PRESETS["vit-b/16"], 3, 0)
 *   .reduce((a, [, s]) => a + s.reduce((x, y) => x * y, 1), 0);
 * console.log(n); // 85798656
 * ```
 */
export function vitParamShapes(
  v: VitShape,
  channels: number,
  embedDim: number,
): [string, number[]][] {
  const g = Math.floor(v.imageSize / v.patch);
  const w = v.width, hidden = Math.round(v.width * v.mlpRatio);
  const out: [string, number[]][] = [
    ["patch_embed.weight", [v.patch, v.patch, channels, w]],
    ["patch_embed.bias", [w]],
    ["cls_token", [w]],
    ["pos_embed", [1 + g * g, w]],
  ];
  for (let i = 0; i < v.depth; i++) {
    const b = `blocks.${i}`;
    out.push(
      [`${b}.norm1.weight`, [w]],
      [`${b}.norm1.bias`, [w]],
      [`${b}.attn.qkv.weight`, [w, 3 * w]],
      [`${b}.attn.qkv.bias`, [3 * w]],
      [`${b}.attn.proj.weight`, [w, w]],
      [`${b}.attn.proj.bias`, [w]],
      [`${b}.norm2.weight`, [w]],
      [`${b}.norm2.bias`, [w]],
      [`${b}.mlp.fc1.weight`, [w, hidden]],
      [`${b}.mlp.fc1.bias`, [hidden]],
      [`${b}.mlp.fc2.weight`, [hidden, w]],
      [`${b}.mlp.fc2.bias`, [w]],
    );
  }
  out.push(["norm.weight", [w]], ["norm.bias", [w]]);
  if (embedDim > 0) out.push(["proj.weight", [w, embedDim]]);
  return out;
}

/**
 * Whether AdamW should decay a ViT parameter: weight matrices yes; biases, LayerNorm gains,
 * the class token and the position embeddings no (as timm and CLIP train). Hugging Face names
 * too (`class_embedding`, `position_embedding.weight`, MLCD's `class_pos_emb`, `*layer_norm*`).
 *
 * @param name A parameter name from {@linkcode vitParamShapes} (optionally prefixed).
 * @returns `true` for decayed parameters.
 *
 * @example Usage
 * ```ts
 * import { vitDecays } from "./vit.ts";
 * console.log(vitDecays("encoder.blocks.0.attn.qkv.weight"), vitDecays("encoder.pos_embed")); // true false
 * ```
 */
export function vitDecays(name: string): boolean {
  return !name.endsWith(".bias") &&
    !/(norm\d?\.weight|pos_embed|cls_token|class_embedding|position_embedding\.weight|class_pos_emb)$/
      .test(name);
}

/**
 * Builds the ViT's parameters with a seeded init (truncated-free normal: std 0.02 for the
 * patch embedding, linear layers, class token and position embeddings; `width^-0.5` for the
 * projection; LayerNorm 1/0; zero biases) and its forward function.
 *
 * @param v The ViT shape.
 * @param inputShape `[height, width, channels]` of the images the encoder is applied to; when
 * the patch grid differs from `imageSize / patch`, the position embeddings are resized
 * bilinearly (half-pixel centres, as `torch.nn.functional.interpolate(align_corners=False)`).
 * @param embedDim Output embedding size.
 * @param rng Random source of the init.
 * @returns Named parameters (variables) and `apply(x)` from `[batch, h·w·c]` rows to
 * `[batch, embedDim]`.
 *
 * @example Usage
 * ```ts ignore
 * const { params, apply } = buildVit(VIT_PRESETS["vit-tiny"], [32, 32, 3], 128, new Rng(1));
 * ```
 */
export function buildVit(
  v: VitShape,
  inputShape: readonly number[],
  embedDim: number,
  rng: Rng,
): { params: Map<string, tf.Variable>; apply: (x: tf.Tensor2D) => tf.Tensor2D } {
  validateVitShape(v, inputShape);
  const [H, W, C] = inputShape as [number, number, number];
  const params = new Map<string, tf.Variable>();
  for (const [name, shape] of vitParamShapes(v, C, embedDim)) {
    const n = shape.reduce((a, b) => a * b, 1);
    let t: tf.Tensor;
    if (/norm\d?\.weight$/.test(name)) t = tf.ones(shape);
    else if (name.endsWith(".bias")) t = tf.zeros(shape);
    else {
      const std = name === "proj.weight" ? 1 / Math.sqrt(v.width) : 0.02;
      const data = new Float32Array(n);
      for (let i = 0; i < n; i++) data[i] = rng.normal() * std;
      t = tf.tensor(data, shape);
    }
    params.set(name, tf.variable(t, true, undefined));
    t.dispose();
  }
  const p = (name: string) => params.get(name)!;
  const P = v.patch, Wd = v.width, nh = v.heads, hd = Wd / nh;
  const g0 = Math.floor(v.imageSize / P);
  const gh = Math.floor(H / P), gw = Math.floor(W / P), N = gh * gw;
  const layerNorm = (x: tf.Tensor, prefix: string) => {
    const mean = tf.mean(x, -1, true);
    const xc = tf.sub(x, mean);
    const variance = tf.mean(tf.square(xc), -1, true);
    const y = tf.mul(xc, tf.rsqrt(tf.add(variance, VIT_LAYER_NORM_EPS)));
    return tf.add(tf.mul(y, p(`${prefix}.weight`)), p(`${prefix}.bias`));
  };
  const linear = (x: tf.Tensor, prefix: string, rows: number) => {
    const shape = x.shape;
    const x2 = tf.reshape(x, [rows, shape[shape.length - 1]!]) as tf.Tensor2D;
    const y = tf.add(tf.matMul(x2, p(`${prefix}.weight`) as tf.Tensor2D), p(`${prefix}.bias`));
    return tf.reshape(y, [...shape.slice(0, -1), y.shape[1]!]);
  };
  const gelu = (x: tf.Tensor) => tf.mul(tf.mul(x, 0.5), tf.add(tf.erf(tf.mul(x, Math.SQRT1_2)), 1));
  // Resized position grid = kron(Ah, Aw) · grid: a matMul, so its gradient is exact (tfjs's
  // ResizeBilinearGrad ignores half-pixel centres).
  const resize = gh === g0 && gw === g0 ? null : (() => {
    const ah = bilinearWeights(gh, g0), aw = bilinearWeights(gw, g0);
    const m = new Float32Array(N * g0 * g0);
    for (let y = 0; y < gh; y++) {
      for (let x = 0; x < gw; x++) {
        for (let sy = 0; sy < g0; sy++) {
          const a = ah[y * g0 + sy]!;
          if (a === 0) continue;
          for (let sx = 0; sx < g0; sx++) {
            m[(y * gw + x) * g0 * g0 + sy * g0 + sx] = a * aw[x * g0 + sx]!;
          }
        }
      }
    }
    return m;
  })();
  const posEmbed = (): tf.Tensor2D => {
    const pos = p("pos_embed") as tf.Tensor2D;
    if (!resize) return pos;
    const cls = tf.slice(pos, [0, 0], [1, Wd]);
    const grid = tf.slice(pos, [1, 0], [g0 * g0, Wd]);
    return tf.concat([cls, tf.matMul(tf.tensor2d(resize, [N, g0 * g0]), grid)], 0) as tf.Tensor2D;
  };
  const apply = (x: tf.Tensor2D): tf.Tensor2D =>
    tf.tidy(() => {
      const B = x.shape[0];
      // Attention's small batched products: a registers-only kernel on CPU adapters.
      const bmm = tfOnCpuAdapter() ? batchMatMulRegisters : tf.matMul;
      let img = tf.reshape(x, [B, H, W, C]) as tf.Tensor4D;
      if (gh * P !== H || gw * P !== W) img = tf.slice(img, [0, 0, 0, 0], [B, gh * P, gw * P, C]);
      // [B·gh, P, gw, P·C] → [B·gh, gw, P, P·C]: one patch's pixels contiguous in (y, x, c) order,
      // the order of the [P, P, C, width] kernel flattened.
      const patches = tf.reshape(
        tf.transpose(tf.reshape(img, [B * gh, P, gw, P * C]), [0, 2, 1, 3]),
        [B * N, P * P * C],
      ) as tf.Tensor2D;
      const kernel = tf.reshape(p("patch_embed.weight"), [P * P * C, Wd]) as tf.Tensor2D;
      const tokens = tf.reshape(
        tf.add(tf.matMul(patches, kernel), p("patch_embed.bias")),
        [B, N, Wd],
      );
      const cls = tf.tile(tf.reshape(p("cls_token"), [1, 1, Wd]), [B, 1, 1]);
      let h: tf.Tensor = tf.add(tf.concat([cls, tokens], 1), posEmbed());
      const T = N + 1, rows = B * T;
      for (let i = 0; i < v.depth; i++) {
        const b = `blocks.${i}`;
        const qkv = linear(layerNorm(h, `${b}.norm1`), `${b}.attn.qkv`, rows);
        const [q, k, val] = tf.split(qkv, 3, -1).map((t) =>
          tf.reshape(tf.transpose(tf.reshape(t, [B, T, nh, hd]), [0, 2, 1, 3]), [B * nh, T, hd])
        ) as [tf.Tensor3D, tf.Tensor3D, tf.Tensor3D];
        const attn = tf.softmax(tf.mul(bmm(q, k, false, true), 1 / Math.sqrt(hd))) as tf.Tensor3D;
        const ctx = tf.reshape(
          tf.transpose(tf.reshape(bmm(attn, val, false, false), [B, nh, T, hd]), [0, 2, 1, 3]),
          [B, T, Wd],
        );
        h = tf.add(h, linear(ctx, `${b}.attn.proj`, rows));
        const m = linear(
          gelu(linear(layerNorm(h, `${b}.norm2`), `${b}.mlp.fc1`, rows)),
          `${b}.mlp.fc2`,
          rows,
        );
        h = tf.add(h, m);
      }
      const first = tf.reshape(tf.slice(h, [0, 0, 0], [B, 1, Wd]), [B, Wd]);
      return tf.matMul(layerNorm(first, "norm"), p("proj.weight") as tf.Tensor2D);
    });
  return { params, apply };
}

/**
 * Bilinear interpolation weights from `inSize` to `outSize` samples with half-pixel centres
 * (`torch.nn.functional.interpolate(mode="bilinear", align_corners=False)`).
 *
 * @param outSize Output length.
 * @param inSize Input length.
 * @returns `outSize × inSize` row-major weights; each row sums to 1.
 *
 * @example Usage
 * ```ts
 * import { bilinearWeights } from "./vit.ts";
 * console.log(bilinearWeights(1, 2)); // Float32Array [0.5, 0.5]
 * ```
 */
export function bilinearWeights(outSize: number, inSize: number): Float32Array {
  const w = new Float32Array(outSize * inSize);
  const scale = inSize / outSize;
  for (let o = 0; o < outSize; o++) {
    const src = Math.max((o + 0.5) * scale - 0.5, 0);
    const i0 = Math.min(Math.floor(src), inSize - 1);
    const i1 = Math.min(i0 + 1, inSize - 1);
    const t = src - i0;
    w[o * inSize + i0]! += 1 - t;
    w[o * inSize + i1]! += t;
  }
  return w;
}
