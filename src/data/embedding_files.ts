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
 * What a directory input means: the embedding files it is read from, and what it holds that
 * is not read. See {@linkcode readEmbeddingDirectory}.
 *
 * @example Usage
 * ```ts ignore
 * const d: EmbeddingDirectory = await readEmbeddingDirectory("emb/");
 * console.log(d.dir, d.files.length, d.skipped);
 * ```
 */
export interface EmbeddingDirectory {
  /** The directory as given. */
  input: string;
  /** Where the files are read from: the directory, or its `img_emb/` folder. */
  dir: string;
  /** The embedding files read, in natural name order. */
  files: string[];
  /** What the directory (and `img_emb/`) holds that is not read (hidden entries aside). */
  skipped: string[];
}

const isEmbeddingName = (name: string) =>
  !name.startsWith(".") && EMBEDDING_EXTENSIONS.some((ext) => name.toLowerCase().endsWith(ext));

const EMBED_PART = /^part-(\d+)-of-(\d+)\.json$/;

/** The entries of `dir`: names, and whether each is a directory (symlinks followed). */
async function entriesOf(dir: string): Promise<{ name: string; dir: boolean }[]> {
  const out: { name: string; dir: boolean }[] = [];
  for await (const e of Deno.readDir(dir)) {
    let isDir = e.isDirectory;
    if (e.isSymlink) {
      isDir = await Deno.stat(join(dir, e.name)).then((s) => s.isDirectory, () => false);
    }
    out.push({ name: e.name, dir: isDir });
  }
  return out.sort((a, b) => naturalCompare(a.name, b.name));
}

/** Refuses the `img_emb/` of an embed that has not finished (a part manifest is missing). */
function checkEmbedFinished(input: string, names: string[]): void {
  const parts = names.map((n) => EMBED_PART.exec(n)).filter((m) => m !== null);
  if (parts.length === 0) return; // not written by deno task embed (or before its manifests)
  const count = Number(parts[0]![2]);
  const other = parts.find((m) => Number(m[2]) !== count);
  if (other) {
    throw new RangeError(
      `Expected ${input} to hold the parts of one embed but found ${parts[0]![0]} and ${other[0]}`,
    );
  }
  const have = new Set(parts.map((m) => Number(m[1])));
  for (let i = 0; i < count; i++) {
    if (!have.has(i)) {
      throw new RangeError(
        `Expected ${input} to hold a finished embed but found ${have.size} of ${count} parts (${
          join(input, `part-${i}-of-${count}.json`)
        } is missing): rerun the same mlcd embed to finish it`,
      );
    }
  }
}

/**
 * Reads what a directory input means, the one rule every reader of embeddings follows:
 * - a directory means the embedding files directly inside it (`.npy`, `.arrow`, `.feather`,
 *   `.ipc`, `.parquet`; not hidden, not recursive), in natural name order (`img_emb_2.npy` before
 *   `img_emb_10.npy`);
 * - a directory in clip-retrieval's layout, holding an `img_emb/` folder (what
 *   `deno task embed` writes), means the embedding files of `img_emb/`; it must then hold no
 *   embedding file of its own (refused as ambiguous), and when `deno task embed` wrote it
 *   (its `part-<i>-of-<N>.json` manifests), every part must be there (an unfinished embed is
 *   refused).
 * Everything else the directory holds is skipped, and listed in `skipped` (the commands print
 * it).
 *
 * @param input A directory.
 * @returns The files read, and the entries skipped.
 * @throws {RangeError} For a directory holding both embedding files and `img_emb/`, or an
 * unfinished embed.
 *
 * @example Usage
 * ```ts
 * import { readEmbeddingDirectory } from "./embedding_files.ts";
 * import { writeNpy } from "./npy.ts";
 * const dir = await Deno.makeTempDir();
 * await writeNpy(`${dir}/a.npy`, new Float32Array(2), [1, 2]);
 * await Deno.writeTextFile(`${dir}/notes.txt`, "");
 * const d = await readEmbeddingDirectory(dir);
 * console.log(d.files.length, d.skipped.length); // 1 1
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function readEmbeddingDirectory(input: string): Promise<EmbeddingDirectory> {
  const top = await entriesOf(input);
  const own = top.filter((e) => !e.dir && isEmbeddingName(e.name));
  const clip = top.some((e) => e.dir && e.name === "img_emb");
  const hidden = (n: string) => n.startsWith(".");
  if (!clip) {
    return {
      input,
      dir: input,
      files: own.map((e) => join(input, e.name)),
      skipped: top.filter((e) => !hidden(e.name) && !own.includes(e)).map((e) =>
        join(input, e.name) + (e.dir ? "/" : "")
      ),
    };
  }
  if (own.length > 0) {
    throw new RangeError(
      `Expected ${input} to hold either embedding files or clip-retrieval's img_emb/ folder but found both (${
        join(input, own[0]!.name)
      } and ${join(input, "img_emb")}/): name one of them, or move the files`,
    );
  }
  checkEmbedFinished(input, top.filter((e) => !e.dir).map((e) => e.name));
  const dir = join(input, "img_emb");
  const inner = await entriesOf(dir);
  const layout = (e: { name: string; dir: boolean }) =>
    (e.dir && (e.name === "img_emb" || e.name === "metadata")) ||
    (!e.dir && EMBED_PART.test(e.name));
  return {
    input,
    dir,
    files: inner.filter((e) => !e.dir && isEmbeddingName(e.name)).map((e) => join(dir, e.name)),
    skipped: [
      ...top.filter((e) => !hidden(e.name) && !layout(e)).map((e) =>
        join(input, e.name) + (e.dir ? "/" : "")
      ),
      ...inner.filter((e) => !hidden(e.name) && (e.dir || !isEmbeddingName(e.name))).map((e) =>
        join(dir, e.name) + (e.dir ? "/" : "")
      ),
    ],
  };
}

/**
 * Expands inputs to embedding files, the file list every reader of embeddings starts from: a
 * file is kept as given, a directory becomes the files {@linkcode readEmbeddingDirectory}
 * reads for it. The same file given twice (named twice, or as a file and through its
 * directory) is refused, since its rows would count twice.
 *
 * @param inputs Files and directories.
 * @returns The files, in input order.
 * @throws {Deno.errors.NotFound} When an input does not exist (the message names it).
 * @throws {TypeError} When an input, or an embedding file in an input directory, is not a
 * regular file or a directory (a FIFO, a socket, a device), naming it.
 * @throws {RangeError} When no file is found at all, a file comes twice, or a directory is
 * refused by {@linkcode readEmbeddingDirectory}.
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
  const seen = new Map<string, string>(); // real path → the input that named it
  for (const input of inputs) {
    const info = await statInput(input);
    const found = info.isDirectory ? (await readEmbeddingDirectory(input)).files : [input];
    for (const file of found) {
      // A symlink or a special file found in a directory: the input rule applies to what it is.
      if (info.isDirectory) await statInput(file);
      const real = await Deno.realPath(file);
      const first = seen.get(real);
      if (first !== undefined) {
        throw new RangeError(
          `Expected every input file once but found ${file} twice (${
            first === input ? "named twice" : `from ${first} and from ${input}`
          }): its rows would count twice`,
        );
      }
      seen.set(real, input);
      files.push(file);
    }
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
