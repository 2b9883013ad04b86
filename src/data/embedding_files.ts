/**
 * Embedding files named by paths: list the `.npy`/Arrow files of inputs (files and
 * directories), read them all into one matrix, or stream them in bounded batches. The path-level
 * face of the one row engine (the private `_file_rows.ts`) that `row_source.ts`'s `RowSource`
 * also reads through; open a `RowSource` instead to split the rows into parts, to reuse batch
 * buffers, or to gather a sample.
 *
 * @module
 */

import type { Matrix } from "../matrix/matrix.ts";
import { checkBatchRows, openFileRows, readFileSet, streamFileRows } from "./_file_rows.ts";
import { statInput } from "./_input_path.ts";

/** File name endings that {@linkcode listEmbeddingFiles} picks up in a directory. */
export const EMBEDDING_EXTENSIONS: readonly string[] = [
  ".npy",
  ".arrow",
  ".feather",
  ".ipc",
  ".parquet",
];

/** Options for {@linkcode readEmbeddings}. */
export interface ReadEmbeddingsOptions {
  /**
   * Embedding column of Arrow files.
   * @default {the first list column}
   */
  column?: string;
  /**
   * Called after each file is read, with its path, row count and stored element type
   * (`"f4"`, `"f2"` or `"f8"` for `.npy`, converted to float32; `"arrow"` for Arrow files).
   */
  onFile?: (file: string, rows: number, dtype: string) => void;
}

/** Options for {@linkcode streamEmbeddings}. */
export interface StreamEmbeddingsOptions {
  /**
   * Largest number of rows per yielded batch (a batch never spans two files).
   * @default {65536}
   */
  batchRows?: number;
  /**
   * Embedding column of Arrow files.
   * @default {the first list column}
   */
  column?: string;
}

/** One batch yielded by {@linkcode streamEmbeddings}. */
export interface EmbeddingBatch {
  /** The batch's rows (a fresh array the caller may keep). */
  matrix: Matrix;
  /** Index of the batch's first row in the concatenation of all files. */
  rowStart: number;
  /** The file the rows come from. */
  file: string;
  /** Index of the batch's first row within its file. */
  fileRowStart: number;
}

/** Compares names so that digit runs sort by value: `img_emb_2` before `img_emb_10`. */
function naturalCompare(a: string, b: string): number {
  const re = /(\d+)|(\D+)/g;
  const pa = a.match(re) ?? [], pb = b.match(re) ?? [];
  for (let i = 0; i < Math.min(pa.length, pb.length); i++) {
    const x = pa[i]!, y = pb[i]!;
    const dx = /^\d/.test(x), dy = /^\d/.test(y);
    if (dx && dy) {
      const d = Number(x) - Number(y);
      if (d !== 0) return d;
      if (x.length !== y.length) return x.length - y.length;
    } else if (x !== y) return x < y ? -1 : 1;
  }
  return pa.length - pb.length;
}

function join(dir: string, name: string): string {
  return dir.endsWith("/") ? dir + name : `${dir}/${name}`;
}

/**
 * Expands inputs to embedding files, the file list every reader of embeddings starts from: a
 * file is kept as given, a directory becomes its `.npy`, `.arrow`, `.feather`, `.ipc` and `.parquet` files
 * (not recursive) in natural name order (`img_emb_2.npy` before `img_emb_10.npy`); a directory
 * in clip-retrieval's layout (`emb/` holding `emb/img_emb/`) is read from `img_emb/`.
 *
 * @param inputs Files and directories.
 * @returns The files, in input order.
 * @throws {Deno.errors.NotFound} When an input does not exist (the message names it).
 * @throws {TypeError} When an input, or an embedding file in an input directory, is not a
 * regular file or a directory (a FIFO, a socket, a device), naming it.
 * @throws {RangeError} When no file is found at all.
 *
 * @example Usage
 * ```ts
 * import { listEmbeddingFiles } from "./embedding_files.ts";
 * import { writeNpy } from "./npy.ts";
 * const dir = await Deno.makeTempDir();
 * for (const i of [10, 2]) await writeNpy(`${dir}/img_emb_${i}.npy`, new Float32Array(2), [1, 2]);
 * const files = await listEmbeddingFiles([dir]);
 * console.log(files.map((f) => f.slice(dir.length + 1))); // [ "img_emb_2.npy", "img_emb_10.npy" ]
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function listEmbeddingFiles(inputs: string[]): Promise<string[]> {
  const files: string[] = [];
  for (let input of inputs) {
    const info = await statInput(input);
    if (!info.isDirectory) {
      files.push(input);
      continue;
    }
    // clip-retrieval's layout (deno task embed): emb/ holds its embeddings in emb/img_emb/.
    const clip = join(input, "img_emb");
    if (await Deno.stat(clip).then((s) => s.isDirectory, () => false)) input = clip;
    const names: string[] = [];
    for await (const entry of Deno.readDir(input)) {
      if (entry.isDirectory || entry.name.startsWith(".")) continue;
      const lower = entry.name.toLowerCase();
      if (!EMBEDDING_EXTENSIONS.some((ext) => lower.endsWith(ext))) continue;
      // A symlink or a special file: the input rule applies to what it is (a FIFO is refused).
      if (!entry.isFile && (await statInput(join(input, entry.name))).isDirectory) continue;
      names.push(entry.name);
    }
    names.sort(naturalCompare);
    for (const name of names) files.push(join(input, name));
  }
  if (files.length === 0) {
    throw new RangeError(
      `Expected at least one ${EMBEDDING_EXTENSIONS.join(", ")} file in ${
        inputs.join(", ") || "the inputs"
      } but found none`,
    );
  }
  return files;
}

/**
 * Reads all embedding files into one matrix, in order: for inputs that fit in memory (use
 * {@linkcode streamEmbeddings} or a `RowSource` for the others). The output is allocated once
 * from the files' headers and each file is read straight into its slice, so memory holds the
 * result plus at most one Arrow file (or an 8 MiB conversion buffer for float16 `.npy`).
 *
 * @param inputs Files and directories, as for {@linkcode listEmbeddingFiles}.
 * @param options {@linkcode ReadEmbeddingsOptions}.
 * @returns The concatenated matrix.
 * @throws {TypeError} When files disagree on the column count (naming both).
 * @throws {RangeError} When a file is corrupt.
 *
 * @example Usage
 * ```ts
 * import { readEmbeddings } from "./embedding_files.ts";
 * import { writeNpy } from "./npy.ts";
 * const dir = await Deno.makeTempDir();
 * await writeNpy(`${dir}/a_0.npy`, new Float32Array([1, 2]), [1, 2]);
 * await writeNpy(`${dir}/a_1.npy`, new Float32Array([3, 4, 5, 6]), [2, 2], { dtype: "f2" });
 * console.log((await readEmbeddings([dir])).data); // Float32Array(6) [ 1, 2, 3, 4, 5, 6 ]
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function readEmbeddings(
  inputs: string[],
  options: ReadEmbeddingsOptions = {},
): Promise<Matrix> {
  const set = await readFileSet(await listEmbeddingFiles(inputs), options.column);
  const { rows, layout: { cols } } = set;
  const data = new Float32Array(rows * cols);
  let at = 0;
  for (const shape of set.shapes) {
    using file = await openFileRows(shape.file, set.layout, shape.rows);
    await file.read(0, shape.rows, data.subarray(at * cols, (at + shape.rows) * cols));
    options.onFile?.(shape.file, shape.rows, shape.dtype);
    at += shape.rows;
  }
  return { data, rows, cols };
}

/**
 * Streams the rows of all embedding files in order, in batches of at most `batchRows` rows
 * (a batch never spans two files): one pass over inputs given as paths, e.g. to assign or
 * embed every row. `.npy` files are read incrementally by row range (float16 converted per
 * batch), so data far larger than memory can be processed; an Arrow file is parsed one whole
 * file at a time. The same stream as `streamRows(await openRowSource(inputs), options)`, with
 * `fileRowStart` for `fileRow`.
 *
 * @param inputs Files and directories, as for {@linkcode listEmbeddingFiles}.
 * @param options {@linkcode StreamEmbeddingsOptions}.
 * @returns An async generator of {@linkcode EmbeddingBatch}es.
 * @throws {RangeError} For a bad `batchRows`, or corrupt files.
 * @throws {TypeError} For files that disagree on the column count (checked before the first
 * batch).
 *
 * @example Usage
 * ```ts
 * import { streamEmbeddings } from "./embedding_files.ts";
 * import { writeNpy } from "./npy.ts";
 * const path = await Deno.makeTempFile({ suffix: ".npy" });
 * await writeNpy(path, new Float32Array(10), [5, 2]);
 * for await (const b of streamEmbeddings([path], { batchRows: 2 })) {
 *   console.log(b.rowStart, b.matrix.rows); // 0 2, then 2 2, then 4 1
 * }
 * await Deno.remove(path);
 * ```
 */
export async function* streamEmbeddings(
  inputs: string[],
  options: StreamEmbeddingsOptions = {},
): AsyncGenerator<EmbeddingBatch> {
  const batchRows = options.batchRows ?? 65536;
  checkBatchRows(batchRows);
  const { ranges, layout, rows } = await readFileSet(
    await listEmbeddingFiles(inputs),
    options.column,
  );
  for await (const b of streamFileRows(ranges, layout, { batchRows, reuse: false, rows })) {
    yield { matrix: b.matrix, rowStart: b.rowStart, file: b.file, fileRowStart: b.fileRow };
  }
}
