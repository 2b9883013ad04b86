// Validation shared by the GPU loss, the float64 reference and the tfjs ops.
import type { LossKind, MarginType, MlcdLossOptions } from "./mlcd_loss_options.ts";

/** Validated, resolved loss problem: everything the kernels need besides the matrices. */
export interface PreparedLoss {
  n: number;
  d: number;
  C: number;
  l: number;
  /** Sampled class ids (all classes when none were given). */
  sampled: Uint32Array;
  /** Positives as indices into `sampled`, `n × l`. */
  posLocal: Uint32Array;
  scale: number;
  margin: number;
  marginType: MarginType;
  loss: LossKind;
}

/** Validates shapes, ids and options; throws RangeError naming the offending row/value. */
export function prepareLoss(
  n: number,
  d: number,
  C: number,
  centersCols: number,
  positives: Uint32Array,
  options: MlcdLossOptions,
): PreparedLoss {
  if (!(positives instanceof Uint32Array)) {
    throw new TypeError(
      `Expected positives to be a Uint32Array but found ${
        (positives as unknown as object)?.constructor?.name ?? positives
      }`,
    );
  }
  if (n < 1) throw new RangeError(`Expected at least 1 embedding row but found ${n}`);
  if (C < 1) throw new RangeError(`Expected at least 1 center row but found ${C}`);
  if (centersCols !== d) {
    throw new TypeError(
      `Expected centers to have ${d} columns like embeddings but found ${centersCols}`,
    );
  }
  if (positives.length === 0 || positives.length % n !== 0) {
    throw new TypeError(
      `Expected positives.length to be a positive multiple of n = ${n} but found ${positives.length}`,
    );
  }
  const l = positives.length / n;
  const scale = options.scale ?? 64;
  if (!Number.isFinite(scale) || scale <= 0) {
    throw new RangeError(`Expected scale to be a positive finite number but found ${scale}`);
  }
  const margin = options.margin ?? 0.3;
  if (!Number.isFinite(margin) || margin < 0 || margin >= Math.PI / 2) {
    throw new RangeError(`Expected margin to be in [0, π/2) but found ${margin}`);
  }
  const marginType = options.marginType ?? "arc";
  if (marginType !== "arc" && marginType !== "cosine") {
    throw new RangeError(`Expected marginType to be "arc" or "cosine" but found ${marginType}`);
  }
  const loss = options.loss ?? "mlcd";
  if (loss !== "mlcd" && loss !== "mlc") {
    throw new RangeError(`Expected loss to be "mlcd" or "mlc" but found ${loss}`);
  }
  const local = new Int32Array(C).fill(-1);
  let sampled: Uint32Array;
  if (options.sampled === undefined) {
    sampled = new Uint32Array(C);
    for (let c = 0; c < C; c++) sampled[c] = c, local[c] = c;
  } else {
    sampled = options.sampled;
    if (!(sampled instanceof Uint32Array)) {
      throw new TypeError(
        `Expected sampled to be a Uint32Array but found ${
          (sampled as unknown as object)?.constructor?.name ?? sampled
        }`,
      );
    }
    if (sampled.length === 0) throw new RangeError("Expected at least 1 sampled class but found 0");
    for (let j = 0; j < sampled.length; j++) {
      const v = sampled[j]!;
      if (v >= C) {
        throw new RangeError(
          `Expected sampled[${j}] to be a class id in [0, ${C - 1}] but found ${v}`,
        );
      }
      if (local[v] !== -1) {
        throw new RangeError(`Expected distinct sampled class ids but found ${v} twice`);
      }
      local[v] = j;
    }
  }
  const posLocal = new Uint32Array(n * l);
  for (let i = 0; i < n; i++) {
    for (let t = 0; t < l; t++) {
      const k = i * l + t;
      const v = positives[k]!;
      if (v >= C) {
        throw new RangeError(
          `Expected positives[${k}] (row ${i}) to be a class id in [0, ${C - 1}] but found ${v}`,
        );
      }
      const j = local[v]!;
      if (j < 0) {
        throw new RangeError(
          `Expected the positives of row ${i} to be sampled but class ${v} is not`,
        );
      }
      for (let u = 0; u < t; u++) {
        if (positives[i * l + u] === v) {
          throw new RangeError(
            `Expected distinct positives in row ${i} but found class ${v} twice`,
          );
        }
      }
      posLocal[k] = j;
    }
  }
  return { n, d, C, l, sampled, posLocal, scale, margin, marginType, loss };
}
