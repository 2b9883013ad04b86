import { checkMatrix, type Matrix } from "../matrix/matrix.ts";
import { prepareLoss } from "./_prepare.ts";
import type { MlcdLossOptions } from "./mlcd_loss_options.ts";

/** Result of {@linkcode mlcdLossReference}: float64 values, gradients row-major. */
export interface MlcdLossReferenceResult {
  /** Mean loss over the batch. */
  loss: number;
  /** Each sample's loss. */
  perSample: Float64Array;
  /** ∂loss/∂embeddings, `n × d`. */
  gradEmbeddings: Float64Array;
  /** ∂loss/∂centers, `C × d` (zero outside the sampled classes). */
  gradCenters: Float64Array;
}

/** Input of {@linkcode mlcdLossReference}: like `MlcdLossInput`, values as float64 allowed. */
export interface MlcdLossReferenceInput extends MlcdLossOptions {
  /** Raw embeddings, `n × d`. */
  embeddings: Matrix | { data: Float64Array; rows: number; cols: number };
  /** Raw class centers, `C × d`. */
  centers: Matrix | { data: Float64Array; rows: number; cols: number };
  /** Positive class ids, `n × l` row-major. */
  positives: Uint32Array;
}

const GUARD = 1e-12;

/**
 * The MLCD / MLC loss and its exact gradients in plain float64 TypeScript: the reference
 * the GPU kernels are tested against (and a CPU fallback for small problems). Same
 * definitions, options and validation as `mlcdLoss`.
 *
 * @param input Embeddings, centers, positives and options.
 * @returns Loss, per-sample losses and both gradients in float64.
 *
 * @example Usage
 * ```ts
 * import { mlcdLossReference } from "./mlcd_loss_reference.ts";
 * const r = mlcdLossReference({
 *   embeddings: { data: new Float32Array([1, 0]), rows: 1, cols: 2 },
 *   centers: { data: new Float32Array([1, 0, 0, 1]), rows: 2, cols: 2 },
 *   positives: new Uint32Array([0]),
 * });
 * console.log(r.loss > 0); // true
 * ```
 */
export function mlcdLossReference(input: MlcdLossReferenceInput): MlcdLossReferenceResult {
  const E = input.embeddings, W = input.centers;
  if (!(E.data instanceof Float64Array)) checkMatrix(E as Matrix, "embeddings");
  if (!(W.data instanceof Float64Array)) checkMatrix(W as Matrix, "centers");
  const prep = prepareLoss(E.rows, E.cols, W.rows, W.cols, input.positives, input);
  const { n, d, C, l, sampled, posLocal, scale: s, margin: m } = prep;
  const S = sampled.length;
  const cosine = prep.marginType === "cosine", mlc = prep.loss === "mlc";
  const cm = Math.cos(m), sm = Math.sin(m);
  const sinT = (c: number) => Math.sqrt(Math.max(1 - c * c, GUARD));
  const phi = (c: number) => cosine ? c - m : c > -cm ? c * cm - sinT(c) * sm : c - m * sm;
  const dphi = (c: number) => cosine ? 1 : c > -cm ? cm + sm * c / sinT(c) : 1;
  const posLogit = (c: number) => mlc ? s * c : -s * phi(c);
  // Normalise.
  const norm = (data: ArrayLike<number>, rows: number, pick: (r: number) => number) => {
    const hat = new Float64Array(rows * d), inv = new Float64Array(rows);
    for (let r = 0; r < rows; r++) {
      const o = pick(r) * d;
      let q = 0;
      for (let k = 0; k < d; k++) q += data[o + k]! * data[o + k]!;
      const iv = q > 0 ? 1 / Math.sqrt(q) : 0;
      inv[r] = iv;
      for (let k = 0; k < d; k++) hat[r * d + k] = data[o + k]! * iv;
    }
    return { hat, inv };
  };
  const f = norm(E.data, n, (r) => r);
  const w = norm(W.data, S, (j) => sampled[j]!);
  const gF = new Float64Array(n * d), gW = new Float64Array(S * d);
  const perSample = new Float64Array(n);
  const cos = new Float64Array(S), coef = new Float64Array(S), isPos = new Uint8Array(S);
  const lse = (xs: number[]) => {
    if (xs.length === 0) return -Infinity;
    const mx = Math.max(...xs);
    let acc = 0;
    for (const x of xs) acc += Math.exp(x - mx);
    return mx + Math.log(acc);
  };
  const softplus = (x: number) => Math.max(x, 0) + Math.log1p(Math.exp(-Math.abs(x)));
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < S; j++) {
      let q = 0;
      for (let k = 0; k < d; k++) q += f.hat[i * d + k]! * w.hat[j * d + k]!;
      cos[j] = q;
    }
    isPos.fill(0);
    const pj: number[] = [];
    for (let t = 0; t < l; t++) {
      const j = posLocal[i * l + t]!;
      isPos[j] = 1;
      pj.push(j);
    }
    const negLogits: number[] = [], negIdx: number[] = [];
    for (let j = 0; j < S; j++) if (!isPos[j]) negLogits.push(s * cos[j]!), negIdx.push(j);
    const posLogits = pj.map((j) => posLogit(cos[j]!));
    const lseN = lse(negLogits), lseP = lse(posLogits);
    coef.fill(0);
    if (mlc) {
      const lseAll = lse([lseP, lseN].filter((x) => x > -Infinity));
      let sumC = 0;
      for (const j of pj) sumC += cos[j]!;
      perSample[i] = lseAll - s * sumC / l;
      negIdx.forEach((j, q) => coef[j] = s * Math.exp(negLogits[q]! - lseAll));
      pj.forEach((j, q) => coef[j] = s * Math.exp(posLogits[q]! - lseAll) - s / l);
    } else {
      const spP = softplus(lseP), spN = lseN > -Infinity ? softplus(lseN) : 0;
      perSample[i] = spP + spN;
      negIdx.forEach((j, q) => coef[j] = s * Math.exp(negLogits[q]! - spN));
      pj.forEach((j, q) => coef[j] = -s * dphi(cos[j]!) * Math.exp(posLogits[q]! - spP));
    }
    // Chain to f̂ and ŵ, mean over the batch.
    for (let j = 0; j < S; j++) {
      const g = coef[j]! / n;
      if (g === 0) continue;
      for (let k = 0; k < d; k++) {
        gF[i * d + k] = gF[i * d + k]! + g * w.hat[j * d + k]!;
        gW[j * d + k] = gW[j * d + k]! + g * f.hat[i * d + k]!;
      }
    }
  }
  const jac = (g: Float64Array, hat: Float64Array, inv: Float64Array, rows: number) => {
    for (let r = 0; r < rows; r++) {
      let q = 0;
      for (let k = 0; k < d; k++) q += g[r * d + k]! * hat[r * d + k]!;
      for (let k = 0; k < d; k++) g[r * d + k] = (g[r * d + k]! - q * hat[r * d + k]!) * inv[r]!;
    }
  };
  jac(gF, f.hat, f.inv, n);
  jac(gW, w.hat, w.inv, S);
  const gradCenters = new Float64Array(C * d);
  for (let j = 0; j < S; j++) gradCenters.set(gW.subarray(j * d, (j + 1) * d), sampled[j]! * d);
  let sum = 0;
  for (const v of perSample) sum += v;
  return { loss: sum / n, perSample, gradEmbeddings: gF, gradCenters };
}
