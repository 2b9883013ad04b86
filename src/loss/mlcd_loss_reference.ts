// The MLCD loss in float64, written from the paper's formula (Eq. 5; /work/shared/mlcd.md) on
// class ids, with its own validation and defaults: it shares no preparation with the GPU path
// or the tfjs ops (src/loss/_prepare.ts), so that a bug in theirs cannot pass both.
import type { Matrix } from "../matrix/matrix.ts";
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

/** The paper's settings: scale 64 (the authors' later release), margin 0.3, ArcFace, MLCD. */
const PAPER = { scale: 64, margin: 0.3, marginType: "arc", loss: "mlcd" } as const;

const GUARD = 1e-12;

type Rows = { data: Float32Array | Float64Array; rows: number; cols: number };

function checkRows(m: Rows, name: string): void {
  if (!(m?.data instanceof Float32Array || m?.data instanceof Float64Array)) {
    throw new TypeError(`Expected ${name}.data to be a Float32Array or Float64Array`);
  }
  if (!Number.isInteger(m.rows) || m.rows < 0 || !Number.isInteger(m.cols) || m.cols < 1) {
    throw new TypeError(`Expected ${name} to have integer rows ≥ 0 and cols ≥ 1`);
  }
  if (m.data.length !== m.rows * m.cols) {
    throw new TypeError(
      `Expected ${name}.data to hold rows × cols = ${m.rows} × ${m.cols} = ${
        m.rows * m.cols
      } values but found ${m.data.length}`,
    );
  }
}

const typeName = (v: unknown) => (v as object)?.constructor?.name ?? v;

/** One sample's classes, by class id: its positives P and its negatives N. */
interface Sample {
  pos: number[];
  neg: number[];
}

/**
 * Reads the options with the paper's defaults and splits every sample's classes into P (its
 * positives) and N (the classes taking part, sampled or all, that are not its positives).
 */
function prepare(input: MlcdLossReferenceInput) {
  const E = input.embeddings as Rows, W = input.centers as Rows;
  checkRows(E, "embeddings");
  checkRows(W, "centers");
  const positives = input.positives;
  if (!(positives instanceof Uint32Array)) {
    throw new TypeError(`Expected positives to be a Uint32Array but found ${typeName(positives)}`);
  }
  const n = E.rows, d = E.cols, C = W.rows;
  if (n < 1) throw new RangeError(`Expected at least 1 embedding row but found ${n}`);
  if (C < 1) throw new RangeError(`Expected at least 1 center row but found ${C}`);
  if (W.cols !== d) {
    throw new TypeError(
      `Expected centers to have ${d} columns like embeddings but found ${W.cols}`,
    );
  }
  if (positives.length === 0 || positives.length % n !== 0) {
    throw new TypeError(
      `Expected positives.length to be a positive multiple of n = ${n} but found ${positives.length}`,
    );
  }
  const l = positives.length / n;
  const scale = input.scale ?? PAPER.scale;
  if (!(scale > 0 && scale < Infinity)) {
    throw new RangeError(`Expected scale to be a positive finite number but found ${scale}`);
  }
  const margin = input.margin ?? PAPER.margin;
  if (!(margin >= 0 && margin < Math.PI / 2)) {
    throw new RangeError(`Expected margin to be in [0, π/2) but found ${margin}`);
  }
  const marginType = input.marginType ?? PAPER.marginType;
  if (!["arc", "cosine"].includes(marginType)) {
    throw new RangeError(`Expected marginType to be "arc" or "cosine" but found ${marginType}`);
  }
  const loss = input.loss ?? PAPER.loss;
  if (!["mlcd", "mlc"].includes(loss)) {
    throw new RangeError(`Expected loss to be "mlcd" or "mlc" but found ${loss}`);
  }
  // The classes taking part this step.
  let classes: number[];
  if (input.sampled === undefined) classes = Array.from({ length: C }, (_, c) => c);
  else {
    if (!(input.sampled instanceof Uint32Array)) {
      throw new TypeError(
        `Expected sampled to be a Uint32Array but found ${typeName(input.sampled)}`,
      );
    }
    if (input.sampled.length === 0) {
      throw new RangeError("Expected at least 1 sampled class but found 0");
    }
    classes = [...input.sampled];
    const seen = new Set<number>();
    classes.forEach((c, j) => {
      if (c >= C) {
        throw new RangeError(
          `Expected sampled[${j}] to be a class id in [0, ${C - 1}] but found ${c}`,
        );
      }
      if (seen.has(c)) {
        throw new RangeError(`Expected distinct sampled class ids but found ${c} twice`);
      }
      seen.add(c);
    });
  }
  const taking = new Set(classes);
  const samples: Sample[] = [];
  for (let i = 0; i < n; i++) {
    const pos: number[] = [];
    for (let t = 0; t < l; t++) {
      const c = positives[i * l + t]!;
      if (c >= C) {
        throw new RangeError(
          `Expected positives[${i * l + t}] (row ${i}) to be a class id in [0, ${
            C - 1
          }] but found ${c}`,
        );
      }
      if (!taking.has(c)) {
        throw new RangeError(
          `Expected the positives of row ${i} to be sampled but class ${c} is not`,
        );
      }
      if (pos.includes(c)) {
        throw new RangeError(`Expected distinct positives in row ${i} but found class ${c} twice`);
      }
      pos.push(c);
    }
    samples.push({ pos, neg: classes.filter((c) => !pos.includes(c)) });
  }
  return { E, W, n, d, C, l, classes, samples, scale, margin, marginType, loss };
}

/**
 * The MLCD / MLC loss and its exact gradients in plain float64 TypeScript: the reference
 * the GPU kernels and the tfjs ops are tested against (and a CPU fallback for small problems).
 * Written from the paper's formula on class ids, with its own validation and the paper's
 * defaults (scale 64, margin 0.3, ArcFace margin, MLCD): it shares no code with `mlcdLoss`.
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
  const p = prepare(input);
  const { E, W, n, d, C, l, samples, scale: s, margin: m } = p;
  const arc = p.marginType === "arc", mlc = p.loss === "mlc";
  // φ(c) = cos(θ + m) while θ + m < π (c > cos(π − m) = −cos m), else c − m·sin m; or c − m.
  const sinT = (c: number) => Math.sqrt(Math.max(1 - c * c, GUARD));
  const phi = (c: number) =>
    !arc ? c - m : c > -Math.cos(m) ? c * Math.cos(m) - sinT(c) * Math.sin(m) : c - m * Math.sin(m);
  const dphi = (c: number) =>
    !arc ? 1 : c > -Math.cos(m) ? Math.cos(m) + Math.sin(m) * c / sinT(c) : 1;
  // Unit rows f̂ and ŵ_c with 1/‖·‖ (zero rows stay zero).
  const unit = (M: Rows, r: number) => {
    const v = Float64Array.from(M.data.subarray(r * d, (r + 1) * d));
    const q = v.reduce((a, x) => a + x * x, 0);
    const inv = q > 0 ? 1 / Math.sqrt(q) : 0;
    return { hat: v.map((x) => x * inv), inv };
  };
  const centers = new Map(p.classes.map((c) => [c, unit(W, c)]));
  const dot = (a: Float64Array, b: Float64Array) => a.reduce((acc, x, k) => acc + x * b[k]!, 0);
  const logSumExp = (xs: number[]) => {
    if (xs.length === 0) return -Infinity;
    const mx = Math.max(...xs);
    return mx + Math.log(xs.reduce((a, x) => a + Math.exp(x - mx), 0));
  };
  // log(1 + Σ exp(x)) = softplus(logsumexp(x)); 0 for an empty sum.
  const log1pSumExp = (xs: number[]) => {
    const z = logSumExp(xs);
    return z === -Infinity ? 0 : Math.max(z, 0) + Math.log1p(Math.exp(-Math.abs(z)));
  };
  const perSample = new Float64Array(n);
  const gradEmbeddings = new Float64Array(n * d);
  // ∂L/∂ŵ_c per class, then through the normalisation.
  const gHatW = new Map(p.classes.map((c) => [c, new Float64Array(d)]));
  for (let i = 0; i < n; i++) {
    const f = unit(E, i);
    const { pos, neg } = samples[i]!;
    const cos = new Map([...pos, ...neg].map((c) => [c, dot(f.hat, centers.get(c)!.hat)]));
    // ∂L_i/∂cos θ_c for every class c of the sample.
    const dL = new Map<number, number>();
    if (mlc) {
      // −mean_P log softmax over P ∪ N of s·cos.
      const z = logSumExp([...pos, ...neg].map((c) => s * cos.get(c)!));
      perSample[i] = z - pos.reduce((a, c) => a + s * cos.get(c)!, 0) / l;
      for (const c of [...pos, ...neg]) dL.set(c, s * Math.exp(s * cos.get(c)! - z));
      for (const c of pos) dL.set(c, dL.get(c)! - s / l);
    } else {
      // log(1 + Σ_P exp(−s·φ(cos))) + log(1 + Σ_N exp(s·cos)).
      const a = pos.map((c) => -s * phi(cos.get(c)!)), b = neg.map((c) => s * cos.get(c)!);
      const LP = log1pSumExp(a), LN = log1pSumExp(b);
      perSample[i] = LP + LN;
      // ∂/∂a_i log(1 + Σ exp a) = exp(a_i) / (1 + Σ exp a) = exp(a_i − LP).
      pos.forEach((c, q) => dL.set(c, -s * dphi(cos.get(c)!) * Math.exp(a[q]! - LP)));
      neg.forEach((c, q) => dL.set(c, s * Math.exp(b[q]! - LN)));
    }
    // cos = f̂·ŵ: ∂/∂f̂ = Σ dL·ŵ, ∂/∂ŵ_c = dL·f̂; the mean over the batch divides by n.
    const gf = new Float64Array(d);
    for (const [c, g] of dL) {
      const w = centers.get(c)!.hat, gw = gHatW.get(c)!;
      for (let k = 0; k < d; k++) {
        gf[k] = gf[k]! + g / n * w[k]!;
        gw[k] = gw[k]! + g / n * f.hat[k]!;
      }
    }
    gradEmbeddings.set(throughNorm(gf, f.hat, f.inv), i * d);
  }
  const gradCenters = new Float64Array(C * d);
  for (const [c, g] of gHatW) {
    const w = centers.get(c)!;
    gradCenters.set(throughNorm(g, w.hat, w.inv), c * d);
  }
  return { loss: perSample.reduce((a, x) => a + x, 0) / n, perSample, gradEmbeddings, gradCenters };
}

/** ∂/∂x of a function of x̂ = x/‖x‖, given ∂/∂x̂: (I − x̂x̂ᵀ) g / ‖x‖. */
function throughNorm(g: Float64Array, hat: Float64Array, inv: number): Float64Array {
  const q = g.reduce((a, v, k) => a + v * hat[k]!, 0);
  return g.map((v, k) => (v - q * hat[k]!) * inv);
}
