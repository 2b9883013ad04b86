// Retrieval recall@K with the exact cosine top-k kernel.
import type { Gpu } from "../gpu/gpu.ts";
import type { Matrix } from "../matrix/matrix.ts";
import type { GpuMatrix } from "../gpu/gpu_matrix.ts";
import { topk } from "../topk/topk.ts";

/**
 * Recall@K: the fraction of queries with at least one relevant key among their K most
 * cosine-similar keys, for every K in `ks`.
 *
 * @param gpu The GPU context.
 * @param queries Query features (on the host or a `GpuMatrix` on the GPU).
 * @param keys Key (database) features, same width (host or GPU).
 * @param relevant `relevant(query, key)` says whether key `key` is a correct answer to
 * query `query` (e.g. same label; exclude the query itself when queries are keys).
 * @param ks Cut-offs, each in [1, 64]. @default {[1, 5, 10]}
 * @returns Recall per K, keyed `"R@1"`, `"R@5"`, ...
 *
 * @example Usage
 * ```ts ignore
 * const r = await retrievalRecall(gpu, testEmb, trainEmb, (q, k) => testY[q] === trainY[k]);
 * ```
 */
export async function retrievalRecall(
  gpu: Gpu,
  queries: Matrix | GpuMatrix,
  keys: Matrix | GpuMatrix,
  relevant: (query: number, key: number) => boolean,
  ks: number[] = [1, 5, 10],
): Promise<Record<string, number>> {
  if (ks.length === 0 || ks.some((k) => !Number.isInteger(k) || k < 1)) {
    throw new RangeError(`Expected ks to be positive integers but found ${JSON.stringify(ks)}`);
  }
  const kmax = Math.min(Math.max(...ks), keys.rows);
  const { indices } = await topk(gpu, queries, keys, kmax, {
    metric: "cosine",
  });
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
