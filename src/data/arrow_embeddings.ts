/**
 * Embeddings in Apache Arrow IPC files and streams: a `FixedSizeList` or equal-length `List`
 * column of Float16, Float32 or Float64, read as a float32 {@linkcode Matrix}; written as one
 * `FixedSizeList<Float32>` (or Float16) column.
 *
 * @module
 */

import { checkInputPath } from "./_input_path.ts";
import {
  columnsOf,
  type Data,
  type DataType,
  fixedList,
  type FixedSizeList,
  Float16,
  Float32,
  parseTable,
  Precision,
  Table,
  tableToIPC,
  Type,
  typeName,
  type Vector,
} from "./_arrow_ipc.ts";
import { checkMatrix, type Matrix } from "../matrix/matrix.ts";
import { writeFileAtomic } from "./atomic.ts";
import { float16ToFloat32 } from "./float16.ts";
import { checkOptionsObject } from "../_options.ts";

/** Options for {@linkcode readArrowEmbeddings}. */
export interface ArrowEmbeddingsOptions {
  /**
   * Name of the embedding column.
   * @default {the first column of list type}
   */
  column?: string;
}

/** Options for {@linkcode decodeArrowEmbeddings}. */
export interface DecodeArrowEmbeddingsOptions extends ArrowEmbeddingsOptions {
  /** Fill this array (length `rows × cols`) instead of allocating one. */
  into?: Float32Array;
  /** How to call the bytes in error messages (e.g. the file's path). @default {"arrow"} */
  name?: string;
}

/** Options for {@linkcode writeArrowEmbeddings} and {@linkcode encodeArrowEmbeddings}. */
export interface WriteArrowEmbeddingsOptions {
  /** The column name. @default {"embedding"} */
  column?: string;
  /**
   * Arrow IPC file format (with footer, `.arrow`/`.feather`) or stream format.
   * @default {"file"}
   */
  format?: "file" | "stream";
  /**
   * Element type of the stored list: float32, or float16 (rounded to nearest).
   * @default {"f4"}
   */
  dtype?: "f4" | "f2";
}
function isList(t: DataType): boolean {
  return t.typeId === Type.FixedSizeList || t.typeId === Type.List;
}

/** Finds the embedding column's index and checks its type. */
function pickColumn(table: Table, column: string | undefined, name: string): number {
  const fields = table.schema.fields;
  let index: number;
  if (column === undefined) {
    index = fields.findIndex((f) => isList(f.type));
    if (index < 0) {
      throw new TypeError(
        `Expected ${name} to have a list column of floats but found columns: ${columnsOf(table)}`,
      );
    }
  } else {
    index = fields.findIndex((f) => f.name === column);
    if (index < 0) {
      throw new RangeError(
        `Expected ${name} to have a column named "${column}" but found columns: ${
          columnsOf(table)
        }`,
      );
    }
  }
  const field = fields[index]!;
  const child = isList(field.type) ? (field.type.children[0]?.type as DataType | undefined) : null;
  if (!child || child.typeId !== Type.Float) {
    throw new TypeError(
      `Expected column "${field.name}" of ${name} to be FixedSizeList or List of Float16, Float32 or Float64 but found ${
        typeName(field.type)
      }`,
    );
  }
  return index;
}

/** Copies `count` float values starting at `start` of a Float column's data into `out`. */
function copyFloats(child: Data, start: number, count: number, out: Float32Array, at: number) {
  const values = child.values as Float32Array | Float64Array | Uint16Array;
  const precision = (child.type as Float16 | Float32).precision;
  if (precision === Precision.HALF) {
    const u16 = values as Uint16Array;
    float16ToFloat32(u16.subarray(start, start + count), out.subarray(at));
  } else {
    out.set(values.subarray(start, start + count), at);
  }
}

/**
 * Walks the embedding column; returns the matrix shape and, when `out` is given, fills it.
 */
function walk(
  table: Table,
  index: number,
  name: string,
  out?: Float32Array,
): { rows: number; cols: number } {
  const field = table.schema.fields[index]!;
  const vector = table.getChildAt(index) as Vector | null;
  const chunks: readonly Data[] = vector ? vector.data : [];
  let cols = field.type.typeId === Type.FixedSizeList ? (field.type as FixedSizeList).listSize : -1;
  let row = 0;
  for (const d of chunks) {
    if (d.length === 0) continue; // an empty batch (or the placeholder of a table without any)
    const child = d.children[0]!;
    if (d.nullCount > 0) {
      for (let i = 0; i < d.length; i++) {
        if (!d.getValid(i)) {
          throw new RangeError(
            `Expected column "${field.name}" of ${name} to have no nulls but found a null at row ${
              row + i
            }`,
          );
        }
      }
    }
    if (child.nullCount > 0) {
      throw new RangeError(
        `Expected column "${field.name}" of ${name} to have no null values but found ${child.nullCount} in rows ${row} to ${
          row + d.length - 1
        }`,
      );
    }
    if (d.typeId === Type.FixedSizeList) {
      if (out) copyFloats(child, 0, d.length * cols, out, row * cols);
    } else {
      const offsets = d.valueOffsets as Int32Array;
      for (let i = 0; i < d.length; i++) {
        const len = offsets[i + 1]! - offsets[i]!;
        if (cols < 0) cols = len;
        if (len !== cols) {
          throw new RangeError(
            `Expected every row of column "${field.name}" of ${name} to hold ${cols} values but found ${len} at row ${
              row + i
            }`,
          );
        }
      }
      if (out && d.length > 0) copyFloats(child, offsets[0]!, d.length * cols, out, row * cols);
    }
    row += d.length;
  }
  if (cols < 0) {
    throw new RangeError(
      `Expected column "${field.name}" of ${name} to hold at least one row (a List column's width is its rows' length) but found none`,
    );
  }
  if (cols < 1) {
    throw new RangeError(
      `Expected column "${field.name}" of ${name} to hold at least one value per row but found ${
        Math.max(cols, 0)
      }`,
    );
  }
  return { rows: row, cols };
}

/**
 * Returns the shape of the embedding matrix in an Arrow IPC file or stream without converting
 * the values.
 *
 * @param bytes The whole file.
 * @param options {@linkcode ArrowEmbeddingsOptions}.
 * @param name How to call the file in error messages.
 * @returns Rows and columns.
 *
 * @example Usage
 * ```ts
 * import { encodeArrowEmbeddings, scanArrowEmbeddings } from "./arrow.ts";
 * const bytes = encodeArrowEmbeddings({ data: new Float32Array(6), rows: 3, cols: 2 });
 * console.log(scanArrowEmbeddings(bytes)); // { rows: 3, cols: 2 }
 * ```
 */
export function scanArrowEmbeddings(
  bytes: Uint8Array,
  options: ArrowEmbeddingsOptions = {},
  name = "arrow",
): { rows: number; cols: number } {
  const table = parseTable(bytes, name);
  return walk(table, pickColumn(table, options.column, name), name);
}

/**
 * Decodes the embedding column of an Arrow IPC file or stream as a {@linkcode Matrix}. The
 * column is `FixedSizeList` or `List` (every row the same length) of Float32, Float16 or
 * Float64, converted to float32.
 *
 * @param bytes The whole file.
 * @param options The column, an optional destination array and the name used in error
 * messages ({@linkcode DecodeArrowEmbeddingsOptions}).
 * @returns The matrix.
 * @throws {RangeError} For bytes that are not Arrow IPC, a missing column (the message lists
 * the columns), ragged rows (naming the row) or nulls.
 * @throws {TypeError} For a column that is not a list of floats.
 *
 * @example Usage
 * ```ts
 * import { decodeArrowEmbeddings, encodeArrowEmbeddings } from "./arrow.ts";
 * const m = { data: new Float32Array([1, 2, 3, 4]), rows: 2, cols: 2 };
 * console.log(decodeArrowEmbeddings(encodeArrowEmbeddings(m)).data); // Float32Array(4) [ 1, 2, 3, 4 ]
 * ```
 */
export function decodeArrowEmbeddings(
  bytes: Uint8Array,
  options: DecodeArrowEmbeddingsOptions = {},
): Matrix {
  const name = options.name ?? "arrow";
  const table = parseTable(bytes, name);
  const index = pickColumn(table, options.column, name);
  const { rows, cols } = walk(table, index, name);
  const data = options.into ?? new Float32Array(rows * cols);
  if (data.length !== rows * cols) {
    throw new TypeError(
      `Expected options.into to hold ${rows} × ${cols} = ${
        rows * cols
      } values but found ${data.length}`,
    );
  }
  walk(table, index, name, data);
  return { data, rows, cols };
}

/**
 * Reads embeddings from an Arrow IPC file (`.arrow`, `.feather` v2) or stream: a
 * `FixedSizeList<Float32>` column, a `List<Float32>` with equal-length rows, or the same with
 * Float16/Float64 values (converted to float32).
 *
 * @param path The file.
 * @param options {@linkcode ArrowEmbeddingsOptions}.
 * @returns The matrix, one row per record.
 *
 * @example Usage
 * ```ts
 * import { readArrowEmbeddings, writeArrowEmbeddings } from "./arrow.ts";
 * const path = await Deno.makeTempFile({ suffix: ".arrow" });
 * await writeArrowEmbeddings(path, { data: new Float32Array([1, 2, 3, 4]), rows: 2, cols: 2 });
 * const m = await readArrowEmbeddings(path, { column: "embedding" });
 * console.log(m.rows, m.cols); // 2 2
 * await Deno.remove(path);
 * ```
 */
export async function readArrowEmbeddings(
  path: string,
  options: ArrowEmbeddingsOptions = {},
): Promise<Matrix> {
  await checkInputPath(path);
  return decodeArrowEmbeddings(await Deno.readFile(path), { ...options, name: path });
}

/**
 * Encodes a matrix as an Arrow IPC file or stream with one `FixedSizeList<Float32>` (or
 * Float16) column.
 *
 * @param m The embeddings.
 * @param options The column name, format and element type
 * ({@linkcode WriteArrowEmbeddingsOptions}).
 * @returns The bytes.
 *
 * @example Usage
 * ```ts
 * import { encodeArrowEmbeddings } from "./arrow.ts";
 * const bytes = encodeArrowEmbeddings({ data: new Float32Array(4), rows: 2, cols: 2 });
 * console.log(new TextDecoder().decode(bytes.subarray(0, 6))); // ARROW1
 * ```
 */
export function encodeArrowEmbeddings(
  m: Matrix,
  options: WriteArrowEmbeddingsOptions = {},
): Uint8Array {
  checkMatrix(m, "m");
  checkOptionsObject("encodeArrowEmbeddings", options, '{ column: "embedding" }');
  const column = options.column ?? "embedding";
  const values = options.dtype === "f2" ? new Float16Array(m.data) : m.data;
  const data = options.dtype === "f2"
    ? fixedList(
      new Float16(),
      new Uint16Array(values.buffer, values.byteOffset, values.length),
      m.rows,
      m.cols,
    )
    : fixedList(new Float32(), m.data, m.rows, m.cols);
  const table = new Table({ [column]: data });
  return tableToIPC(table, options.format ?? "file");
}

/**
 * Writes a matrix as an Arrow IPC file (or stream) with one `FixedSizeList<Float32>` column,
 * atomically.
 *
 * @param path The destination.
 * @param m The embeddings.
 * @param options The column name, format and element type
 * ({@linkcode WriteArrowEmbeddingsOptions}).
 * @returns A promise that resolves once the file is in place.
 *
 * @example Usage
 * ```ts
 * import { writeArrowEmbeddings } from "./arrow.ts";
 * const path = await Deno.makeTempFile({ suffix: ".arrow" });
 * await writeArrowEmbeddings(path, { data: new Float32Array(6), rows: 2, cols: 3 }, {
 *   column: "emb",
 * });
 * await Deno.remove(path);
 * ```
 */
export async function writeArrowEmbeddings(
  path: string,
  m: Matrix,
  options: WriteArrowEmbeddingsOptions = {},
): Promise<void> {
  await writeFileAtomic(path, encodeArrowEmbeddings(m, options));
}
