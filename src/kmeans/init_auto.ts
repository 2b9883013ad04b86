import { paddedWidth } from "./_kernels.ts";

/**
 * A k-means initialisation that {@linkcode chooseInit} picks: k-means|| on the GPU
 * (`kmeansParallelInit`) or random rows gathered on the GPU (`randomRowsInit`).
 *
 * @example Usage
 * ```ts ignore
 * const method: InitMethod = chooseInit({ k: 20000, d: 100 }); // "random"
 * ```
 */
export type InitMethod = "kmeans||" | "random";

/**
 * Host work (multiply-adds, `2·k²·dp`) up to which `init: "auto"` runs k-means||: its
 * oversampling rounds run on the GPU, but its reduction of ≈ 2k weighted candidates to k is
 * weighted k-means++ on the host (k·C·d, quadratic in k), a few seconds at this size.
 */
export const KMEANS_PARALLEL_MAX_WORK = 2 ** 31;

/**
 * The `init: "auto"` rule, measured on clustered data (bench/results/init.md): k-means||
 * while its host reduction stays within {@linkcode KMEANS_PARALLEL_MAX_WORK}
 * (`2·k²·dp ≤ 2^31`: k ≤ 4096 at d = 64, k ≤ 3276 at d = 100, k ≤ 1448 at d = 512), random
 * rows above. k-means|| gave the best objective after 10 Lloyd iterations at k = 1000 (better
 * than today's host k-means++, which costs twice its host work, and than random rows); above
 * that size its quadratic cost outweighs one iteration, while random rows cost nothing and
 * the iterations close most of the gap (faiss's default).
 *
 * @param shape `k` centers of rows of width `d`.
 * @returns The initialisation to use.
 *
 * @example Usage
 * ```ts
 * import { chooseInit } from "./init_auto.ts";
 * console.log(chooseInit({ k: 1000, d: 128 }), chooseInit({ k: 1_000_000, d: 512 })); // "kmeans||" "random"
 * ```
 */
export function chooseInit(shape: { k: number; d: number }): InitMethod {
  const dp = paddedWidth(shape.d);
  return 2 * shape.k * shape.k * dp <= KMEANS_PARALLEL_MAX_WORK ? "kmeans||" : "random";
}
