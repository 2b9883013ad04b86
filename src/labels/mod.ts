/**
 * MLCD's labelling step (paper step 3): every embedding row gets its `l` most similar
 * cluster centers as positive labels, exactly, on the GPU (the top-k search of `src/topk`,
 * with embedding shards streamed through it), and the label files are written atomically.
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
