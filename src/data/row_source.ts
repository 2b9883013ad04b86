/**
 * Row sources: a row-addressable view over embedding shards (`.npy`, Arrow) that is never read
 * whole. Open one from files and directories, split it into deterministic contiguous parts,
 * stream its rows in batches, or gather a sorted set of rows (a training sample).
 *
 * @module
 */

import type { Matrix } from "../matrix/matrix.ts";
import { type NpyHeader, npyMatrixShape, readNpyFileHeader, readNpyRows } from "./npy.ts";
import { listEmbeddingFiles } from "./shards.ts";
import { isNpy, isParquet, parquetLib, planShards } from "./_shard_plan.ts";
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
 * A row-addressable view over embedding shards that is never read whole. Rows are numbered in
 * the concatenation of its slices.
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
  const shards = await planShards(await listEmbeddingFiles(inputs), options.column);
  for (const s of shards) options.onFile?.(s.file, s.rows, s.dtype);
  const slices = shards.map((s) => ({ file: s.file, rowStart: 0, rowEnd: s.rows }));
  const source: RowSource = {
    slices,
    rows: shards.reduce((a, s) => a + s.rows, 0),
    cols: shards[0]!.cols,
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

/** Decodes an Arrow file and checks its width against the source. */
async function decodeArrow(source: RowSource, file: string): Promise<Matrix> {
  const options = source.column === undefined ? {} : { column: source.column };
  const { decodeArrowEmbeddings } = await import("./arrow.ts"); // lazy: npm only for Arrow input
  const m = decodeArrowEmbeddings(await Deno.readFile(file), { ...options, name: file });
  if (m.cols !== source.cols) {
    throw new TypeError(
      `Expected every embedding file to have ${source.cols} columns but found ${m.cols} in ${file}`,
    );
  }
  return m;
}

/** Opens a `.npy` file of the source and checks its width. */
async function openNpy(source: RowSource, file: string) {
  const handle = await Deno.open(file);
  try {
    const header = await readNpyFileHeader(handle, file);
    const { cols } = npyMatrixShape(header, file);
    if (cols !== source.cols) {
      throw new TypeError(
        `Expected every embedding file to have ${source.cols} columns but found ${cols} in ${file}`,
      );
    }
    return { handle, header };
  } catch (error) {
    handle.close();
    throw error;
  }
}

/**
 * Streams the source's rows in order, in batches of at most `batchRows` rows (a batch stays
 * within one file). `.npy` slices are read incrementally by row range; an Arrow file is
 * decoded one whole file at a time.
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
  if (!Number.isInteger(batchRows) || batchRows < 1) {
    throw new RangeError(`Expected batchRows to be a positive integer but found ${batchRows}`);
  }
  const cols = source.cols;
  // With `reuse`, .npy batches are read into two alternating buffers (no garbage per batch).
  const pool = options.reuse ? [0, 1].map(() => new Float32Array(0)) : null;
  let turn = 0;
  const target = (values: number): Float32Array | undefined => {
    if (!pool) return undefined;
    const i = turn++ % 2;
    if (pool[i]!.length < values) {
      pool[i] = new Float32Array(Math.min(batchRows, source.rows) * cols);
    }
    return pool[i]!.subarray(0, values);
  };
  let rowStart = 0;
  for (const slice of source.slices) {
    const { file } = slice;
    if (slice.rowEnd <= slice.rowStart) continue;
    if (isParquet(file)) {
      // By row group, never whole; each batch checked (nulls, ragged rows, width).
      const column = source.column === undefined ? {} : { column: source.column };
      const range = { rowStart: slice.rowStart, rowEnd: slice.rowEnd, batchRows };
      for await (const b of (await parquetLib()).streamParquetRows(file, { ...column, ...range })) {
        if (b.matrix.cols !== cols) {
          throw new TypeError(
            `Expected every embedding file to have ${cols} columns but found ${b.matrix.cols} in ${file}`,
          );
        }
        const data = target(b.matrix.rows * cols);
        data?.set(b.matrix.data);
        yield {
          matrix: { data: data ?? b.matrix.data, rows: b.matrix.rows, cols },
          rowStart: rowStart + b.fileRow - slice.rowStart,
          file,
          fileRow: b.fileRow,
        };
      }
    } else if (await isNpy(file)) {
      const { handle, header } = await openNpy(source, file);
      try {
        for (let r = slice.rowStart; r < slice.rowEnd; r += batchRows) {
          const n = Math.min(batchRows, slice.rowEnd - r);
          const data = await readNpyRows(handle, header, r, n, target(n * cols), file);
          yield {
            matrix: { data, rows: n, cols },
            rowStart: rowStart + r - slice.rowStart,
            file,
            fileRow: r,
          };
        }
      } finally {
        handle.close();
      }
    } else {
      const m = await decodeArrow(source, file);
      checkRange(slice, m.rows);
      for (let r = slice.rowStart; r < slice.rowEnd; r += batchRows) {
        const n = Math.min(batchRows, slice.rowEnd - r);
        const data = pool
          ? m.data.subarray(r * cols, (r + n) * cols)
          : m.data.slice(r * cols, (r + n) * cols);
        yield {
          matrix: { data, rows: n, cols },
          rowStart: rowStart + r - slice.rowStart,
          file,
          fileRow: r,
        };
      }
    }
    rowStart += slice.rowEnd - slice.rowStart;
  }
}

function checkRange(slice: FileSlice, rows: number): void {
  if (slice.rowEnd > rows) {
    throw new RangeError(
      `Expected ${slice.file} to hold at least ${slice.rowEnd} rows but found ${rows}`,
    );
  }
}

/** Largest contiguous block a gather reads at once, and the largest gap it reads through. */
const GATHER_BLOCK_BYTES = 4 << 20;
const GATHER_GAP_BYTES = 256 << 10;

/**
 * Gathers the given rows of the source into one matrix, reading only what is needed: `.npy`
 * files by positioned reads (nearby rows coalesced into blocks of at most 4 MiB), Arrow files
 * decoded once each.
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
  const cols = source.cols;
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
      const file = slice.file;
      const base = slice.rowStart - at; // file row = source row + base
      if (isParquet(file)) {
        const column = source.column === undefined ? {} : { column: source.column };
        const fileRows = want.map((r) => r + base);
        await (await parquetLib()).gatherParquetRows(file, fileRows, {
          ...column,
          into: out,
          intoRow: first,
          cols,
        });
      } else if (await isNpy(file)) {
        const { handle, header } = await openNpy(source, file);
        try {
          await gatherNpy(handle, header, file, want, base, cols, out, first);
        } finally {
          handle.close();
        }
      } else {
        const m = await decodeArrow(source, file);
        checkRange(slice, m.rows);
        for (let j = 0; j < want.length; j++) {
          const r = want[j]! + base;
          out.set(m.data.subarray(r * cols, (r + 1) * cols), (first + j) * cols);
        }
      }
    }
    at = end;
  }
  return { data: out, rows: rows.length, cols };
}

async function gatherNpy(
  handle: Deno.FsFile,
  header: NpyHeader,
  file: string,
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
      const dest = out.subarray((outRow + j) * cols, (outRow + e) * cols);
      await readNpyRows(handle, header, lo, span, dest, file);
      j = e;
      continue;
    }
    scratch ??= new Float32Array(maxBlock * cols);
    const block = scratch.subarray(0, span * cols);
    await readNpyRows(handle, header, lo, span, block, file);
    for (let t = j; t < e; t++) {
      const r = want[t]! + base - lo;
      out.set(block.subarray(r * cols, (r + 1) * cols), (outRow + t) * cols);
    }
    j = e;
  }
}
