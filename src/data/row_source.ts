/**
 * Row sources: a row-addressable view over embedding files (`.npy`, Parquet, Arrow) that is
 * never read whole. Open one from files and directories, split it into deterministic contiguous parts,
 * stream its rows in batches, or gather a sorted set of rows (a training sample). The rows are
 * read by the same private engine (`_file_rows.ts`) as `embedding_files.ts`'s path-level
 * `readEmbeddings` and `streamEmbeddings`.
 *
 * @module
 */

import type { Matrix } from "../matrix/matrix.ts";
import { listEmbeddingFiles } from "./embedding_files.ts";
import {
  checkBatchRows,
  gatherFileRows,
  openFileRows,
  readFileSet,
  streamFileRows,
} from "./_file_rows.ts";
import { checkOptionsObject } from "../_options.ts";

/**
 * Rows `[rowStart, rowEnd)` of one embedding file (`.npy` or Arrow).
 *
 * @example Usage
 * ```ts
 * import type { FileSlice } from "./row_source.ts";
 * const slice: FileSlice = { file: "emb/img_emb_0.npy", rowStart: 0, rowEnd: 1000 };
 * console.log(slice.rowEnd - slice.rowStart); // 1000
 * ```
 */
export interface FileSlice {
  /** The file. */
  file: string;
  /** First row of the file in the slice. */
  rowStart: number;
  /** One past the last row of the file in the slice. */
  rowEnd: number;
}

/**
 * A row-addressable view over embedding files that is never read whole: what out-of-core
 * k-means and the scale-out jobs take as input. Rows are numbered in the concatenation of its
 * slices.
 *
 * @example Usage
 * ```ts
 * import { openRowSource } from "./row_source.ts";
 * import { writeNpy } from "./npy.ts";
 * const path = await Deno.makeTempFile({ suffix: ".npy" });
 * await writeNpy(path, new Float32Array(12), [6, 2]);
 * const source = await openRowSource([path]);
 * console.log(source.rows, source.cols, source.globalStart); // 6 2 0
 * await Deno.remove(path);
 * ```
 */
export interface RowSource {
  /** The file slices, in order. */
  slices: FileSlice[];
  /** Total rows of the slices. */
  rows: number;
  /** Columns of every row. */
  cols: number;
  /** Arrow embedding column (the first list column when absent). */
  column?: string;
  /** Index of this source's first row in the full file list's concatenation. */
  globalStart: number;
}

/**
 * Lists files like {@linkcode listEmbeddingFiles} (directories in natural name order) and
 * reads only their headers (`.npy`); an Arrow file is parsed, not converted, to count its
 * rows.
 *
 * @param inputs Files and directories.
 * @param options `column`: the Arrow embedding column; `onFile`: called for each file with
 * its row count and stored element type (`"f2"`, `"f4"`, `"f8"` for `.npy`, read as float32;
 * `"arrow"`).
 * @returns A source over all rows of all files.
 * @throws {Deno.errors.NotFound} When an input does not exist.
 * @throws {RangeError} When no file is found, or a file is corrupt.
 * @throws {TypeError} When files disagree on the column count (naming both).
 *
 * @example Usage
 * ```ts
 * import { openRowSource } from "./row_source.ts";
 * import { writeNpy } from "./npy.ts";
 * const dir = await Deno.makeTempDir();
 * await writeNpy(`${dir}/a_0.npy`, new Float32Array(6), [3, 2]);
 * await writeNpy(`${dir}/a_1.npy`, new Float32Array(4), [2, 2]);
 * const source = await openRowSource([dir]);
 * console.log(source.rows, source.slices.length); // 5 2
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function openRowSource(
  inputs: string[],
  options: {
    column?: string;
    onFile?: (file: string, rows: number, dtype: string) => void;
  } = {},
): Promise<RowSource> {
  const set = await readFileSet(await listEmbeddingFiles(inputs), options.column);
  for (const s of set.shapes) options.onFile?.(s.file, s.rows, s.dtype);
  const source: RowSource = {
    slices: set.ranges,
    rows: set.rows,
    cols: set.layout.cols,
    globalStart: 0,
  };
  if (options.column !== undefined) source.column = options.column;
  return source;
}

function checkSource(source: RowSource): void {
  if (source === null || typeof source !== "object" || !Array.isArray(source.slices)) {
    throw new TypeError(`Expected a RowSource but found ${source}`);
  }
}

/**
 * Deterministic contiguous split: part `index` of `count` holds rows
 * `[floor(index·n/count), floor((index+1)·n/count))` of the source's concatenation. The split
 * depends only on the file list and row counts, and concatenating the parts in order gives
 * all rows.
 *
 * @param source The source to split.
 * @param options `index`, the part (an integer in `[0, count)`), and `count`, the number of
 * parts (an integer ≥ 1).
 * @returns The part, with `globalStart` shifted to its first row.
 * @throws {RangeError} For a bad `index` or `count`.
 *
 * @example Usage
 * ```ts
 * import { openRowSource, partOf } from "./row_source.ts";
 * import { writeNpy } from "./npy.ts";
 * const path = await Deno.makeTempFile({ suffix: ".npy" });
 * await writeNpy(path, new Float32Array(10), [10, 1]);
 * const part = partOf(await openRowSource([path]), { index: 1, count: 3 });
 * console.log(part.globalStart, part.rows); // 3 3
 * await Deno.remove(path);
 * ```
 */
export function partOf(
  source: RowSource,
  options: { index: number; count: number },
): RowSource {
  checkSource(source);
  checkOptionsObject("partOf", options, "{ index: 0, count: 4 }");
  const { index, count } = options;
  if (!Number.isInteger(count) || count < 1) {
    throw new RangeError(`Expected the part count to be an integer ≥ 1 but found ${count}`);
  }
  if (!Number.isInteger(index) || index < 0 || index >= count) {
    throw new RangeError(
      `Expected the part index to be an integer in [0, ${count - 1}] but found ${index}`,
    );
  }
  const n = source.rows;
  const start = Math.floor((index * n) / count);
  const end = Math.floor(((index + 1) * n) / count);
  const slices: FileSlice[] = [];
  let at = 0;
  for (const s of source.slices) {
    const len = s.rowEnd - s.rowStart;
    const lo = Math.max(start, at), hi = Math.min(end, at + len);
    if (hi > lo) {
      slices.push({ file: s.file, rowStart: s.rowStart + lo - at, rowEnd: s.rowStart + hi - at });
    }
    at += len;
  }
  const part: RowSource = {
    slices,
    rows: end - start,
    cols: source.cols,
    globalStart: source.globalStart + start,
  };
  if (source.column !== undefined) part.column = source.column;
  return part;
}

/** One batch yielded by {@linkcode streamRows}. */
export interface RowBatch {
  /** The batch's rows: a fresh array the caller may keep, or with `reuse` a view of a reused buffer. */
  matrix: Matrix;
  /** Index of the batch's first row within the source. */
  rowStart: number;
  /** The file the rows come from. */
  file: string;
  /** Index of the batch's first row within that file. */
  fileRow: number;
}

/** The width and Arrow column every file of the source must have. */
function layoutOf(source: RowSource): { cols: number; column?: string } {
  return source.column === undefined
    ? { cols: source.cols }
    : { cols: source.cols, column: source.column };
}

/**
 * Streams the source's rows in order, in batches of at most `batchRows` rows (a batch stays
 * within one file). `.npy` slices are read incrementally by row range, Parquet ones by row
 * group; an Arrow file is decoded one whole file at a time.
 *
 * @param source The rows to stream.
 * @param options `batchRows`: the largest batch (default 65536). `reuse`: yield views into
 * two alternating buffers instead of fresh arrays, so a long stream makes no garbage; the
 * caller must be done with a batch before it asks for the batch after the next (default
 * false).
 * @returns An async generator of {@linkcode RowBatch}es; `rowStart` is the index within the
 * source.
 * @throws {RangeError} For a bad `batchRows`, or a corrupt file.
 * @throws {TypeError} For a file whose width changed.
 *
 * @example Usage
 * ```ts
 * import { openRowSource, streamRows } from "./row_source.ts";
 * import { writeNpy } from "./npy.ts";
 * const path = await Deno.makeTempFile({ suffix: ".npy" });
 * await writeNpy(path, new Float32Array(10), [5, 2]);
 * for await (const b of streamRows(await openRowSource([path]), { batchRows: 2 })) {
 *   console.log(b.rowStart, b.matrix.rows); // 0 2, then 2 2, then 4 1
 * }
 * await Deno.remove(path);
 * ```
 */
export async function* streamRows(
  source: RowSource,
  options: { batchRows?: number; reuse?: boolean } = {},
): AsyncGenerator<RowBatch> {
  checkSource(source);
  const batchRows = options.batchRows ?? 65536;
  checkBatchRows(batchRows);
  yield* streamFileRows(source.slices, layoutOf(source), {
    batchRows,
    reuse: options.reuse ?? false,
    rows: source.rows,
  });
}

/**
 * Gathers the given rows of the source into one matrix, reading only what is needed: `.npy`
 * files by positioned reads (nearby rows coalesced into blocks of at most 4 MiB), Parquet files
 * by the row groups that hold the rows, Arrow files decoded once each.
 *
 * @param source The source.
 * @param rows Row indices within the source, sorted ascending (repeats allowed).
 * @returns A `rows.length × cols` matrix, row `i` being source row `rows[i]`.
 * @throws {RangeError} When `rows` is not sorted or holds an index ≥ `source.rows`.
 *
 * @example Usage
 * ```ts
 * import { gatherRows, openRowSource } from "./row_source.ts";
 * import { writeNpy } from "./npy.ts";
 * const path = await Deno.makeTempFile({ suffix: ".npy" });
 * await writeNpy(path, new Float32Array([0, 1, 2, 3, 4, 5]), [6, 1]);
 * const m = await gatherRows(await openRowSource([path]), new Uint32Array([1, 4]));
 * console.log(m.data); // Float32Array(2) [ 1, 4 ]
 * await Deno.remove(path);
 * ```
 */
export async function gatherRows(source: RowSource, rows: Uint32Array): Promise<Matrix> {
  checkSource(source);
  if (!(rows instanceof Uint32Array)) {
    throw new TypeError(`Expected rows to be a Uint32Array but found ${rows}`);
  }
  for (let i = 0; i < rows.length; i++) {
    if (rows[i]! >= source.rows) {
      throw new RangeError(
        `Expected row indices below ${source.rows} but found ${rows[i]} at position ${i}`,
      );
    }
    if (i > 0 && rows[i]! < rows[i - 1]!) {
      throw new RangeError(
        `Expected row indices sorted ascending but found ${rows[i]} after ${
          rows[i - 1]
        } at position ${i}`,
      );
    }
  }
  const cols = source.cols, layout = layoutOf(source);
  const out = new Float32Array(rows.length * cols);
  let i = 0; // next wanted row
  let at = 0; // source index of the slice's first row
  for (const slice of source.slices) {
    const len = slice.rowEnd - slice.rowStart;
    const end = at + len;
    if (i < rows.length && rows[i]! < end) {
      const first = i;
      while (i < rows.length && rows[i]! < end) i++;
      const want = rows.subarray(first, i);
      const base = slice.rowStart - at; // file row = source row + base
      using file = await openFileRows(slice.file, layout, slice.rowEnd);
      await gatherFileRows(file, want, base, cols, out, first);
    }
    at = end;
  }
  return { data: out, rows: rows.length, cols };
}
