import { mulberry32 } from "../random/mulberry32.ts";
import { checkOptionsObject } from "../options/check_options_object.ts";

/** Options of {@linkcode sampleClasses}. */
export interface SampleClassesOptions {
  /** Number of classes C (the class ids are `0 .. C-1`). */
  classes: number;
  /** Fraction of the classes to keep, in `[0, 1]`. @default {0.1} */
  ratio?: number;
  /**
   * An integer seed for the built-in generator (same seed, same result), or a function
   * returning uniform numbers in `[0, 1)`. @default {0}
   */
  seed?: number | (() => number);
}

/**
 * Partial-FC class sampling for one training step: every positive class of the batch is
 * kept and the other classes are drawn uniformly without replacement until
 * `round(ratio × classes)` classes are selected (all positives when they are already more).
 *
 * @param positives The batch's positive class ids (any layout, repeats allowed).
 * @param options `classes`, `ratio` and `seed` ({@linkcode SampleClassesOptions}).
 * @returns The selected class ids, sorted ascending.
 * @throws {RangeError} When `classes`, `ratio` or a positive id is out of range.
 *
 * @example Usage
 * ```ts
 * import { sampleClasses } from "./sample_classes.ts";
 * const s = sampleClasses(new Uint32Array([3, 7, 3]), { classes: 100, ratio: 0.1, seed: 42 });
 * console.log(s.length, s.includes(3), s.includes(7)); // 10 true true
 * ```
 */
export function sampleClasses(
  positives: Uint32Array,
  options: SampleClassesOptions,
): Uint32Array {
  checkOptionsObject("sampleClasses", options, "{ classes: 1000, ratio: 0.1, seed: 1 }");
  const positivesOfBatch = positives;
  const C = options.classes;
  const ratio = options.ratio ?? 0.1;
  const rng = options.seed ?? 0;
  if (!Number.isInteger(C) || C < 1 || C > 0xffffffff) {
    throw new RangeError(`Expected classes to be a positive integer but found ${C}`);
  }
  if (!(ratio >= 0 && ratio <= 1)) {
    throw new RangeError(`Expected ratio to be in [0, 1] but found ${ratio}`);
  }
  const random = typeof rng === "number" ? mulberry32(rng) : rng;
  const taken = new Uint8Array(C);
  let count = 0;
  for (let i = 0; i < positivesOfBatch.length; i++) {
    const v = positivesOfBatch[i]!;
    if (v >= C) {
      throw new RangeError(
        `Expected positives[${i}] to be a class id in [0, ${C - 1}] but found ${v}`,
      );
    }
    if (!taken[v]) taken[v] = 1, count++;
  }
  const target = Math.round(ratio * C);
  const extra = Math.max(0, target - count);
  if (extra > 0) {
    // Partial Fisher–Yates over the classes not yet taken: exact uniform sampling
    // without replacement.
    const rest = new Uint32Array(C - count);
    let q = 0;
    for (let c = 0; c < C; c++) if (!taken[c]) rest[q++] = c;
    for (let k = 0; k < extra; k++) {
      const r = k + Math.min(Math.floor(random() * (rest.length - k)), rest.length - k - 1);
      const v = rest[r]!;
      rest[r] = rest[k]!;
      rest[k] = v;
      taken[v] = 1;
    }
    count += extra;
  }
  const out = new Uint32Array(count);
  let o = 0;
  for (let c = 0; c < C; c++) if (taken[c]) out[o++] = c;
  return out;
}
