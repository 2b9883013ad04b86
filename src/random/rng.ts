// A small seeded PRNG whose whole state is one u32, so checkpoints can store it exactly.

/**
 * A deterministic random number generator (mulberry32) with a serialisable state.
 *
 * @example Usage
 * ```ts
 * import { Rng } from "./rng.ts";
 * const r = new Rng(42);
 * const a = r.next();
 * const copy = new Rng(0, r.state);
 * console.log(copy.next() === r.next()); // true
 * ```
 */
export class Rng {
  /** The generator's full state (an unsigned 32-bit integer). */
  state: number;

  /**
   * Seeds a generator, or restores one from a saved state.
   *
   * @param seed Any integer; mixed into the initial state.
   * @param state Restores an exact state saved from {@linkcode Rng.state} (overrides `seed`).
   */
  constructor(seed: number, state?: number) {
    this.state = state !== undefined ? state >>> 0 : mixSeed(seed, 0x9E3779B9);
  }

  /** A float in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6D2B79F5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** A standard normal sample (Box–Muller). */
  normal(): number {
    const u = Math.max(this.next(), 1e-12), v = this.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }
}

/**
 * Mixes a seed with one or more integers into a new 32-bit seed (for per-epoch and per-step
 * streams that do not depend on how many numbers earlier steps drew).
 *
 * @param seed Base seed.
 * @param parts Integers to mix in (epoch, step, ...).
 * @returns An unsigned 32-bit integer.
 *
 * @example Usage
 * ```ts
 * import { mixSeed } from "./rng.ts";
 * console.log(mixSeed(1, 2) !== mixSeed(1, 3)); // true
 * ```
 */
export function mixSeed(seed: number, ...parts: number[]): number {
  let h = 0x85EBCA6B;
  for (const p of [seed, ...parts]) {
    h = Math.imul(h ^ (p >>> 0), 0xCC9E2D51) >>> 0;
    h = ((h << 13) | (h >>> 19)) >>> 0;
    h = (Math.imul(h, 5) + 0xE6546B64) >>> 0;
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85EBCA6B) >>> 0;
  h ^= h >>> 13;
  h = Math.imul(h, 0xC2B2AE35) >>> 0;
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * A seeded Fisher–Yates permutation of `0 .. n-1`.
 *
 * @param n Length.
 * @param seed Seed of the permutation.
 * @returns The permutation.
 *
 * @example Usage
 * ```ts
 * import { permutation } from "./rng.ts";
 * console.log(permutation(5, 1).length); // 5
 * ```
 */
export function permutation(n: number, seed: number): Uint32Array {
  const p = new Uint32Array(n);
  for (let i = 0; i < n; i++) p[i] = i;
  const r = new Rng(seed);
  for (let i = n - 1; i > 0; i--) {
    const j = r.int(i + 1);
    const t = p[i]!;
    p[i] = p[j]!;
    p[j] = t;
  }
  return p;
}
