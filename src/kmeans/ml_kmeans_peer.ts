// The ONE import of the `ml-kmeans` npm package (pure JS k-means), used only as a
// benchmark peer (bench/kmeans_compare.ts, bench/run.ts).
import { kmeans as mlKmeansImpl } from "npm:ml-kmeans@7.0.1";
import type { Matrix } from "../matrix/matrix.ts";

/**
 * Runs ml-kmeans (Lloyd, squared Euclidean, k-means++ init) on the CPU in plain JS and
 * returns its centroids; a peer for benchmarks. Normalise rows first for a spherical
 * comparison.
 *
 * @param x Rows to cluster.
 * @param k Number of centroids.
 * @param options `maxIterations` (Lloyd iterations) and `seed`.
 * @returns The `k × d` centroids.
 *
 * @example Usage
 * ```ts ignore
 * const c = mlKmeans(x, 10, { maxIterations: 25, seed: 1234 });
 * ```
 */
export function mlKmeans(
  x: Matrix,
  k: number,
  options: { maxIterations: number; seed: number },
): Matrix {
  const rows: number[][] = [];
  for (let r = 0; r < x.rows; r++) {
    rows.push(Array.from(x.data.subarray(r * x.cols, (r + 1) * x.cols)));
  }
  const res = mlKmeansImpl(rows, k, {
    maxIterations: options.maxIterations,
    seed: options.seed,
    tolerance: 0,
    initialization: "kmeans++",
  });
  const data = new Float32Array(k * x.cols);
  res.centroids.forEach((c, i) => data.set(c, i * x.cols));
  return { data, rows: k, cols: x.cols };
}
