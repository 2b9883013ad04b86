/**
 * Multi-label assignment (MLCD step 3): exact fused GPU top-k over cluster centers,
 * streaming assignment of embedding shards, and label files.
 *
 * @example Usage
 * ```ts ignore
 * import { assignLabels, topk } from "./mod.ts";
 * const { indices, scores } = await topk(gpu, queries, centers, { k: 8 });
 * const { indices } = await assignLabels(gpu, ["embeddings/"], centers, { l: 8 });
 * ```
 *
 * @module
 */
export {
  topk,
  type TopkKeys,
  type TopkKeysOptions,
  type TopkMetric,
  type TopkOptions,
  type TopkResult,
  type TopkSearchOptions,
  type TopkTuning,
  type TopkVariant,
  uploadTopkKeys,
} from "./topk.ts";
export { TOPK_MAX_K } from "./topk_programs.ts";
export * from "./assign.ts";
export * from "./labels_io.ts";
