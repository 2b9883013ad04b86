/**
 * Apache Arrow IPC input and output, the one entry for the format: embeddings from a list
 * column (`arrow_embeddings.ts`), labels and keys (`arrow_labels.ts`). Only the private
 * `_arrow_ipc.ts` imports `apache-arrow`; load this module lazily where Arrow input is optional.
 *
 * @module
 */

export {
  type ArrowEmbeddingsOptions,
  decodeArrowEmbeddings,
  type DecodeArrowEmbeddingsOptions,
  encodeArrowEmbeddings,
  readArrowEmbeddings,
  scanArrowEmbeddings,
  writeArrowEmbeddings,
  type WriteArrowEmbeddingsOptions,
} from "./arrow_embeddings.ts";
export {
  type ArrowLabels,
  type ArrowLabelsTable,
  readArrowKeys,
  readArrowLabels,
  writeArrowKeys,
  writeArrowLabels,
} from "./arrow_labels.ts";
