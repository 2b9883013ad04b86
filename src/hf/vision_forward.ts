// The forward pass of a Hugging Face vision tower in tfjs ops, on weights kept in PyTorch's
// layout (linear weights [out, in], multiplied transposed): MLCD's pre-norm ViT with 2D RoPE
// on q and k, or CLIP's with a learned position embedding; the pooled output is the
// post-LayerNorm class token (then CLIP's visual_projection when present).
import { tf, tfOnCpuAdapter } from "../model/tf.ts";
import { attentionMatMul } from "../model/attention_matmul.ts";
import { HF_PROJECTION, HF_VISION_PREFIX, type HfVisionSpec } from "./hf_config.ts";

/** Options of {@linkcode hfVisionForward}. */
export interface HfVisionForwardOptions {
  /** Side of the square input images in pixels (the processor's output). */
  inputSize: number;
  /** Whether `visual_projection.weight` is applied to the pooled output. */
  projection: boolean;
  /**
   * Layers trained (`0`: all): with `N > 0` the embeddings and the first layers run outside
   * the gradient tape, so their activations are freed at once. @default {0}
   */
  trainLayers?: number;
  /** Images per forward chunk (bounds every activation buffer). @default {Infinity} */
  maxRows?: number;
  /**
   * Multiply by a materialised `Wᵀ` instead of tfjs's transposed-B matMul (~3× slower on CPU
   * adapters); a training step then also holds a transposed copy of the trained weights.
   * @default {true on a CPU adapter, else false}
   */
  transposeWeights?: boolean;
}

/**
 * The 2D rotary angles of the patch tokens (transformers' `MLCDRotaryEmbedding`): for a patch
 * at row `h`, column `w`, `[h·f, w·f]` with `f_i = 10000^(-2i / (head/2))`, repeated twice.
 *
 * @param gh Patch rows.
 * @param gw Patch columns.
 * @param headDim Head size (divisible by 4).
 * @returns `gh·gw × headDim` angles, row-major patches.
 *
 * @example Usage
 * ```ts
 * import { ropeAngles } from "./vision_forward.ts";
 * console.log(ropeAngles(1, 2, 4)); // Float64Array(8) [ 0, 0, 0, 0, 0, 1, 0, 1 ]
 * ```
 */
export function ropeAngles(gh: number, gw: number, headDim: number): Float64Array {
  const dim = headDim / 2, q = dim / 2;
  const inv = Array.from({ length: q }, (_, i) => 1 / Math.pow(10000, (2 * i) / dim));
  const out = new Float64Array(gh * gw * headDim);
  for (let h = 0; h < gh; h++) {
    for (let w = 0; w < gw; w++) {
      const r = (h * gw + w) * headDim;
      for (let i = 0; i < q; i++) {
        out[r + i] = out[r + dim + i] = h * inv[i]!;
        out[r + q + i] = out[r + dim + q + i] = w * inv[i]!;
      }
    }
  }
  return out;
}

/**
 * Builds the forward pass of a vision tower over named weights.
 *
 * @param c The config.
 * @param weights Every parameter by Hugging Face name (PyTorch shapes).
 * @param options See {@linkcode HfVisionForwardOptions}.
 * @returns `apply(x)` from `[batch, inputSize²·3]` HWC rows to `[batch, dim]` pooled outputs
 * (not normalised), and `dispose()` for its constant tables.
 * @throws {RangeError} When a CLIP model's position grid does not match the input size.
 *
 * @example Usage
 * ```ts ignore
 * const f = hfVisionForward(config, weights, { inputSize: 336, projection: false });
 * const pooled = f.apply(x);
 * ```
 */
export function hfVisionForward(
  c: HfVisionSpec,
  weights: Map<string, tf.Tensor>,
  options: HfVisionForwardOptions,
): { apply: (x: tf.Tensor2D) => tf.Tensor2D; dispose: () => void } {
  const w = (name: string): tf.Tensor => {
    const t = weights.get(HF_VISION_PREFIX + name) ?? weights.get(name);
    if (!t) throw new TypeError(`Expected weight "${name}" but found none`);
    return t;
  };
  const D = c.hiddenSize, nh = c.numAttentionHeads, hd = D / nh, P = c.patchSize;
  const C = c.numChannels, S = options.inputSize, L = c.numHiddenLayers;
  const g = Math.floor(S / P), N = g * g, T = N + 1;
  const trainLayers = options.trainLayers ?? 0;
  if (!Number.isInteger(trainLayers) || trainLayers < 0 || trainLayers > L) {
    throw new RangeError(`Expected trainLayers in [0, ${L}] but found ${trainLayers}`);
  }
  if (g < 1) throw new RangeError(`Expected images of at least ${P} px but found ${S}`);
  if (c.kind === "clip" && g !== Math.floor(c.imageSize / P)) {
    throw new RangeError(
      `Expected ${c.imageSize} px images for this CLIP model (its position embedding has a ${
        Math.floor(c.imageSize / P)
      }×${Math.floor(c.imageSize / P)} grid) but found ${S} px`,
    );
  }
  const eps = c.layerNormEps, maxRows = Math.max(1, options.maxRows ?? Infinity);
  const angles = c.kind === "mlcd" ? ropeAngles(g, g, hd) : null;
  const cosP = angles ? tf.tensor2d(Float32Array.from(angles, Math.cos), [N, hd]) : null;
  const sinP = angles ? tf.tensor2d(Float32Array.from(angles, Math.sin), [N, hd]) : null;

  const layerNorm = (x: tf.Tensor2D, prefix: string): tf.Tensor2D => {
    const mean = tf.mean(x, -1, true);
    const xc = tf.sub(x, mean);
    const variance = tf.mean(tf.square(xc), -1, true);
    const y = tf.mul(xc, tf.rsqrt(tf.add(variance, eps)));
    return tf.add(tf.mul(y, w(`${prefix}.weight`)), w(`${prefix}.bias`));
  };
  // x·Wᵀ for PyTorch's [out, in] weights.
  const materialise = options.transposeWeights ?? tfOnCpuAdapter();
  const mulT = (x: tf.Tensor2D, m: tf.Tensor): tf.Tensor2D =>
    materialise
      ? tf.matMul(x, tf.transpose(m as tf.Tensor2D))
      : tf.matMul(x, m as tf.Tensor2D, false, true);
  const linear = (x: tf.Tensor2D, prefix: string): tf.Tensor2D =>
    tf.add(mulT(x, w(`${prefix}.weight`)), w(`${prefix}.bias`));
  const act = c.hiddenAct === "quick_gelu"
    ? (x: tf.Tensor2D): tf.Tensor2D => tf.mul(x, tf.sigmoid(tf.mul(x, 1.702)))
    : (x: tf.Tensor2D): tf.Tensor2D =>
      tf.mul(tf.mul(x, 0.5), tf.add(tf.erf(tf.mul(x, Math.SQRT1_2)), 1));
  // [B, T, D] rows → [B·nh, T, hd].
  const heads = (x: tf.Tensor2D, B: number): tf.Tensor3D =>
    tf.reshape(tf.transpose(tf.reshape(x, [B, T, nh, hd]), [0, 2, 1, 3]), [B * nh, T, hd]);
  const half = hd / 2;
  const rotate = (x: tf.Tensor3D, cos: tf.Tensor2D, sin: tf.Tensor2D, B: number) => {
    const x1 = tf.slice(x, [0, 0, 0], [B * nh, T, half]);
    const x2 = tf.slice(x, [0, 0, half], [B * nh, T, half]);
    return tf.add(tf.mul(x, cos), tf.mul(tf.concat([tf.neg(x2), x1], 2), sin)) as tf.Tensor3D;
  };

  const embed = (x: tf.Tensor2D): tf.Tensor2D => {
    const B = x.shape[0];
    let img = tf.reshape(x, [B, S, S, C]) as tf.Tensor4D;
    if (g * P !== S) img = tf.slice(img, [0, 0, 0, 0], [B, g * P, g * P, C]);
    const patches = tf.reshape(
      tf.transpose(tf.reshape(img, [B * g, P, g, P * C]), [0, 2, 1, 3]),
      [B * N, P * P * C],
    ) as tf.Tensor2D;
    // [D, C, P, P] → [D, P·P·C]: the patches' (y, x, channel) order.
    const kernel = tf.reshape(
      tf.transpose(w("embeddings.patch_embedding.weight"), [0, 2, 3, 1]),
      [D, P * P * C],
    ) as tf.Tensor2D;
    const tokens = tf.reshape(mulT(patches, kernel), [B, N, D]);
    const cls = tf.tile(tf.reshape(w("embeddings.class_embedding"), [1, 1, D]), [B, 1, 1]);
    let h: tf.Tensor = tf.concat([cls, tokens], 1);
    if (c.kind === "clip") h = tf.add(h, w("embeddings.position_embedding.weight"));
    return layerNorm(tf.reshape(h, [B * T, D]) as tf.Tensor2D, "pre_layrnorm");
  };

  const layer = (
    h: tf.Tensor2D,
    i: number,
    B: number,
    rope: [tf.Tensor2D, tf.Tensor2D] | null,
  ): tf.Tensor2D => {
    const l = `encoder.layers.${i}`;
    const y = layerNorm(h, `${l}.layer_norm1`);
    let q = heads(linear(y, `${l}.self_attn.q_proj`), B);
    let k = heads(linear(y, `${l}.self_attn.k_proj`), B);
    const v = heads(linear(y, `${l}.self_attn.v_proj`), B);
    if (rope) {
      q = rotate(q, rope[0], rope[1], B);
      k = rotate(k, rope[0], rope[1], B);
    }
    const attn: tf.Tensor3D = tf.softmax(
      tf.mul(attentionMatMul(q, k, false, true), 1 / Math.sqrt(hd)),
    );
    const ctx = tf.reshape(
      tf.transpose(
        tf.reshape(attentionMatMul(attn, v), [B, nh, T, hd]),
        [0, 2, 1, 3],
      ),
      [B * T, D],
    ) as tf.Tensor2D;
    const h1 = tf.add(h, linear(ctx, `${l}.self_attn.out_proj`)) as tf.Tensor2D;
    const m = linear(
      act(linear(layerNorm(h1, `${l}.layer_norm2`), `${l}.mlp.fc1`)),
      `${l}.mlp.fc2`,
    );
    return tf.add(h1, m) as tf.Tensor2D;
  };

  // cos/sin of every token: the class token's from the learned class_pos_emb (with gradient).
  const ropeTables = (): [tf.Tensor2D, tf.Tensor2D] | null => {
    if (!cosP || !sinP) return null;
    const cpe = w("class_pos_emb");
    const a = tf.concat([cpe, cpe], 1);
    return [
      tf.concat([tf.cos(a), cosP], 0) as tf.Tensor2D,
      tf.concat([tf.sin(a), sinP], 0) as tf.Tensor2D,
    ];
  };

  const frozen = trainLayers === 0 ? 0 : L - trainLayers;
  // Embeddings and the frozen layers: no gradient flows into them.
  const prefix = (x: tf.Tensor2D, B: number): tf.Tensor2D => {
    const run = (xi: tf.Tensor2D) => {
      const rope = ropeTables();
      let h = tf.tidy(() => embed(xi));
      for (let i = 0; i < frozen; i++) {
        const hi = h;
        h = tf.tidy(() => layer(hi, i, B, rope));
        hi.dispose();
      }
      return h;
    };
    if (trainLayers === 0) return run(x);
    const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
      const xi = args[0] as tf.Tensor2D;
      return { value: run(xi), gradFunc: () => tf.zerosLike(xi) };
    });
    return op(x) as tf.Tensor2D;
  };

  const forwardChunk = (x: tf.Tensor2D): tf.Tensor2D => {
    const B = x.shape[0];
    let h = prefix(x, B);
    const rope = ropeTables();
    // Each layer's intermediates, and the residual stream it replaces, are freed as soon as
    // the layer is done (the gradient tape keeps its own references to what backward needs).
    for (let i = frozen; i < L; i++) {
      const hi = h;
      h = tf.tidy(() => layer(hi, i, B, rope));
      hi.dispose();
    }
    const first = tf.reshape(tf.slice(tf.reshape(h, [B, T, D]), [0, 0, 0], [B, 1, D]), [B, D]);
    const pooled = layerNorm(first as tf.Tensor2D, "post_layernorm");
    if (!options.projection) return pooled;
    return mulT(pooled, weights.get(HF_PROJECTION)!);
  };

  const apply = (x: tf.Tensor2D): tf.Tensor2D =>
    tf.tidy(() => {
      if (x.shape[1] !== S * S * C) {
        throw new TypeError(
          `Expected rows of ${S}×${S}×${C} = ${S * S * C} values but found ${x.shape[1]}`,
        );
      }
      const B = x.shape[0];
      if (B <= maxRows) return forwardChunk(x);
      const parts: tf.Tensor2D[] = [];
      for (let s = 0; s < B; s += maxRows) {
        const e = Math.min(B, s + maxRows);
        parts.push(tf.tidy(() => forwardChunk(tf.slice(x, [s, 0], [e - s, S * S * C]))));
      }
      return tf.concat(parts, 0);
    });
  return {
    apply,
    dispose() {
      cosP?.dispose();
      sinP?.dispose();
    },
  };
}
