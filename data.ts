/**
 * Embeddings and labels in files: `.npy` (read whole, by header, by row range; written
 * atomically) and Arrow IPC (embedding list columns, label tables, keys), directories of
 * embedding files read whole or streamed, row sources split into parts, clip-retrieval's
 * layout, float16 conversion and atomic writes. npm: `apache-arrow`.
 *
 * @example Write and read a .npy file
 * ```ts
 * import { readNpy, writeNpy } from "./data.ts";
 * const path = await Deno.makeTempFile({ suffix: ".npy" });
 * await writeNpy(path, new Float32Array([1, 2, 3, 4]), [2, 2]);
 * console.log((await readNpy(path)).rows); // 2
 * await Deno.remove(path);
 * ```
 *
 * @module
 */
export { atomicWrites, writeFileAtomic } from "./src/data/atomic.ts";
export * from "./src/data/float16.ts";
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
} from "./src/data/npy.ts";
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
} from "./src/data/arrow.ts";
export * from "./src/data/embedding_files.ts";
export * from "./src/data/row_source.ts";
export * from "./src/data/clip_layout.ts";
