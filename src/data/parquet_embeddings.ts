/**
 * Embeddings stored in a Parquet list column (`list<float>` or a fixed-size list, float32 or
 * float16): the shape from the footer, rows streamed row group by row group, or gathered.
 *
 * @module
 */

import type { Matrix } from "../matrix/matrix.ts";
import { openParquet, type ParquetFile } from "./parquet_file.ts";
import {
  copyListRows,
  firstListLength,
  fixedListSize,
  pickListColumn,
} from "./_parquet_list_rows.ts";

/** The shape of an embedding column, from {@linkcode parquetEmbeddingShape}. */
export interface ParquetEmbeddingShape {
  /** Rows of the file. */
  rows: number;
  /** Values per row. */
  cols: number;
  /** The column read. */
  column: string;
  /** The stored element type: `f2` (float16), `f4` (float32) or `f8` (float64). */
  dtype: "f2" | "f4" | "f8";
  /** Whether the column is a fixed-size list. */
  fixed: boolean;
}

/** Options naming the embedding column. */
export interface ParquetColumnOptions {
  /** The list column. @default {the first list-of-float column} */
  column?: string;
}

/** Options for {@linkcode streamParquetRows}. */
export interface StreamParquetRowsOptions extends ParquetColumnOptions {
  /** First row of the file to yield. @default {0} */
  rowStart?: number;
  /** One past the last row to yield. @default {the file's rows} */
  rowEnd?: number;
  /** The largest batch (a batch never spans two row groups). @default {8192} */
  batchRows?: number;
}

/** One batch yielded by {@linkcode streamParquetRows}. */
export interface ParquetRowBatch {
  /** The rows, as float32. */
  matrix: Matrix;
  /** Index of the batch's first row within the file. */
  fileRow: number;
}

async function withFile<T>(
  file: string | ParquetFile,
  fn: (f: ParquetFile) => Promise<T>,
): Promise<T> {
  if (typeof file !== "string") return await fn(file);
  const f = await openParquet(file);
  try {
    return await fn(f);
  } finally {
    f.close();
  }
}

/** The column and its width: a fixed list's size, else the first row's length. */
async function shapeOf(f: ParquetFile, column: string | undefined): Promise<ParquetEmbeddingShape> {
  const { field, dtype } = pickListColumn(f.path, f.schema.fields, f.columns, column);
  let cols = fixedListSize(field);
  const fixed = cols !== undefined;
  if (cols === undefined) {
    cols = 0;
    const g = f.rowGroups.findIndex((n) => n > 0);
    if (g >= 0) {
      for await (const t of f.streamRowGroup(g, { columns: [field.name], batchRows: 1 })) {
        cols = firstListLength(t, field.name, `${f.path} row ${f.rowGroupStarts[g]}`);
        break;
      }
    }
  }
  if (f.rows > 0 && cols < 1) {
    throw new RangeError(
      `Expected embeddings in column "${field.name}" of ${f.path} but found empty lists`,
    );
  }
  return { rows: f.rows, cols, column: field.name, dtype, fixed };
}

/**
 * Reads the shape of a Parquet embedding column from the footer (and, for a variable-size
 * list, the first row), not the data.
 *
 * @param file A path, or a file opened with {@linkcode openParquet}.
 * @param options `column`: the list column (default the first list-of-float column).
 * @returns Rows, width, column and stored type.
 * @throws {TypeError} When the column is missing or not a list of floats.
 * @throws {RangeError} When the file is truncated or not Parquet.
 *
 * @example Usage
 * ```ts
 * import { parquetEmbeddingShape, writeParquetEmbeddings } from "./parquet.ts";
 * const path = await Deno.makeTempFile({ suffix: ".parquet" });
 * await Deno.remove(path);
 * await writeParquetEmbeddings(path, { data: new Float32Array(6), rows: 3, cols: 2 });
 * console.log(await parquetEmbeddingShape(path)); // { rows: 3, cols: 2, column: "embedding", ... }
 * await Deno.remove(path);
 * ```
 */
export function parquetEmbeddingShape(
  file: string | ParquetFile,
  options: ParquetColumnOptions = {},
): Promise<ParquetEmbeddingShape> {
  return withFile(file, (f) => shapeOf(f, options.column));
}

/**
 * Streams rows of a Parquet embedding column in order, reading one row group at a time (and
 * within it, batches of `batchRows`), never the whole file. Every row is checked: a null row,
 * a null value or a row whose length differs from the first is a one-line RangeError naming
 * the file and the row.
 *
 * @param file A path, or a file opened with {@linkcode openParquet}.
 * @param options `column`, `rowStart`, `rowEnd`, `batchRows`.
 * @returns An async generator of float32 batches with their first row in the file.
 * @throws {TypeError} When the column is missing or not a list of floats.
 * @throws {RangeError} For nulls, ragged rows, a corrupt file or a bad row range.
 *
 * @example Usage
 * ```ts
 * import { streamParquetRows, writeParquetEmbeddings } from "./parquet.ts";
 * const path = await Deno.makeTempFile({ suffix: ".parquet" });
 * await Deno.remove(path);
 * await writeParquetEmbeddings(path, { data: new Float32Array(10), rows: 5, cols: 2 });
 * for await (const b of streamParquetRows(path, { batchRows: 2 })) {
 *   console.log(b.fileRow, b.matrix.rows); // 0 2, then 2 2, then 4 1
 * }
 * await Deno.remove(path);
 * ```
 */
export async function* streamParquetRows(
  file: string | ParquetFile,
  options: StreamParquetRowsOptions = {},
): AsyncGenerator<ParquetRowBatch> {
  const f = typeof file === "string" ? await openParquet(file) : file;
  try {
    const shape = await shapeOf(f, options.column);
    const rowStart = options.rowStart ?? 0, rowEnd = options.rowEnd ?? f.rows;
    const batchRows = options.batchRows ?? 8192;
    if (!Number.isInteger(batchRows) || batchRows < 1) {
      throw new RangeError(`Expected batchRows to be a positive integer but found ${batchRows}`);
    }
    if (
      !(Number.isInteger(rowStart) && Number.isInteger(rowEnd)) || rowStart < 0 ||
      rowEnd > f.rows || rowStart > rowEnd
    ) {
      throw new RangeError(
        `Expected rows [${rowStart}, ${rowEnd}) within the ${f.rows} rows of ${f.path}`,
      );
    }
    const starts = f.rowGroupStarts, cols = shape.cols, name = shape.column;
    for (let g = 0; g < f.rowGroups.length; g++) {
      const g0 = starts[g]!, g1 = starts[g + 1]!;
      if (g1 <= rowStart || g0 >= rowEnd) continue;
      let at = g0;
      for await (const t of f.streamRowGroup(g, { columns: [name], batchRows })) {
        const lo = Math.max(rowStart, at), hi = Math.min(rowEnd, at + t.numRows);
        if (hi > lo) {
          const data = new Float32Array((hi - lo) * cols);
          copyListRows(t, name, cols, lo - at, hi - at, data, 0, (i) => `${f.path} row ${at + i}`);
          yield { matrix: { data, rows: hi - lo, cols }, fileRow: lo };
        }
        at += t.numRows;
        if (at >= rowEnd) break;
      }
      if (at !== g1 && at < rowEnd) {
        throw new RangeError(
          `Expected ${g1 - g0} rows in row group ${g} of ${f.path} but read ${at - g0}`,
        );
      }
    }
  } finally {
    if (typeof file === "string") f.close();
  }
}

/**
 * Reads rows `[rowStart, rowEnd)` of a Parquet embedding column into one float32 matrix,
 * decoding only the row groups that hold them.
 *
 * @param file A path, or a file opened with {@linkcode openParquet}.
 * @param options `column`, `rowStart` (default 0), `rowEnd` (default all), `into` (a
 * `(rowEnd − rowStart) × cols` array to fill instead of allocating).
 * @returns The rows.
 * @throws {TypeError} When the column is missing or not a list of floats.
 * @throws {RangeError} For nulls, ragged rows, a corrupt file or a bad range.
 *
 * @example Usage
 * ```ts
 * import { readParquetRows, writeParquetEmbeddings } from "./parquet.ts";
 * const path = await Deno.makeTempFile({ suffix: ".parquet" });
 * await Deno.remove(path);
 * await writeParquetEmbeddings(path, { data: Float32Array.from([0, 1, 2, 3]), rows: 2, cols: 2 });
 * console.log((await readParquetRows(path, { rowStart: 1 })).data); // Float32Array(2) [ 2, 3 ]
 * await Deno.remove(path);
 * ```
 */
export function readParquetRows(
  file: string | ParquetFile,
  options: StreamParquetRowsOptions & { into?: Float32Array } = {},
): Promise<Matrix> {
  return withFile(file, async (f) => {
    const { cols } = await shapeOf(f, options.column);
    const rowStart = options.rowStart ?? 0, rowEnd = options.rowEnd ?? f.rows;
    const n = Math.max(0, rowEnd - rowStart);
    const out = options.into ?? new Float32Array(n * cols);
    if (out.length < n * cols) {
      throw new RangeError(`Expected into to hold ${n * cols} values but found ${out.length}`);
    }
    for await (const b of streamParquetRows(f, { ...options, rowStart, rowEnd })) {
      out.set(b.matrix.data, (b.fileRow - rowStart) * cols);
    }
    return { data: out.subarray(0, n * cols), rows: n, cols };
  });
}

/**
 * Gathers the given rows of a Parquet embedding column, decoding only the row groups that
 * hold one of them.
 *
 * @param file A path, or a file opened with {@linkcode openParquet}.
 * @param rows File rows, sorted ascending (repeats allowed).
 * @param options `column`; `into` and `intoRow`: write row `i` at row `intoRow + i` of `into`;
 * `cols`: the width the caller expects (another width is a TypeError before any read).
 * @returns A `rows.length × cols` matrix (a view of `into` when given).
 * @throws {RangeError} When `rows` is unsorted or out of range, or the rows are bad.
 *
 * @example Usage
 * ```ts
 * import { gatherParquetRows, writeParquetEmbeddings } from "./parquet.ts";
 * const path = await Deno.makeTempFile({ suffix: ".parquet" });
 * await Deno.remove(path);
 * await writeParquetEmbeddings(path, { data: Float32Array.from([0, 1, 2, 3]), rows: 4, cols: 1 });
 * console.log((await gatherParquetRows(path, new Uint32Array([1, 3]))).data); // [ 1, 3 ]
 * await Deno.remove(path);
 * ```
 */
export function gatherParquetRows(
  file: string | ParquetFile,
  rows: Uint32Array,
  options: ParquetColumnOptions & { into?: Float32Array; intoRow?: number; cols?: number } = {},
): Promise<Matrix> {
  return withFile(file, async (f) => {
    const { cols, column } = await shapeOf(f, options.column);
    if (options.cols !== undefined && options.cols !== cols) {
      throw new TypeError(
        `Expected every embedding file to have ${options.cols} columns but found ${cols} in ${f.path}`,
      );
    }
    for (let i = 0; i < rows.length; i++) {
      if (rows[i]! >= f.rows || (i > 0 && rows[i]! < rows[i - 1]!)) {
        throw new RangeError(
          `Expected sorted rows below ${f.rows} (${f.path}) but found ${rows[i]} at position ${i}`,
        );
      }
    }
    const intoRow = options.intoRow ?? 0;
    const out = options.into ?? new Float32Array(rows.length * cols);
    const starts = f.rowGroupStarts;
    let i = 0;
    for (let g = 0; g < f.rowGroups.length && i < rows.length; g++) {
      const g1 = starts[g + 1]!;
      if (rows[i]! >= g1) continue;
      let at = starts[g]!;
      for await (const t of f.streamRowGroup(g, { columns: [column] })) {
        const end = at + t.numRows;
        for (; i < rows.length && rows[i]! < end; i++) {
          const r = rows[i]! - at;
          copyListRows(
            t,
            column,
            cols,
            r,
            r + 1,
            out,
            intoRow + i,
            (j) => `${f.path} row ${at + j}`,
          );
        }
        at = end;
        if (i >= rows.length || rows[i]! >= g1) break;
      }
    }
    const view = out.subarray(intoRow * cols, (intoRow + rows.length) * cols);
    return { data: view, rows: rows.length, cols };
  });
}
