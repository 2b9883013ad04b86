/**
 * Row-range reads of a Parquet embedding column, the way the embedding-file row engine reads
 * every format (`read(rowStart, count)`): one open file and one forward cursor, so that
 * consecutive or nearby ascending reads decode each row group once, and a read further on skips
 * the row groups in between without decoding them.
 *
 * @module
 */

import { openParquet, type ParquetFile } from "./parquet_file.ts";
import {
  type ParquetColumnOptions,
  parquetEmbeddingShape,
  type ParquetRowBatch,
  streamParquetRows,
} from "./parquet_embeddings.ts";

/** A Parquet embedding column open for row-range reads. Dispose of it (`using`) to close it. */
export interface ParquetRows extends Disposable {
  /** The file. */
  readonly path: string;
  /** Rows of the file. */
  readonly rows: number;
  /** Values per row. */
  readonly cols: number;
  /** The stored element type (`f2`, `f4`, `f8`; read as float32). */
  readonly dtype: "f2" | "f4" | "f8";
  /**
   * Reads rows `[rowStart, rowStart + count)` as float32 into `out` (`count × cols` values),
   * or into a fresh array when `out` is omitted. Nulls and ragged rows are refused by row.
   */
  read(rowStart: number, count: number, out?: Float32Array): Promise<Float32Array>;
}

/** Options for {@linkcode openParquetRows}. */
export interface OpenParquetRowsOptions extends ParquetColumnOptions {
  /** Rows decoded at a time. @default {8192} */
  batchRows?: number;
}

/**
 * Opens a Parquet embedding column for row-range reads (the footer is read now, the rows on
 * each read). Reads that go forward continue where the last one stopped; a read that goes back,
 * or into a later row group, restarts at its row group.
 *
 * @param path The file.
 * @param options `column` (default the first list-of-float column), `batchRows`.
 * @returns The open column.
 * @throws {TypeError} When the column is missing or not a list of floats.
 * @throws {RangeError} When the file is truncated or not Parquet.
 *
 * @example Usage
 * ```ts
 * import { openParquetRows, writeParquetEmbeddings } from "./parquet.ts";
 * const path = await Deno.makeTempFile({ suffix: ".parquet" });
 * await Deno.remove(path);
 * await writeParquetEmbeddings(path, { data: Float32Array.from([0, 1, 2, 3, 4, 5]), rows: 3, cols: 2 });
 * using rows = await openParquetRows(path);
 * console.log(await rows.read(1, 2)); // Float32Array(4) [ 2, 3, 4, 5 ]
 * await Deno.remove(path);
 * ```
 */
export async function openParquetRows(
  path: string,
  options: OpenParquetRowsOptions = {},
): Promise<ParquetRows> {
  const f = await openParquet(path);
  try {
    const column = options.column === undefined ? {} : { column: options.column };
    const shape = await parquetEmbeddingShape(f, column);
    return new Cursor(f, shape.rows, shape.cols, shape.dtype, {
      ...column,
      batchRows: options.batchRows ?? 8192,
    });
  } catch (error) {
    f.close();
    throw error;
  }
}

class Cursor implements ParquetRows {
  readonly path: string;
  readonly #starts: number[];
  #stream: AsyncGenerator<ParquetRowBatch> | undefined;
  #batch: ParquetRowBatch | undefined;

  constructor(
    readonly file: ParquetFile,
    readonly rows: number,
    readonly cols: number,
    readonly dtype: "f2" | "f4" | "f8",
    readonly options: { column?: string; batchRows: number },
  ) {
    this.path = file.path;
    this.#starts = file.rowGroupStarts;
  }

  /** The row group that holds row `r`. */
  #group(r: number): number {
    let g = 0;
    while (this.#starts[g + 1]! <= r) g++;
    return g;
  }

  async read(rowStart: number, count: number, out?: Float32Array): Promise<Float32Array> {
    const cols = this.cols, end = rowStart + count;
    if (
      !Number.isInteger(rowStart) || !Number.isInteger(count) || rowStart < 0 || count < 0 ||
      end > this.rows
    ) {
      throw new RangeError(
        `Expected rows [${rowStart}, ${end}) within the ${this.rows} rows of ${this.path}`,
      );
    }
    out ??= new Float32Array(count * cols);
    let r = rowStart;
    while (r < end) {
      const b = this.#batch;
      if (b && b.fileRow <= r && r < b.fileRow + b.matrix.rows) {
        const hi = Math.min(end, b.fileRow + b.matrix.rows);
        out.set(
          b.matrix.data.subarray((r - b.fileRow) * cols, (hi - b.fileRow) * cols),
          (r - rowStart) * cols,
        );
        r = hi;
        continue;
      }
      // Go on from the current batch within its row group; else start over at r's row group.
      const next = b ? b.fileRow + b.matrix.rows : -1;
      if (!this.#stream || !b || r < next || this.#group(r) !== this.#group(next)) {
        await this.#stream?.return(undefined);
        this.#stream = streamParquetRows(this.file, { ...this.options, rowStart: r });
      }
      const step = await this.#stream.next();
      if (step.done) {
        throw new RangeError(`Expected row ${r} in ${this.path} but the file ended before it`);
      }
      this.#batch = step.value;
    }
    return out;
  }

  [Symbol.dispose](): void {
    const stream = this.#stream;
    this.#stream = this.#batch = undefined;
    // Ends the row group stream (its reader is cancelled) before the file is freed.
    stream?.return(undefined).catch(() => {});
    this.file.close();
  }
}
