/**
 * Embeddings written as a Parquet list column (`FixedSizeList[d]` of float32 or float16, as
 * arrow-rs and pyarrow write it), with an optional `key` column.
 *
 * @module
 */

import { arrow } from "./_arrow_ipc.ts";
import { checkMatrix, type Matrix } from "../matrix/matrix.ts";
import { type ParquetWriteOptions, writeTableParquet } from "./_parquet_write.ts";

/** Options for {@linkcode writeParquetEmbeddings}. */
export interface WriteParquetEmbeddingsOptions extends ParquetWriteOptions {
  /** The column's name. @default {"embedding"} */
  column?: string;
  /** Stored element type: float32, or float16 (rounded to nearest). @default {"f4"} */
  dtype?: "f4" | "f2";
  /** A `key` column written first, one key per row. */
  keys?: readonly string[];
  /** A variable-size `list<float>` instead of a fixed-size list. @default {false} */
  variable?: boolean;
}

/**
 * Writes a matrix as a Parquet embedding column, atomically.
 *
 * @param path The file.
 * @param m The rows.
 * @param options `column`, `dtype`, `keys`, `variable`, `rowGroupRows`, `compression`.
 * @throws {TypeError} For a bad matrix or key count.
 *
 * @example Usage
 * ```ts
 * import { readParquetRows, writeParquetEmbeddings } from "./parquet.ts";
 * const path = await Deno.makeTempFile({ suffix: ".parquet" });
 * await Deno.remove(path);
 * await writeParquetEmbeddings(path, { data: Float32Array.from([1, 2]), rows: 1, cols: 2 }, { dtype: "f2" });
 * console.log((await readParquetRows(path)).data); // Float32Array(2) [ 1, 2 ]
 * await Deno.remove(path);
 * ```
 */
export async function writeParquetEmbeddings(
  path: string,
  m: Matrix,
  options: WriteParquetEmbeddingsOptions = {},
): Promise<void> {
  checkMatrix(m, "embeddings");
  const { rows, cols } = m;
  const half = (options.dtype ?? "f4") === "f2";
  if (!half && options.dtype !== undefined && options.dtype !== "f4") {
    throw new RangeError(`Expected dtype "f4" or "f2" but found ${options.dtype}`);
  }
  const type = half ? new arrow.Float16() : new arrow.Float32();
  const values = half
    ? new Uint16Array(new Float16Array(m.data.subarray(0, rows * cols)).buffer)
    : m.data.subarray(0, rows * cols);
  const child = arrow.makeData({ type, length: rows * cols, data: values, nullCount: 0 });
  const field = new arrow.Field("element", type, false);
  const list = options.variable
    ? arrow.makeData({
      type: new arrow.List(field),
      length: rows,
      nullCount: 0,
      valueOffsets: new Int32Array(rows + 1).map((_, i) => i * cols),
      child,
    })
    : arrow.makeData({
      type: new arrow.FixedSizeList(cols, field),
      length: rows,
      nullCount: 0,
      child,
    });
  const table: Record<string, arrow.Vector> = {};
  if (options.keys) {
    if (options.keys.length !== rows) {
      throw new TypeError(`Expected ${rows} keys (one per row) but found ${options.keys.length}`);
    }
    table.key = arrow.vectorFromArray(options.keys as string[], new arrow.Utf8());
  }
  table[options.column ?? "embedding"] = arrow.makeVector(list as arrow.Data);
  await writeTableParquet(path, new arrow.Table(table), options);
}
