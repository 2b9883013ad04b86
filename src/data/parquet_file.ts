/**
 * A Parquet file opened for streaming: the footer is read at once, the data one row group (or
 * one batch of a row group) at a time, never the whole file.
 *
 * @module
 */

import { pw } from "./_parquet_wasm.ts";
import { arrow } from "./_arrow_ipc.ts";

/** A column of a Parquet file, as Arrow sees it. */
export interface ParquetColumn {
  /** The column's name. */
  name: string;
  /** Its Arrow type, e.g. `Utf8`, `List<Float32>`, `FixedSizeList[768]<Float16>`. */
  type: string;
}

/** An Arrow table: what one row group (or a batch of it) is read as. */
export type ArrowTable = arrow.Table;

const MAGIC = [0x50, 0x41, 0x52, 0x31]; // "PAR1"

/** Reads bytes `[start, end)` of an open file, one read at a time (seek + read share it). */
class RangeReader {
  #queue: Promise<unknown> = Promise.resolve();
  constructor(readonly file: Deno.FsFile, readonly path: string) {}

  read(start: number, end: number): Promise<ArrayBuffer> {
    const next = this.#queue.then(() => this.#readNow(start, end));
    this.#queue = next.catch(() => {});
    return next;
  }

  async #readNow(start: number, end: number): Promise<ArrayBuffer> {
    const buf = new Uint8Array(end - start);
    await this.file.seek(start, Deno.SeekMode.Start);
    let off = 0;
    while (off < buf.length) {
      const n = await this.file.read(buf.subarray(off));
      if (n === null) {
        throw new RangeError(`Expected ${this.path} to hold ${end} bytes but it ended at ${off}`);
      }
      off += n;
    }
    return buf.buffer;
  }
}

/**
 * A Blob over a byte range of a file, read only when asked: parquet-wasm's async reader slices
 * it for the footer and for the column chunks of the row groups it reads.
 */
class FileBlob extends Blob {
  constructor(readonly reader: RangeReader, readonly start: number, readonly end: number) {
    super([]);
  }
  override get size(): number {
    return this.end - this.start;
  }
  override slice(start = 0, end = this.size): Blob {
    // Blob semantics: negative offsets count from the end.
    const at = (x: number) => Math.max(0, Math.min(x < 0 ? this.size + x : x, this.size));
    const s = at(start);
    const e = Math.max(s, at(end));
    return new FileBlob(this.reader, this.start + s, this.start + e);
  }
  override arrayBuffer(): Promise<ArrayBuffer> {
    return this.reader.read(this.start, this.end);
  }
}

/** Turns a parquet-wasm error (a string or an Error) into a one-line RangeError naming the file. */
function corrupt(path: string, error: unknown): RangeError {
  if (error instanceof RangeError || error instanceof TypeError) return error;
  const text = error instanceof Error ? error.message : String(error);
  return new RangeError(
    `Expected ${path} to be a readable Parquet file but found: ${text.split("\n")[0]}`,
  );
}

/** Checks the `PAR1` magic at both ends and the footer length; a truncated file fails here. */
async function checkEnds(reader: RangeReader, size: number): Promise<void> {
  const path = reader.path;
  if (size < 12) {
    throw new RangeError(
      `Expected ${path} to be a Parquet file but found ${size} bytes (truncated or empty)`,
    );
  }
  const head = new Uint8Array(await reader.read(0, 4));
  const tail = new Uint8Array(await reader.read(size - 8, size));
  if (!MAGIC.every((b, i) => head[i] === b)) {
    throw new RangeError(`Expected ${path} to start with PAR1 but it does not: not a Parquet file`);
  }
  if (!MAGIC.every((b, i) => tail[4 + i] === b)) {
    throw new RangeError(
      `Expected ${path} to end with PAR1 but it does not: the file is truncated or not Parquet`,
    );
  }
  const footer = new DataView(tail.buffer).getUint32(0, true);
  if (footer + 12 > size) {
    throw new RangeError(
      `Expected ${path}'s footer (${footer} bytes) to fit in its ${size} bytes: the file is truncated`,
    );
  }
}

/**
 * A Parquet file open for reading by row group. Close it (or use `using`) when done.
 *
 * @example Read a file row group by row group
 * ```ts ignore
 * import { openParquet } from "./parquet_file.ts";
 * using file = await openParquet("metadata/metadata_0.parquet");
 * for (let g = 0; g < file.rowGroups.length; g++) {
 *   const table = await file.readRowGroup(g, ["key"]);
 *   console.log(table.numRows);
 * }
 * ```
 */
export class ParquetFile {
  /** Rows of every row group, in order. */
  readonly rowGroups: readonly number[];
  /** Total rows. */
  readonly rows: number;
  /** The columns, in file order. */
  readonly columns: readonly ParquetColumn[];
  /** The file's Arrow schema (apache-arrow's class). */
  readonly schema: arrow.Schema;
  readonly #file: pw.ParquetFile;
  readonly #handle: Deno.FsFile;

  /** Use {@linkcode openParquet}. */
  constructor(
    readonly path: string,
    file: pw.ParquetFile,
    handle: Deno.FsFile,
  ) {
    this.#file = file;
    this.#handle = handle;
    const meta = file.metadata();
    const groups: number[] = [];
    for (let g = 0; g < meta.numRowGroups(); g++) groups.push(meta.rowGroup(g).numRows());
    this.rowGroups = groups;
    this.rows = groups.reduce((a, b) => a + b, 0);
    this.schema = arrow.tableFromIPC(file.schema().intoIPCStream()).schema;
    this.columns = this.schema.fields.map((f) => ({ name: f.name, type: String(f.type) }));
  }

  /** Index of the first row of each row group, and the total at the end. */
  get rowGroupStarts(): number[] {
    const starts = [0];
    for (const n of this.rowGroups) starts.push(starts[starts.length - 1]! + n);
    return starts;
  }

  /**
   * Reads one row group (only the named columns) as an Arrow table.
   *
   * @param index The row group, in `[0, rowGroups.length)`.
   * @param columns The columns to read (default all).
   * @returns The row group's rows.
   * @throws {RangeError} For a bad index or a corrupt row group (naming the file).
   */
  async readRowGroup(index: number, columns?: string[]): Promise<ArrowTable> {
    if (!Number.isInteger(index) || index < 0 || index >= this.rowGroups.length) {
      throw new RangeError(
        `Expected a row group of ${this.path} in [0, ${this.rowGroups.length}) but found ${index}`,
      );
    }
    const options: pw.ReaderOptions = { rowGroups: [index], batchSize: 1 << 30 };
    if (columns) options.columns = columns;
    try {
      const table = await this.#file.read(options);
      return arrow.tableFromIPC(table.intoIPCStream());
    } catch (error) {
      throw corrupt(`${this.path} (row group ${index})`, error);
    }
  }

  /**
   * Reads one row group as a sequence of smaller tables of at most `batchRows` rows each, so
   * that a wide column (embeddings) is never held whole in JavaScript.
   *
   * @param index The row group.
   * @param options `columns` (default all), `batchRows` (default 8192).
   * @returns An async generator of Arrow tables, in row order.
   * @throws {RangeError} For a bad index or a corrupt row group (naming the file).
   */
  async *streamRowGroup(
    index: number,
    options: { columns?: string[]; batchRows?: number } = {},
  ): AsyncGenerator<ArrowTable> {
    if (!Number.isInteger(index) || index < 0 || index >= this.rowGroups.length) {
      throw new RangeError(
        `Expected a row group of ${this.path} in [0, ${this.rowGroups.length}) but found ${index}`,
      );
    }
    const read: pw.ReaderOptions = { rowGroups: [index], batchSize: options.batchRows ?? 8192 };
    if (options.columns) read.columns = options.columns;
    let stream: ReadableStream<pw.RecordBatch>;
    try {
      stream = await this.#file.stream(read);
    } catch (error) {
      throw corrupt(`${this.path} (row group ${index})`, error);
    }
    const reader = stream.getReader();
    try {
      while (true) {
        let next: ReadableStreamReadResult<pw.RecordBatch>;
        try {
          next = await reader.read();
        } catch (error) {
          throw corrupt(`${this.path} (row group ${index})`, error);
        }
        if (next.done) return;
        yield arrow.tableFromIPC(next.value.intoIPCStream());
      }
    } finally {
      await reader.cancel().catch(() => {});
    }
  }

  /** Closes the file. Safe to call twice. */
  close(): void {
    try {
      this.#file.free();
    } catch { /* already freed */ }
    try {
      this.#handle.close();
    } catch { /* already closed */ }
  }

  /** Closes the file (for `using`). */
  [Symbol.dispose](): void {
    this.close();
  }
}

/**
 * Opens a Parquet file and reads its footer (schema and row groups), not its data.
 *
 * @param path The file.
 * @returns The open file.
 * @throws {Deno.errors.NotFound} When it does not exist.
 * @throws {RangeError} When it is truncated, empty or not Parquet (one line naming the file).
 *
 * @example Usage
 * ```ts
 * import { openParquet, writeParquetMetadata } from "./parquet.ts";
 * const path = await Deno.makeTempFile({ suffix: ".parquet" });
 * await Deno.remove(path);
 * await writeParquetMetadata(path, { key: ["a", "b", "c"] });
 * using file = await openParquet(path);
 * console.log(file.rows, file.columns[0]!.name); // 3 key
 * await Deno.remove(path);
 * ```
 */
export async function openParquet(path: string): Promise<ParquetFile> {
  const handle = await Deno.open(path, { read: true });
  try {
    const size = (await handle.stat()).size;
    const reader = new RangeReader(handle, path);
    await checkEnds(reader, size);
    let file: pw.ParquetFile;
    try {
      file = await pw.ParquetFile.fromFile(new FileBlob(reader, 0, size));
    } catch (error) {
      throw corrupt(path, error);
    }
    try {
      return new ParquetFile(path, file, handle);
    } catch (error) {
      file.free();
      throw corrupt(path, error);
    }
  } catch (error) {
    handle.close();
    throw error;
  }
}
