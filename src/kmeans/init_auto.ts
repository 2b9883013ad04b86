import type { Gpu } from "../gpu/gpu.ts";
import type { GpuMatrix } from "../gpu/gpu_matrix.ts";
import type { Matrix } from "../matrix/matrix.ts";
import { paddedWidth } from "./centroid_store.ts";
import { kmeansParallelInit, type KMeansParallelOptions } from "./kmeans_parallel_init.ts";
import { randomRowsInit } from "./random_rows_init.ts";

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
 * The `init: "auto"` rule, measured on clustered data and MNIST (bench/results/init.md):
 * k-means|| while its host reduction stays within {@linkcode KMEANS_PARALLEL_MAX_WORK}
 * (`2·k²·dp ≤ 2^31`: k ≤ 4096 at d = 64, k ≤ 3276 at d = 100, k ≤ 1448 at d = 512), random
 * rows above. k-means|| gave the best objective after 10 Lloyd iterations at k = 100, 1000
 * and 5000 (1–2 % better than today's host k-means++, which costs twice its host work, and
 * 2–8 % better than random rows). Above that size every D²-based start costs a large share
 * of the run (k = 20000: host k-means++ 40 %, k-means|| 15 %), while random rows cost nothing
 * (faiss's default) and the iterations close most of the gap.
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

/**
 * Options of {@linkcode initCenters}: the method, and what {@linkcode kmeansParallelInit}
 * takes (random rows use `k`, `seed` and `metric` only).
 *
 * @example Usage
 * ```ts ignore
 * const options: InitCentersOptions = { init: "auto", k: 1000, seed: 1 };
 * ```
 */
export interface InitCentersOptions extends KMeansParallelOptions {
  /** `"auto"` ({@linkcode chooseInit}), `"kmeans||"` or `"random"`. @default {"auto"} */
  init?: "auto" | InitMethod;
}

/**
 * Initial k-means centers on the GPU by {@linkcode chooseInit}'s rule or the method named:
 * what k-means' initialisation seam calls for `init: "auto" | "kmeans||" | "random"`.
 *
 * @param gpu The toolkit's GPU context.
 * @param x Rows (`n × d`), on the host or on the GPU (kernel layout used in place).
 * @param options The method, `k` and the {@linkcode KMeansParallelOptions}.
 * @returns The method used and the centers, `k × dp` padded float32 (unit rows under cosine).
 * @throws {RangeError} For an unknown method, or as {@linkcode kmeansParallelInit} does.
 *
 * @example Usage
 * ```ts ignore
 * const { method, centers } = await initCenters(gpu, x, { k: 20000, onLog: console.error });
 * console.log(method); // "random" at this size
 * ```
 */
export async function initCenters(
  gpu: Gpu,
  x: Matrix | GpuMatrix,
  options: InitCentersOptions,
): Promise<{ method: InitMethod; centers: Float32Array }> {
  const { init = "auto", ...rest } = options;
  if (init !== "auto" && init !== "kmeans||" && init !== "random") {
    throw new RangeError(
      `Expected init to be "auto", "kmeans||" or "random" but found ${JSON.stringify(init)}`,
    );
  }
  const method = init === "auto" ? chooseInit({ k: rest.k, d: x.cols }) : init;
  const t0 = performance.now();
  rest.onLog?.(
    `init: ${method}${init === "auto" ? " (auto, by k and d)" : ""} for ${rest.k} centers`,
  );
  const centers = method === "kmeans||"
    ? await kmeansParallelInit(gpu, x, rest)
    : await randomRowsInit(gpu, x, {
      k: rest.k,
      ...(rest.seed === undefined ? {} : { seed: rest.seed }),
      ...(rest.metric === undefined ? {} : { metric: rest.metric }),
    });
  rest.onLog?.(`init: ${method} done in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  return { method, centers };
}
