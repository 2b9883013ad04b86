/**
 * Parquet input and output (arrow-rs compiled to WebAssembly, `parquet-wasm`): files streamed
 * row group by row group; embeddings from a list column; sample keys from clip-retrieval's
 * `metadata_<i>.parquet`; MLCD labels and metadata written zstd-compressed. Not part of the
 * npm-free core: import it from `@mlcd/mlcd/parquet`.
 *
 * @example Labels for three samples, read back
 * ```ts
 * import { readParquetLabels, writeParquetLabels } from "./parquet.ts";
 * const path = await Deno.makeTempFile({ suffix: ".parquet" });
 * await Deno.remove(path);
 * const indices = new Uint32Array([0, 1, 1, 2, 2, 0]);
 * const scores = new Float32Array([0.9, 0.1, 0.8, 0.2, 0.7, 0.3]);
 * await writeParquetLabels(path, { indices, scores, l: 2, keys: ["a", "b", "c"] });
 * console.log((await readParquetLabels(path)).rows); // 3
 * await Deno.remove(path);
 * ```
 *
 * @module
 */

export { type ArrowTable, openParquet, type ParquetColumn, ParquetFile } from "./parquet_file.ts";
export {
  gatherParquetRows,
  type ParquetColumnOptions,
  type ParquetEmbeddingShape,
  parquetEmbeddingShape,
  type ParquetRowBatch,
  readParquetRows,
  streamParquetRows,
  type StreamParquetRowsOptions,
} from "./parquet_embeddings.ts";
export { openParquetRows, type OpenParquetRowsOptions, type ParquetRows } from "./parquet_rows.ts";
export { readKeyColumn, readParquetKeys, type ReadParquetKeysOptions } from "./parquet_keys.ts";
export {
  type ParquetLabels,
  type ParquetLabelsTable,
  readParquetLabels,
  writeParquetLabels,
} from "./parquet_labels.ts";
export { type ParquetMetadataColumns, writeParquetMetadata } from "./write_parquet_metadata.ts";
export {
  writeParquetEmbeddings,
  type WriteParquetEmbeddingsOptions,
} from "./write_parquet_embeddings.ts";
export type { ParquetCompression, ParquetWriteOptions } from "./_parquet_write.ts";
