import { Rng } from "./rng.ts";

/**
 * A seeded uniform random number generator (mulberry32): the toolkit's one source of
 * reproducible randomness (subsampling, initialisation, class sampling, data splits).
 *
 * @param seed Any number; its low 32 bits are used.
 * @returns A function yielding uniform numbers in `[0, 1)`.
 *
 * @example Usage
 * ```ts
 * import { mulberry32 } from "./mulberry32.ts";
 * const rand = mulberry32(42);
 * console.log(rand() === mulberry32(42)()); // true
 * ```
 */
export function mulberry32(seed: number): () => number {
  const r = new Rng(0, seed);
  return () => r.next();
}

/**
 * Draws `m` distinct indices of `[0, n)` (partial Fisher–Yates), in draw order.
 *
 * @param n Size of the range.
 * @param m How many to draw (at most `n`).
 * @param rand Uniform generator, e.g. {@linkcode mulberry32}.
 * @returns The indices.
 *
 * @example Usage
 * ```ts
 * import { mulberry32, sampleIndices } from "./mulberry32.ts";
 * console.log(sampleIndices(10, 3, mulberry32(1)).length); // 3
 * ```
 */
export function sampleIndices(n: number, m: number, rand: () => number): Uint32Array {
  const perm = new Uint32Array(n);
  for (let i = 0; i < n; i++) perm[i] = i;
  for (let i = 0; i < m; i++) {
    const j = i + Math.floor(rand() * (n - i));
    const t = perm[i]!;
    perm[i] = perm[j]!;
    perm[j] = t;
  }
  return perm.slice(0, m);
}
