/**
 * MLCD's labelling step (paper step 3): every embedding row gets its `l` most similar
 * cluster centers as positive labels on the GPU (the exact top-k search of `src/topk`, or
 * for many centers the IVF index of `src/ivf`, with embedding shards streamed through it),
 * recall@l can be measured against exact search on a sample, and the label files are
 * written atomically.
 *
 * @example Usage
 * ```ts ignore
 * import { assignLabels, writeLabels } from "./mod.ts";
 * const labels = await assignLabels(gpu, ["embeddings/"], centers, { l: 8 });
 * await writeLabels("labels.arrow", labels);
 * ```
 *
 * @module
 */
export {
  assignLabels,
  type AssignLabelsOptions,
  type AssignLabelsResult,
} from "./assign_labels.ts";
export { type LabelsTable, scoresPath, writeLabels } from "./write_labels.ts";
export {
  LABELS_IVF_UNTIMED_MIN_K,
  type LabelSearch,
  type LabelSearchOptions,
  openLabelSearch,
} from "./label_search.ts";
export { type LabelRecallOptions, measureLabelRecall } from "./label_recall.ts";
