/**
 * Exact fused top-k on the GPU: the `k` most similar keys (cluster centers, training
 * embeddings) of every query row, with the keys resident across query batches. MLCD's
 * labelling step built on it is `assignLabels` in `src/labels/`.
 *
 * @example Usage
 * ```ts ignore
 * import { topk, uploadTopkKeys } from "./mod.ts";
 * const { indices, scores } = await topk(gpu, queries, centers, { k: 8 });
 * const index = uploadTopkKeys(gpu, centers);
 * const batch = await index.search(queries, { k: 8 });
 * index.destroy();
 * ```
 *
 * @module
 */
export { topk } from "./topk.ts";
export { uploadTopkKeys } from "./upload_topk_keys.ts";
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
export { TOPK_MAX_K } from "./topk_programs.ts";
