// Exact top-k: the one-call search, and the home of the top-k API (the resident keys and the
// options live in upload_topk_keys.ts and topk_options.ts; the kernels' programs in
// topk_programs.ts, the two search stages in topk_tiled_search.ts and topk_registers_search.ts).
import type { Gpu } from "../gpu/gpu.ts";
import { type GpuMatrix, isGpuMatrix } from "../gpu/gpu_matrix.ts";
import { checkFinite, checkMatrix, type Matrix } from "../matrix/matrix.ts";
import { checkOptionsObject } from "../options/check_options_object.ts";
import { checkTopkK, type TopkOptions, type TopkResult } from "./topk_options.ts";
import { uploadTopkKeys } from "./upload_topk_keys.ts";

export type {
  TopkKeys,
  TopkKeysOptions,
  TopkMetric,
  TopkOptions,
  TopkResult,
  TopkSearchOptions,
  TopkTuning,
  TopkVariant,
} from "./topk_options.ts";
export { autoTopkVariant, uploadTopkKeys } from "./upload_topk_keys.ts";

/**
 * Exact top-`k` most similar keys for every query row, in one fused GPU kernel per key
 * chunk (similarity GEMM + running per-row top-k; the `n × C` score matrix is never
 * stored), with the chunks' partial lists merged on the GPU.
 *
 * @param gpu The GPU context.
 * @param queries `n × d` queries (finite values), on the host or a `GpuMatrix` on the GPU.
 * @param keys `C × d` keys (finite values), on the host or a `GpuMatrix` on the GPU (read in
 * place when f32 with a stride that is a multiple of 4 and, for cosine, normalised).
 * @param options `k`, the list length (an integer in `[1, min(64, C)]`), and the metric,
 * kernel variant and chunking ({@linkcode TopkOptions}).
 * @returns `n × k` indices and scores, each row by descending score, ties by lower index.
 * @throws {RangeError} When `k` is out of range or a row holds NaN/±Infinity (the message
 * names the row).
 * @throws {TypeError} When the matrices are malformed or their widths differ.
 *
 * @example Usage
 * ```ts ignore
 * const { indices, scores } = await topk(gpu, queries, centers, { k: 8 });
 * ```
 */
export async function topk(
  gpu: Gpu,
  queries: Matrix | GpuMatrix,
  keys: Matrix | GpuMatrix,
  options: TopkOptions,
): Promise<TopkResult> {
  checkOptionsObject("topk", options);
  const { k } = options;
  if (!isGpuMatrix(queries)) checkMatrix(queries, "queries");
  if (!isGpuMatrix(keys)) checkMatrix(keys, "keys");
  checkTopkK(k, keys.rows);
  if (queries.cols !== keys.cols) {
    throw new TypeError(
      `Expected queries to have ${keys.cols} columns like the keys but found ${queries.cols}`,
    );
  }
  if (!isGpuMatrix(queries)) checkFinite(queries, "queries");
  const index = uploadTopkKeys(gpu, keys, options);
  try {
    const { onProgress } = options;
    return await index.search(queries, onProgress ? { k, onProgress } : { k });
  } finally {
    index.destroy();
  }
}
