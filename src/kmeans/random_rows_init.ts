import type { Gpu } from "../gpu/gpu.ts";
import { type GpuMatrix, isGpuMatrix, useGpuMatrix } from "../gpu/gpu_matrix.ts";
import type { Matrix } from "../matrix/matrix.ts";
import { mulberry32, sampleIndices } from "../random/mulberry32.ts";
import { checkOptionsObject } from "../_options.ts";
import type { KMeansMetric } from "./kmeans_options.ts";
import { paddedWidth } from "./centroid_store.ts";
import { checkInput, checkInt, isCosine } from "./_validate.ts";
import { gatherPadded } from "./_init_rows.ts";

/**
 * Options of {@linkcode randomRowsInit}.
 *
 * @example Usage
 * ```ts ignore
 * const options: RandomRowsInitOptions = { k: 1000, seed: 7 };
 * ```
 */
export interface RandomRowsInitOptions {
  /** Number of centers, an integer in `[1, rows]`. */
  k: number;
  /** Seed of the draw. @default {1234} */
  seed?: number;
  /** `"cosine"` (the rows are L2-normalised) or `"l2"`. @default {"cosine"} */
  metric?: KMeansMetric;
}

/**
 * faiss's default initialisation: `k` distinct rows drawn uniformly (seeded), gathered on the
 * GPU, so only the `k` centers cross to the host. Costs nothing next to one Lloyd iteration,
 * whatever k: the choice for very large k.
 *
 * @param gpu The toolkit's GPU context.
 * @param x Rows (`n × d`), on the host or on the GPU (used in place in the kernel layout:
 * stride `d` rounded up to 4, normalised under cosine; re-packed otherwise).
 * @param options `k`, `seed` and `metric`.
 * @returns The centers, `k × dp` padded float32 (dp = d rounded up to 4; unit rows under
 * cosine), in draw order.
 * @throws {RangeError} For a bad `k` or seed, NaN/Inf or (cosine) zero rows of a host matrix.
 *
 * @example Usage
 * ```ts ignore
 * import { createGpu } from "../gpu/gpu.ts";
 * import { randomRowsInit } from "./random_rows_init.ts";
 * const gpu = await createGpu();
 * const x = { data: new Float32Array(1000 * 8).map(() => Math.random() - 0.5), rows: 1000, cols: 8 };
 * const centers = await randomRowsInit(gpu, x, { k: 10 });
 * console.log(centers.length); // 10 × 8
 * ```
 */
export async function randomRowsInit(
  gpu: Gpu,
  x: Matrix | GpuMatrix,
  options: RandomRowsInitOptions,
): Promise<Float32Array> {
  checkOptionsObject("randomRowsInit", options);
  const spherical = isCosine("randomRowsInit", options);
  if (!isGpuMatrix(x)) checkInput(x, "x", spherical);
  const k = checkInt("k", options.k, 1, x.rows);
  const seed = checkInt("seed", options.seed ?? 1234, 0, 2 ** 32 - 1);
  const dp = paddedWidth(x.cols);
  const dtype = isGpuMatrix(x) ? x.dtype : "f32";
  const lease = useGpuMatrix(gpu, x, { stride: dp, dtype, normalize: spherical, label: "x" });
  try {
    return await gatherPadded(gpu, lease.matrix, sampleIndices(x.rows, k, mulberry32(seed)), dp);
  } finally {
    lease.release();
  }
}
