// Retrieval recall@K with the exact cosine top-k kernel.
import type { Gpu } from "../gpu/gpu.ts";
import type { Matrix } from "../matrix/matrix.ts";
import type { GpuMatrix } from "../gpu/gpu_matrix.ts";
import { topk } from "../topk/topk.ts";
import { TOPK_MAX_K } from "../topk/topk_programs.ts";
import { checkOptionsObject } from "../options/check_options_object.ts";

/** Options of {@linkcode retrievalRecall}. */
export interface RetrievalRecallOptions {
  /**
   * `relevant(query, key)` says whether key `key` is a correct answer to query `query` (e.g.
   * same label; exclude the query itself when queries are keys).
   */
  relevant: (query: number, key: number) => boolean;
  /** Cut-offs K, each an integer in `[1, 64]`. @default {[1, 5, 10]} */
  ks?: number[];
}

/**
 * Recall@K: the fraction of queries with at least one relevant key among their K most
 * cosine-similar keys, for every K in `ks`.
 *
 * @param gpu The GPU context.
 * @param queries Query features (on the host or a `GpuMatrix` on the GPU).
 * @param keys Key (database) features, same width (host or GPU).
 * @param options `relevant` and the cut-offs `ks` ({@linkcode RetrievalRecallOptions}).
 * @returns Recall per K, keyed `"R@1"`, `"R@5"`, ...
 * @throws {RangeError} When `ks` is empty or holds a value outside `[1, 64]`.
 * @throws {TypeError} When `relevant` is not a function or the widths differ.
 *
 * @example Usage
 * ```ts ignore
 * const r = await retrievalRecall(gpu, testEmb, trainEmb, {
 *   relevant: (q, k) => testY[q] === trainY[k],
 *   ks: [1, 5, 10],
 * });
 * ```
 */
export async function retrievalRecall(
  gpu: Gpu,
  queries: Matrix | GpuMatrix,
  keys: Matrix | GpuMatrix,
  options: RetrievalRecallOptions,
): Promise<Record<string, number>> {
  checkOptionsObject("retrievalRecall", options, "{ relevant, ks: [1, 5, 10] }");
  const { relevant, ks = [1, 5, 10] } = options;
  if (typeof relevant !== "function") {
    throw new TypeError(
      `Expected retrievalRecall's relevant to be a function (query, key) => boolean but found ${typeof relevant}`,
    );
  }
  if (ks.length === 0 || ks.some((k) => !Number.isInteger(k) || k < 1 || k > TOPK_MAX_K)) {
    throw new RangeError(
      `Expected retrievalRecall's ks to be integers in [1, ${TOPK_MAX_K}] but found ${
        JSON.stringify(ks)
      }`,
    );
  }
  if (queries.cols !== keys.cols) {
    throw new TypeError(
      `Expected queries of width ${keys.cols} like the keys but found ${queries.cols}`,
    );
  }
  if (keys.rows === 0) {
    throw new RangeError(
      "Expected retrievalRecall's keys to hold at least one row but found none",
    );
  }
  const kmax = Math.min(Math.max(...ks), keys.rows);
  const { indices } = await topk(gpu, queries, keys, { k: kmax, metric: "cosine" });
  const out: Record<string, number> = {};
  for (const K of ks) {
    let hit = 0;
    for (let q = 0; q < queries.rows; q++) {
      for (let j = 0; j < Math.min(K, kmax); j++) {
        if (relevant(q, indices[q * kmax + j]!)) {
          hit++;
          break;
        }
      }
    }
    out[`R@${K}`] = queries.rows ? hit / queries.rows : 0;
  }
  return out;
}
