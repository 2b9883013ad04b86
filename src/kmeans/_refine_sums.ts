// Private: the exact host-side total of the refinement's per-part sums. Each part holds, per
// center and column, a 64-bit two's-complement integer Σ round(x · 2^e) (the plain update's
// fixed-point sums, read back from the GPU as they are). Integer addition is associative, so
// the total does not depend on the order or grouping of the parts. Parts summed at another
// exponent (l2 rows whose largest |value| differs by a power of two) are brought to the finest
// exponent exactly (BigInt), and the total is rounded once to the coarsest at the end.

/** One part's sums as the total takes them (see `PartSums` in refine.ts). */
export interface SumsPart {
  sums: BigInt64Array;
  counts: Uint32Array;
  exponent: number;
  objective: number;
  rows: number;
}

/** The rows a 64-bit total of values |q| ≤ 2^30 can hold without overflow: 2^33 − 1. */
const MAX_ROWS = 2 ** 33 - 1;

/**
 * The running total of parts' sums, counts and objectives. `add` the parts in part order (the
 * objective, a float sum, is added in that order), then take the `result`.
 */
export class SumsTotal {
  readonly k: number;
  readonly d: number;
  /** Exact total while every part so far had exponent `#e`: (lo, hi) u32 words per value. */
  #fast: Uint32Array | null;
  /** Exact total at exponent `#eMax` once exponents differed. */
  #big: bigint[] | null = null;
  #e = NaN;
  #eMin = Infinity;
  #eMax = -Infinity;
  #counts: Float64Array;
  rows = 0;
  objective = 0;
  parts = 0;

  constructor(k: number, d: number) {
    this.k = k;
    this.d = d;
    this.#fast = new Uint32Array(k * d * 2);
    this.#counts = new Float64Array(k);
  }

  /** Adds one part (its shape checked against `k × d`). */
  add(p: SumsPart, name: string): void {
    const { k, d } = this;
    if (p.counts.length !== k || p.sums.length !== k * d) {
      throw new RangeError(
        `Expected ${name} to hold sums of ${k} × ${d} and ${k} counts but found ${p.sums.length} sums and ${p.counts.length} counts`,
      );
    }
    if (!Number.isInteger(p.exponent) || p.exponent < -1074 || p.exponent > 1023) {
      throw new RangeError(`Expected ${name} to have an integer exponent but found ${p.exponent}`);
    }
    let members = 0;
    for (let c = 0; c < k; c++) {
      this.#counts[c]! += p.counts[c]!;
      members += p.counts[c]!;
    }
    if (members !== p.rows) {
      throw new RangeError(
        `Expected the counts of ${name} to add up to its ${p.rows} rows but found ${members}`,
      );
    }
    this.rows += p.rows;
    if (this.rows > MAX_ROWS) {
      throw new RangeError(
        `Expected at most ${MAX_ROWS} rows in all (the 64-bit sums' range) but found ${this.rows}`,
      );
    }
    this.objective += p.objective;
    this.parts++;
    this.#eMin = Math.min(this.#eMin, p.exponent);
    const words = new Uint32Array(p.sums.buffer, p.sums.byteOffset, p.sums.length * 2);
    if (this.#fast && (Number.isNaN(this.#e) || this.#e === p.exponent)) {
      this.#e = this.#eMax = p.exponent;
      const t = this.#fast;
      for (let i = 0; i < t.length; i += 2) {
        const lo = t[i]! + words[i]!;
        t[i] = lo; // modulo 2^32
        t[i + 1] = t[i + 1]! + words[i + 1]! + (lo > 0xffffffff ? 1 : 0);
      }
      return;
    }
    if (this.#fast) {
      // The first part at another exponent: the total continues exactly in BigInt.
      const t = new BigInt64Array(this.#fast.buffer);
      this.#big = Array.from(t, (v) => v);
      this.#fast = null;
    }
    const big = this.#big!;
    const eMax = Math.max(this.#eMax, p.exponent);
    if (eMax > this.#eMax) {
      const up = BigInt(eMax - this.#eMax);
      for (let i = 0; i < big.length; i++) big[i] = big[i]! << up;
      this.#eMax = eMax;
    }
    const shift = BigInt(eMax - p.exponent);
    for (let i = 0; i < big.length; i++) big[i] = big[i]! + (p.sums[i]! << shift);
  }

  /**
   * The total: sums at the coarsest exponent (rounded once, half up, when the parts' exponents
   * differed), counts, rows and the objective.
   */
  result(): { sums: BigInt64Array; exponent: number; counts: Uint32Array } {
    const { k, d } = this;
    if (this.parts === 0) throw new RangeError("Expected at least one part but found none");
    const counts = new Uint32Array(k);
    for (let c = 0; c < k; c++) {
      if (this.#counts[c]! > 0xffffffff) {
        throw new RangeError(
          `Expected at most 2^32 − 1 members per center but center ${c} has ${this.#counts[c]}`,
        );
      }
      counts[c] = this.#counts[c]!;
    }
    if (this.#fast) {
      return { sums: new BigInt64Array(this.#fast.buffer), exponent: this.#e, counts };
    }
    const s = BigInt(this.#eMax - this.#eMin);
    const half = s > 0n ? 1n << (s - 1n) : 0n;
    const sums = new BigInt64Array(k * d);
    this.#big!.forEach((v, i) => {
      const r = (v + half) >> s;
      if (r !== BigInt.asIntN(64, r)) {
        throw new RangeError(`Expected the sums to fit 64 bits but value ${i} is ${r}`);
      }
      sums[i] = r;
    });
    return { sums, exponent: this.#eMin, counts };
  }
}
