// Input checks shared by kmeans() and assignNearest().
import {
  checkFinite,
  checkMatrix,
  checkRows,
  type CheckRowsOptions,
  type Matrix,
} from "../matrix/matrix.ts";
import { DEFAULT_KMEANS_OPTIONS } from "./kmeans_options.ts";

/**
 * What k-means refuses of its rows beyond NaN/±Infinity (matrix.ts's `ROW_LIMITS`, the same
 * for a Matrix, files and a GpuMatrix): under cosine, all-zero and as good as zero rows (they
 * cannot be normalised); under l2, squared norms beyond float32 distances and, when the rows
 * are stored as f16 (not normalised), values beyond float16.
 */
export function rowChecks(spherical: boolean, f16: boolean): CheckRowsOptions {
  if (spherical) return { nonZero: "cosine k-means" };
  return f16 ? { l2: "l2 k-means", f16: "f16 with metric l2" } : { l2: "l2 k-means" };
}

/** Checks shape, finiteness and the {@linkcode rowChecks} of the metric and storage. */
export function checkInput(x: Matrix, name: string, spherical: boolean, f16 = false): void {
  checkMatrix(x, name);
  checkFinite(x, name);
  checkRows(x, name, rowChecks(spherical, f16));
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
