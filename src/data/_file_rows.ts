// Private to src/data: the one engine that reads rows of embedding files (`.npy`, Arrow IPC,
// Parquet).
// Both public faces call it: embedding_files.ts (inputs as paths: readEmbeddings,
// streamEmbeddings) and row_source.ts (a RowSource: streamRows, gatherRows). It tells the
// formats apart, reads every file's shape without its rows, opens a file for row-range reads
// (checking its width against the set), streams file slices in batches, and gathers sorted
// rows with coalesced reads.

import type { Matrix } from "../matrix/matrix.ts";
import type { NpyHeader } from "./_npy_format.ts";
import { npyMatrixShape, readNpyFileHeader, readNpyRows } from "./npy_rows.ts";
// Arrow (npm: apache-arrow) is loaded when an Arrow file is read, never before.
import { loadArrow as arrow } from "./load_arrow.ts";
import { loadParquet } from "./load_parquet.ts";

/** The Parquet reader, loaded on first use: `parquet-wasm` (npm) only for a Parquet file. */
const parquet = loadParquet;

/** A Parquet file (embeddings in a list column), by its extension. */
export function isParquet(path: string): boolean {
  return /\.parquet$/i.test(path);
}

/**
 * How to read a file: by its extension (`.npy`; `.arrow`, `.feather`, `.ipc`), else by its
 * first bytes (the npy magic string, else Arrow). An empty file is refused by name.
 */
export async function isNpy(path: string): Promise<boolean> {
  using file = await Deno.open(path);
  const size = (await file.stat()).size;
  if (size === 0) {
    throw new RangeError(`Expected ${path} to hold embeddings but found an empty file (0 bytes)`);
  }
  const lower = path.toLowerCase();
  if (lower.endsWith(".npy")) return true;
  if ([".arrow", ".feather", ".ipc"].some((ext) => lower.endsWith(ext))) return false;
  const head = new Uint8Array(6);
  let got = 0;
  while (got < 6) {
    const n = await file.read(head.subarray(got));
    if (n === null) break;
    got += n;
  }
  return got === 6 && head[0] === 0x93 && head[1] === 0x4e && head[2] === 0x55 &&
    head[3] === 0x4d && head[4] === 0x50 && head[5] === 0x59;
}

/** One embedding file's shape and stored element type, read without its rows. */
export interface FileShape {
  /** The file. */
  file: string;
  /** Rows of the file. */
  rows: number;
  /** Columns of every row. */
  cols: number;
  /** The npy or Parquet dtype (`f2`, `f4`, `f8`; read as float32), or `arrow`. */
  dtype: string;
}

/** The width every file of a set must have, and the Arrow embedding column. */
export interface RowLayout {
  /** Columns of every row. */
  cols: number;
  /** Arrow or Parquet embedding column (the first list column when absent). */
  column?: string;
}

/** Rows `[rowStart, rowEnd)` of one file: a slice of a set of embedding files. */
export interface FileRange {
  /** The file. */
  file: string;
  /** First row of the file in the range. */
  rowStart: number;
  /** One past the last row of the file in the range. */
  rowEnd: number;
}

/** A set of embedding files, ready to read: every file's shape, and all of their rows. */
export interface FileSet {
  /** Every file's shape, in order. */
  shapes: FileShape[];
  /** Every file's rows, `[0, rows)`, in order. */
  ranges: FileRange[];
  /** Rows of all files. */
  rows: number;
  /** The width of every file (the first file's), and the Arrow column. */
  layout: RowLayout;
}

/**
 * Reads each file's shape (npy: the header only; Parquet: the footer; Arrow: parsed but not
 * converted) and checks that every file has the first one's width (a TypeError naming both
 * files).
 */
export async function readFileSet(files: string[], column: string | undefined): Promise<FileSet> {
  const shapes: FileShape[] = [];
  for (const file of files) {
    if (isParquet(file)) {
      const options = column === undefined ? {} : { column };
      const { rows, cols, dtype } = await (await parquet()).parquetEmbeddingShape(file, options);
      shapes.push({ file, rows, cols, dtype });
    } else if (await isNpy(file)) {
      using handle = await Deno.open(file);
      const header = await readNpyFileHeader(handle, file);
      shapes.push({ file, dtype: header.dtype, ...npyMatrixShape(header, file) });
    } else {
      const options = column === undefined ? {} : { column };
      const { scanArrowEmbeddings } = await arrow();
      shapes.push({
        file,
        dtype: "arrow",
        ...scanArrowEmbeddings(await Deno.readFile(file), options, file),
      });
    }
    const first = shapes[0]!, last = shapes[shapes.length - 1]!;
    if (last.cols !== first.cols) {
      throw new TypeError(
        `Expected every embedding file to have ${first.cols} columns (as ${first.file}) but found ${last.cols} in ${last.file}`,
      );
    }
  }
  const layout: RowLayout = { cols: shapes[0]!.cols };
  if (column !== undefined) layout.column = column;
  return {
    shapes,
    ranges: shapes.map((s) => ({ file: s.file, rowStart: 0, rowEnd: s.rows })),
    rows: shapes.reduce((a, s) => a + s.rows, 0),
    layout,
  };
}

/** One open embedding file. Dispose of it (`using`) to close it. */
export interface FileRows extends Disposable {
  /**
   * Reads rows `[rowStart, rowStart + count)` as float32 into `out` (`count × cols` values),
   * or into a fresh array when `out` is omitted.
   */
  read(rowStart: number, count: number, out?: Float32Array): Promise<Float32Array>;
}

function widthError(layout: RowLayout, cols: number, file: string): TypeError {
  return new TypeError(
    `Expected every embedding file to have ${layout.cols} columns but found ${cols} in ${file}`,
  );
}

/**
 * Opens one file of a set for row reads, checking its width against `layout`. A `.npy` file is
 * read by positioned reads (float16/float64 converted in bounded chunks); a Parquet file by row
 * group, a forward cursor decoding each row group once for ascending reads. An Arrow file is
 * parsed whole and converted once, on the first read; a first read of the whole file into
 * `out` converts straight into it. An Arrow file must hold at least `rowEnd` rows.
 */
export async function openFileRows(
  file: string,
  layout: RowLayout,
  rowEnd: number,
): Promise<FileRows> {
  if (isParquet(file)) {
    const options = layout.column === undefined ? {} : { column: layout.column };
    const rows = await (await parquet()).openParquetRows(file, options);
    if (rows.cols !== layout.cols || rowEnd > rows.rows) {
      rows[Symbol.dispose]();
      if (rows.cols !== layout.cols) throw widthError(layout, rows.cols, file);
      throw new RangeError(
        `Expected ${file} to hold at least ${rowEnd} rows but found ${rows.rows}`,
      );
    }
    return rows;
  }
  if (await isNpy(file)) {
    const handle = await Deno.open(file);
    let header: NpyHeader;
    try {
      header = await readNpyFileHeader(handle, file);
      const { cols } = npyMatrixShape(header, file);
      if (cols !== layout.cols) throw widthError(layout, cols, file);
    } catch (error) {
      handle.close();
      throw error;
    }
    return {
      read: (rowStart, count, out) => readNpyRows(handle, header, rowStart, count, out, file),
      [Symbol.dispose]: () => handle.close(),
    };
  }
  const options = layout.column === undefined ? {} : { column: layout.column };
  const { decodeArrowEmbeddings, scanArrowEmbeddings } = await arrow();
  let bytes: Uint8Array | undefined = await Deno.readFile(file);
  const { rows, cols } = scanArrowEmbeddings(bytes, options, file);
  if (cols !== layout.cols) throw widthError(layout, cols, file);
  if (rowEnd > rows) {
    throw new RangeError(`Expected ${file} to hold at least ${rowEnd} rows but found ${rows}`);
  }
  let decoded: Float32Array | undefined;
  return {
    read: (rowStart, count, out) => {
      if (!decoded && out && rowStart === 0 && count === rows) {
        decodeArrowEmbeddings(bytes!, { ...options, into: out, name: file });
        return Promise.resolve(out);
      }
      if (!decoded) {
        decoded = decodeArrowEmbeddings(bytes!, { ...options, name: file }).data;
        bytes = undefined; // converted: the file's bytes are no longer needed
      }
      const values = decoded.subarray(rowStart * cols, (rowStart + count) * cols);
      if (!out) return Promise.resolve(values.slice());
      out.set(values);
      return Promise.resolve(out);
    },
    [Symbol.dispose]: () => {},
  };
}

/**
 * Refuses a batch size that is not a positive integer.
 *
 * @throws {RangeError} Naming `batchRows` and the value.
 */
export function checkBatchRows(batchRows: number): void {
  if (!Number.isInteger(batchRows) || batchRows < 1) {
    throw new RangeError(`Expected batchRows to be a positive integer but found ${batchRows}`);
  }
}

/** One batch of {@linkcode streamFileRows}. */
export interface FileRowsBatch {
  /** The rows: a fresh array, or with `reuse` a view of one of two alternating buffers. */
  matrix: Matrix;
  /** Index of the batch's first row in the concatenation of the ranges. */
  rowStart: number;
  /** The file the rows come from. */
  file: string;
  /** Index of the batch's first row within that file. */
  fileRow: number;
}

/**
 * Streams the rows of `ranges` in order, in batches of at most `batchRows` rows that stay
 * within one file. With `reuse`, batches are views into two alternating buffers of
 * `min(batchRows, rows)` rows; `rows` is the ranges' total.
 */
export async function* streamFileRows(
  ranges: readonly FileRange[],
  layout: RowLayout,
  options: { batchRows: number; reuse: boolean; rows: number },
): AsyncGenerator<FileRowsBatch> {
  const { batchRows } = options, cols = layout.cols;
  const pool = options.reuse ? [0, 1].map(() => new Float32Array(0)) : null;
  let turn = 0;
  const target = (values: number): Float32Array | undefined => {
    if (!pool) return undefined;
    const i = turn++ % 2;
    if (pool[i]!.length < values) {
      pool[i] = new Float32Array(Math.min(batchRows, options.rows) * cols);
    }
    return pool[i]!.subarray(0, values);
  };
  let rowStart = 0;
  for (const range of ranges) {
    const { file } = range;
    if (range.rowEnd <= range.rowStart) continue;
    using rows = await openFileRows(file, layout, range.rowEnd);
    for (let r = range.rowStart; r < range.rowEnd; r += batchRows) {
      const n = Math.min(batchRows, range.rowEnd - r);
      const data = await rows.read(r, n, target(n * cols));
      yield {
        matrix: { data, rows: n, cols },
        rowStart: rowStart + r - range.rowStart,
        file,
        fileRow: r,
      };
    }
    rowStart += range.rowEnd - range.rowStart;
  }
}

/** Largest contiguous block a gather reads at once, and the largest gap it reads through. */
const GATHER_BLOCK_BYTES = 4 << 20;
const GATHER_GAP_BYTES = 256 << 10;

/**
 * Copies file rows `want[t] + base` (sorted ascending, repeats allowed) into rows
 * `outRow + t` of `out`: nearby rows are read as one block of at most 4 MiB (gaps of up to
 * 256 KiB read through), consecutive rows straight into `out` (faiss's rule for positioned
 * reads).
 */
export async function gatherFileRows(
  rows: FileRows,
  want: Uint32Array,
  base: number,
  cols: number,
  out: Float32Array,
  outRow: number,
): Promise<void> {
  const rowBytes = cols * 4;
  const maxBlock = Math.max(1, Math.floor(GATHER_BLOCK_BYTES / rowBytes));
  const maxGap = Math.floor(GATHER_GAP_BYTES / rowBytes);
  let scratch: Float32Array | undefined;
  let j = 0;
  while (j < want.length) {
    // A block of wanted rows [j, e) whose file rows span at most maxBlock rows with small gaps.
    const lo = want[j]! + base;
    let e = j + 1, consecutive = true;
    while (
      e < want.length && want[e]! + base - lo < maxBlock &&
      want[e]! - want[e - 1]! <= maxGap + 1
    ) {
      if (want[e]! !== want[e - 1]! + 1) consecutive = false;
      e++;
    }
    const span = want[e - 1]! + base - lo + 1;
    if (consecutive) {
      // Consecutive rows (or one): read straight into the output.
      await rows.read(lo, span, out.subarray((outRow + j) * cols, (outRow + e) * cols));
      j = e;
      continue;
    }
    scratch ??= new Float32Array(maxBlock * cols);
    const block = scratch.subarray(0, span * cols);
    await rows.read(lo, span, block);
    for (let t = j; t < e; t++) {
      const r = want[t]! + base - lo;
      out.set(block.subarray(r * cols, (r + 1) * cols), (outRow + t) * cols);
    }
    j = e;
  }
}
