// A float64 reference of a vision tower's pooled output, in plain TypeScript loops: the
// check of the tfjs forward at GPU shapes (scripts/gpu_check_hf.ts), where PyTorch may be
// absent.
import { HF_PROJECTION, HF_VISION_PREFIX, type HfVisionSpec } from "./hf_config.ts";
import { ropeAngles } from "./vision_forward.ts";

/** Host weights by Hugging Face name (PyTorch layout), float32 or float64 values. */
export type HostWeights = Map<string, ArrayLike<number>>;

/**
 * The pooled output of one image in float64 (MLCD or CLIP; the projection when `weights`
 * has one).
 *
 * @param c The config.
 * @param weights Every parameter by Hugging Face name.
 * @param image One `side × side × channels` HWC image.
 * @param side Its side.
 * @returns The pooled output.
 *
 * @example Usage
 * ```ts ignore
 * const y = hfVisionReference(config, hostWeights, pixels, 224);
 * ```
 */
export function hfVisionReference(
  c: HfVisionSpec,
  weights: HostWeights,
  image: ArrayLike<number>,
  side: number,
): Float64Array {
  const w = (name: string) => {
    const t = weights.get(HF_VISION_PREFIX + name) ?? weights.get(name);
    if (!t) throw new TypeError(`Expected weight "${name}" but found none`);
    return t;
  };
  const D = c.hiddenSize, I = c.intermediateSize, P = c.patchSize, C = c.numChannels;
  const nh = c.numAttentionHeads, hd = D / nh, g = Math.floor(side / P), N = g * g, T = N + 1;
  const h = new Float64Array(T * D);
  const pw = w("embeddings.patch_embedding.weight"), cls = w("embeddings.class_embedding");
  for (let d = 0; d < D; d++) h[d] = cls[d]!;
  for (let gy = 0; gy < g; gy++) {
    for (let gx = 0; gx < g; gx++) {
      const row = (1 + gy * g + gx) * D;
      for (let d = 0; d < D; d++) {
        let s = 0;
        for (let ch = 0; ch < C; ch++) {
          for (let ky = 0; ky < P; ky++) {
            for (let kx = 0; kx < P; kx++) {
              s += pw[((d * C + ch) * P + ky) * P + kx]! *
                image[((gy * P + ky) * side + gx * P + kx) * C + ch]!;
            }
          }
        }
        h[row + d] = s;
      }
    }
  }
  if (c.kind === "clip") {
    const pos = w("embeddings.position_embedding.weight");
    for (let i = 0; i < T * D; i++) h[i]! += pos[i]!;
  }
  const eps = c.layerNormEps;
  const ln = (x: Float64Array, rows: number, prefix: string): Float64Array => {
    const gw = w(`${prefix}.weight`), gb = w(`${prefix}.bias`);
    const out = new Float64Array(rows * D);
    for (let r = 0; r < rows; r++) {
      let m = 0, v = 0;
      for (let d = 0; d < D; d++) m += x[r * D + d]!;
      m /= D;
      for (let d = 0; d < D; d++) v += (x[r * D + d]! - m) ** 2;
      const inv = 1 / Math.sqrt(v / D + eps);
      for (let d = 0; d < D; d++) out[r * D + d] = (x[r * D + d]! - m) * inv * gw[d]! + gb[d]!;
    }
    return out;
  };
  // y = x·Wᵀ + b, W [out, in].
  const linear = (x: Float64Array, rows: number, nin: number, prefix: string, nout: number) => {
    const W = w(`${prefix}.weight`), b = w(`${prefix}.bias`);
    const out = new Float64Array(rows * nout);
    for (let r = 0; r < rows; r++) {
      for (let o = 0; o < nout; o++) {
        let s = b[o]!;
        for (let i = 0; i < nin; i++) s += x[r * nin + i]! * W[o * nin + i]!;
        out[r * nout + o] = s;
      }
    }
    return out;
  };
  let x = ln(h, T, "pre_layrnorm");
  let cos: Float64Array | null = null, sin: Float64Array | null = null;
  if (c.kind === "mlcd") {
    const cpe = w("class_pos_emb"), patches = ropeAngles(g, g, hd);
    const a = new Float64Array(T * hd);
    for (let i = 0; i < hd; i++) a[i] = cpe[i % (hd / 2)]!;
    a.set(patches, hd);
    cos = a.map(Math.cos);
    sin = a.map(Math.sin);
  }
  const rope = (v: Float64Array) => {
    if (!cos || !sin) return;
    const half = hd / 2, tmp = new Float64Array(hd);
    for (let t = 0; t < T; t++) {
      for (let hh = 0; hh < nh; hh++) {
        const o = t * D + hh * hd;
        for (let i = 0; i < hd; i++) {
          const rot = i < half ? -v[o + i + half]! : v[o + i - half]!;
          tmp[i] = v[o + i]! * cos[t * hd + i]! + rot * sin[t * hd + i]!;
        }
        v.set(tmp, o);
      }
    }
  };
  const act = c.hiddenAct === "quick_gelu"
    ? (v: number) => v / (1 + Math.exp(-1.702 * v))
    : (v: number) => 0.5 * v * (1 + erf(v / Math.SQRT2));
  for (let l = 0; l < c.numHiddenLayers; l++) {
    const p = `encoder.layers.${l}`;
    const y = ln(x, T, `${p}.layer_norm1`);
    const q = linear(y, T, D, `${p}.self_attn.q_proj`, D);
    const k = linear(y, T, D, `${p}.self_attn.k_proj`, D);
    const v = linear(y, T, D, `${p}.self_attn.v_proj`, D);
    rope(q);
    rope(k);
    const ctx = new Float64Array(T * D), s = new Float64Array(T), scale = 1 / Math.sqrt(hd);
    for (let hh = 0; hh < nh; hh++) {
      for (let i = 0; i < T; i++) {
        let m = -Infinity;
        for (let j = 0; j < T; j++) {
          let d = 0;
          for (let e = 0; e < hd; e++) d += q[i * D + hh * hd + e]! * k[j * D + hh * hd + e]!;
          s[j] = d * scale;
          m = Math.max(m, s[j]!);
        }
        let z = 0;
        for (let j = 0; j < T; j++) z += s[j] = Math.exp(s[j]! - m);
        for (let j = 0; j < T; j++) {
          const a = s[j]! / z;
          for (let e = 0; e < hd; e++) ctx[i * D + hh * hd + e]! += a * v[j * D + hh * hd + e]!;
        }
      }
    }
    const o = linear(ctx, T, D, `${p}.self_attn.out_proj`, D);
    for (let i = 0; i < T * D; i++) x[i]! += o[i]!;
    const f1 = linear(ln(x, T, `${p}.layer_norm2`), T, D, `${p}.mlp.fc1`, I).map(act);
    const f2 = linear(f1, T, I, `${p}.mlp.fc2`, D);
    for (let i = 0; i < T * D; i++) x[i]! += f2[i]!;
  }
  x = ln(x.subarray(0, D), 1, "post_layernorm");
  const proj = weights.get(HF_PROJECTION);
  if (!proj) return x;
  const out = new Float64Array(proj.length / D);
  for (let o = 0; o < out.length; o++) {
    let s = 0;
    for (let i = 0; i < D; i++) s += x[i]! * proj[o * D + i]!;
    out[o] = s;
  }
  return out;
}

/** erf to ~1e-16 (Abramowitz-Stegun would be 1e-7): series near 0, continued fraction beyond. */
function erf(x: number): number {
  const ax = Math.abs(x);
  if (ax < 2.5) {
    let term = ax, sum = ax;
    for (let n = 1; n < 200; n++) {
      term *= -ax * ax / n;
      const add = term / (2 * n + 1);
      sum += add;
      if (Math.abs(add) < 1e-17 * Math.abs(sum)) break;
    }
    return Math.sign(x) * (2 / Math.sqrt(Math.PI)) * sum;
  }
  // erfc by Lentz's continued fraction.
  let f = ax, cc = ax, d = 0;
  for (let n = 1; n < 200; n++) {
    const an = n / 2;
    d = ax + an * d;
    d = 1 / d;
    cc = ax + an / cc;
    const delta = cc * d;
    f *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  const erfc = Math.exp(-ax * ax) / (f * Math.sqrt(Math.PI));
  return Math.sign(x) * (1 - erfc);
}
