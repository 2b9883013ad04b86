/**
 * Embedding shards: list the `.npy`/Arrow files of directories, read them into one matrix, or
 * stream them in bounded batches.
 *
 * @module
 */

import type { Matrix } from "../matrix/matrix.ts";
import { readNpyFileHeader, readNpyRows } from "./npy.ts";
import { parquetLib, planShards } from "./_shard_plan.ts";

/** The Arrow reader, loaded on first use: `apache-arrow` (npm) only when an Arrow file is read. */
const arrow = () => import("./arrow.ts");

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
 * Expands inputs to embedding files: a file is kept as given, a directory becomes its `.npy`,
 * `.arrow`, `.feather` and `.ipc` files (not recursive) in natural name order
 * (`img_emb_2.npy` before `img_emb_10.npy`).
 *
 * @param inputs Files and directories.
 * @returns The files, in input order.
 * @throws {Deno.errors.NotFound} When an input does not exist (the message names it).
 * @throws {RangeError} When no file is found at all.
 *
 * @example Usage
 * ```ts
 * import { listEmbeddingFiles } from "./shards.ts";
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
    let info: Deno.FileInfo;
    try {
      info = await Deno.stat(input);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) {
        throw new Deno.errors.NotFound(`No such file or directory: ${input}`);
      }
      throw error;
    }
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
      if (EMBEDDING_EXTENSIONS.some((ext) => lower.endsWith(ext))) names.push(entry.name);
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
 * Reads all embedding files into one matrix, in order. The output is allocated once from the
 * files' headers and each `.npy` shard is read straight into its slice, so memory holds the
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
 * import { readEmbeddings } from "./shards.ts";
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
  const shards = await planShards(await listEmbeddingFiles(inputs), options.column);
  const cols = shards[0]!.cols;
  const rows = shards.reduce((s, x) => s + x.rows, 0);
  const data = new Float32Array(rows * cols);
  let at = 0;
  for (const shard of shards) {
    const into = data.subarray(at * cols, (at + shard.rows) * cols);
    if (shard.npy) {
      using handle = await Deno.open(shard.file);
      const header = await readNpyFileHeader(handle, shard.file);
      await readNpyRows(handle, header, 0, shard.rows, into, shard.file);
    } else if (shard.parquet) {
      const column = options.column === undefined ? {} : { column: options.column };
      await (await parquetLib()).readParquetRows(shard.file, { ...column, into });
    } else {
      const decodeOptions = options.column === undefined
        ? { into }
        : { into, column: options.column };
      (await arrow()).decodeArrowEmbeddings(await Deno.readFile(shard.file), {
        ...decodeOptions,
        name: shard.file,
      });
    }
    options.onFile?.(shard.file, shard.rows, shard.dtype);
    at += shard.rows;
  }
  return { data, rows, cols };
}

/**
 * Streams the rows of all embedding files in order, in batches of at most `batchRows` rows
 * (a batch never spans two files). `.npy` shards are read incrementally by row range (float16
 * converted per batch), so data far larger than memory can be processed; an Arrow shard is
 * parsed one whole file at a time.
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
 * import { streamEmbeddings } from "./shards.ts";
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
  if (!Number.isInteger(batchRows) || batchRows < 1) {
    throw new RangeError(`Expected batchRows to be a positive integer but found ${batchRows}`);
  }
  const shards = await planShards(await listEmbeddingFiles(inputs), options.column);
  const cols = shards[0]!.cols;
  let rowStart = 0;
  for (const shard of shards) {
    const { file } = shard;
    if (shard.npy) {
      using handle = await Deno.open(file);
      const header = await readNpyFileHeader(handle, file);
      for (let r = 0; r < shard.rows; r += batchRows) {
        const n = Math.min(batchRows, shard.rows - r);
        const data = await readNpyRows(handle, header, r, n, undefined, file);
        yield { matrix: { data, rows: n, cols }, rowStart: rowStart + r, file, fileRowStart: r };
      }
    } else if (shard.parquet) {
      const column = options.column === undefined ? {} : { column: options.column };
      for await (
        const b of (await parquetLib()).streamParquetRows(file, { ...column, batchRows })
      ) {
        const r = b.fileRow;
        yield { matrix: b.matrix, rowStart: rowStart + r, file, fileRowStart: r };
      }
    } else {
      const decodeOptions = options.column === undefined ? {} : { column: options.column };
      const m = (await arrow()).decodeArrowEmbeddings(await Deno.readFile(file), {
        ...decodeOptions,
        name: file,
      });
      if (m.cols !== cols) {
        throw new TypeError(
          `Expected every embedding file to have ${cols} columns but found ${m.cols} in ${file}`,
        );
      }
      for (let r = 0; r < m.rows; r += batchRows) {
        const n = Math.min(batchRows, m.rows - r);
        const data = m.data.slice(r * cols, (r + n) * cols);
        yield { matrix: { data, rows: n, cols }, rowStart: rowStart + r, file, fileRowStart: r };
      }
    }
    rowStart += shard.rows;
  }
}
