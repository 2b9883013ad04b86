/**
 * The Parquet module (`parquet.ts`, which imports `parquet-wasm` and `apache-arrow` from npm),
 * loaded on first use. The toolkit's core (`mod.ts`: k-means and labelling over embedding files,
 * the row engine of `./data`) calls this instead of importing `parquet.ts`, so that a program
 * that never reads or writes a Parquet file downloads no npm package.
 *
 * As in `load_arrow.ts`, the module's path sits in a variable on purpose (Deno fetches the whole
 * graph of a dynamic import whose specifier is a string literal before the program runs), and
 * the functions' types are declared here, not imported (`deno check` and `deno cache` follow
 * type imports). `tests/entry_points_test.ts` checks that `parquet.ts` matches them.
 *
 * @module
 */

/** A Parquet file opened by `openParquet`: what the core reads of it. */
export interface ParquetFileLike extends Disposable {
  /** The file's top-level columns. */
  readonly columns: readonly { readonly name: string }[];
}

/** A Parquet embedding column opened for row-range reads (`openParquetRows`). */
export interface ParquetRowsLike extends Disposable {
  /** Rows of the file. */
  readonly rows: number;
  /** Values per row. */
  readonly cols: number;
  /** Reads rows `[rowStart, rowStart + count)` as float32, into `out` when given. */
  read(rowStart: number, count: number, out?: Float32Array): Promise<Float32Array>;
}

/** The functions of `parquet.ts` that the core calls. */
export interface ParquetModule {
  /** See `openParquet` in `parquet_file.ts`. */
  openParquet(path: string): Promise<ParquetFileLike>;
  /** See `parquetEmbeddingShape` in `parquet_embeddings.ts`. */
  parquetEmbeddingShape(
    file: string,
    options?: { column?: string },
  ): Promise<{ rows: number; cols: number; dtype: "f2" | "f4" | "f8" }>;
  /** See `openParquetRows` in `parquet_rows.ts`. */
  openParquetRows(
    path: string,
    options?: { column?: string; batchRows?: number },
  ): Promise<ParquetRowsLike>;
  /** See `readParquetKeys` in `parquet_keys.ts`. */
  readParquetKeys(
    path: string,
    options?: { column?: string; rows?: number; embeddings?: string },
  ): Promise<string[]>;
  /** See `writeParquetLabels` in `parquet_labels.ts`. */
  writeParquetLabels(
    path: string,
    table: {
      indices: Uint32Array;
      scores: Float32Array;
      l: number;
      keys?: readonly string[];
      ids?: BigInt64Array | Int32Array;
      firstId?: number;
    },
    options?: { rowGroupRows?: number; compression?: "zstd" | "snappy" | "gzip" | "none" },
  ): Promise<void>;
}

/** Not a literal: see the module's documentation. */
const PARQUET_MODULE: string = "./parquet.ts";

/**
 * The Parquet functions of `parquet.ts`, imported on the first call (later calls reuse it).
 *
 * @returns The `parquet.ts` module, as {@linkcode ParquetModule}.
 *
 * @example Usage
 * ```ts ignore
 * import { loadParquet } from "./load_parquet.ts";
 * const { parquetEmbeddingShape } = await loadParquet();
 * ```
 */
export function loadParquet(): Promise<ParquetModule> {
  return import(PARQUET_MODULE);
}
