/**
 * Data files: `.npy` and Arrow IPC embeddings (one file or directories of them, read whole,
 * streamed, or as a row source), WebDataset shards (`.tar`) and image folders, atomic writes and
 * the MNIST digits used by the demo.
 *
 * @example Usage
 * ```ts
 * import { readNpy, writeNpy } from "./mod.ts";
 * const path = await Deno.makeTempFile({ suffix: ".npy" });
 * await writeNpy(path, new Float32Array([1, 2, 3, 4]), [2, 2]);
 * console.log((await readNpy(path)).rows); // 2
 * await Deno.remove(path);
 * ```
 *
 * @module
 */

export { atomicWrites, writeFileAtomic } from "../fs/atomic.ts";
export * from "./float16.ts";
export {
  decodeNpy,
  decodeNpyMatrix,
  encodeNpy,
  type EncodeNpyOptions,
  type NpyArray,
  type NpyData,
  type NpyDtype,
  type NpyHeader,
  readNpy,
  readNpyArray,
  readNpyHeader,
  writeNpy,
} from "./npy.ts";
export {
  type ArrowEmbeddingsOptions,
  type ArrowLabels,
  type ArrowLabelsTable,
  decodeArrowEmbeddings,
  type DecodeArrowEmbeddingsOptions,
  encodeArrowEmbeddings,
  readArrowEmbeddings,
  readArrowKeys,
  readArrowLabels,
  writeArrowEmbeddings,
  type WriteArrowEmbeddingsOptions,
  writeArrowKeys,
  writeArrowLabels,
} from "./arrow.ts";
export * from "./embedding_files.ts";
export * from "./row_source.ts";
export * from "./mnist.ts";
export {
  listShards,
  readShard,
  type ReadShardOptions,
  type WebDatasetError,
  type WebDatasetSample,
  writeShard,
} from "./webdataset.ts";
export * from "./image_loader.ts";
export * from "./clip_layout.ts";
