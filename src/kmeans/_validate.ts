// Input checks shared by kmeans() and assignNearest().
import { checkFinite, checkMatrix, type Matrix } from "../matrix/matrix.ts";
import { DEFAULT_KMEANS_OPTIONS } from "./kmeans_options.ts";

/** Checks shape, finiteness and (when spherical) that no row is all zeros. */
export function checkInput(x: Matrix, name: string, spherical: boolean): void {
  checkMatrix(x, name);
  checkFinite(x, name);
  if (spherical) {
    const { data, rows, cols } = x;
    for (let r = 0; r < rows; r++) {
      let zero = true;
      for (let c = 0; c < cols && zero; c++) zero = data[r * cols + c] === 0;
      if (zero) {
        throw new RangeError(
          `Cannot L2-normalise ${name} for cosine k-means: row ${r} is all zeros`,
        );
      }
    }
  }
}

/**
 * Whether `options.metric` asks for spherical (cosine) k-means: `"cosine"` (the default) or
 * `"l2"`. The removed `spherical: boolean` option is a TypeError that names `metric`.
 */
export function isCosine(fn: string, options: { metric?: unknown }): boolean {
  if ("spherical" in options) {
    throw new TypeError(
      `Expected ${fn}() options to use metric: "cosine" | "l2" (spherical was removed) but found spherical: ${
        (options as { spherical?: unknown }).spherical
      }`,
    );
  }
  const metric = options.metric ?? DEFAULT_KMEANS_OPTIONS.metric;
  if (metric !== "cosine" && metric !== "l2") {
    throw new RangeError(
      `Expected ${fn}() metric to be "cosine" or "l2" but found ${JSON.stringify(metric)}`,
    );
  }
  return metric === "cosine";
}

/** Throws a RangeError unless `v` is an integer in [lo, hi]. */
export function checkInt(name: string, v: unknown, lo: number, hi = Infinity): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < lo || v > hi) {
    const range = hi === Infinity ? `≥ ${lo}` : `in [${lo}, ${hi}]`;
    throw new RangeError(`Expected ${name} to be an integer ${range} but found ${v}`);
  }
  return v;
}
