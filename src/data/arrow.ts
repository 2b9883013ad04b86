/**
 * Apache Arrow IPC input and output: embeddings from a list column, labels to an IPC file.
 * The only module that imports `apache-arrow`.
 *
 * @module
 */

import {
  type Data,
  type DataType,
  Field,
  FixedSizeList,
  Float16,
  Float32,
  Int32,
  Int64,
  makeData,
  makeVector,
  Precision,
  Table,
  tableFromIPC,
  tableToIPC,
  Type,
  Uint32,
  Utf8,
  type Vector,
  vectorFromArray,
} from "npm:apache-arrow@21.2.0";
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

/** Labels and scores to write with {@linkcode writeArrowLabels}. */
export interface ArrowLabelsTable {
  /** `rows × l` label (center) indices, row-major; stored as column `labels`. */
  indices: Uint32Array;
  /** `rows × l` scores matching `indices`. */
  scores: Float32Array;
  /** Labels per row. */
  l: number;
  /** Optional row identifiers, one per row, written as column `id`. */
  ids?: BigInt64Array | Int32Array | string[];
}

/** Labels and scores read back by {@linkcode readArrowLabels}. */
export interface ArrowLabels {
  /** `rows × l` label (center) indices, row-major, from column `labels`. */
  indices: Uint32Array;
  /** `rows × l` scores. */
  scores: Float32Array;
  /** Labels per row. */
  l: number;
  /** Number of rows. */
  rows: number;
  /** The `id` column when present. */
  ids?: BigInt64Array | Int32Array | string[];
}

function typeName(t: DataType): string {
  return String(t);
}

function parseTable(bytes: Uint8Array, name: string): Table {
  if (bytes.length === 0) {
    throw new RangeError(
      `Expected ${name} to be an Arrow IPC file or stream but found an empty file`,
    );
  }
  try {
    return tableFromIPC(bytes);
  } catch (cause) {
    throw new RangeError(
      `Expected ${name} to be an Arrow IPC file or stream but could not parse it: ${
        (cause as Error)?.message ?? cause
      }`,
      { cause },
    );
  }
}

function isList(t: DataType): boolean {
  return t.typeId === Type.FixedSizeList || t.typeId === Type.List;
}

function columnsOf(table: Table): string {
  const fields = table.schema.fields;
  return fields.length === 0
    ? "none"
    : fields.map((f) => `${f.name} (${typeName(f.type)})`).join(", ");
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
  return decodeArrowEmbeddings(await Deno.readFile(path), { ...options, name: path });
}

function fixedList(
  type: Float32 | Float16 | Uint32,
  values: Float32Array | Uint16Array | Uint32Array,
  rows: number,
  size: number,
): Vector {
  const listType = new FixedSizeList(size, new Field("item", type, false));
  const child = makeData({ type, length: rows * size, nullCount: 0, data: values } as never);
  return makeVector(
    makeData({ type: listType, length: rows, nullCount: 0, child } as never) as Data,
  );
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

/**
 * Writes top-`l` labels as an Arrow IPC file with columns `labels: FixedSizeList<UInt32>[l]`,
 * `scores: FixedSizeList<Float32>[l]` and, when given, `id` (Int64, Int32 or Utf8), atomically.
 *
 * @param path The destination.
 * @param table Labels, scores, `l` and optional ids.
 * @returns A promise that resolves once the file is in place.
 * @throws {RangeError} When `l` is not a positive integer.
 * @throws {TypeError} When the arrays are not a Uint32Array and a Float32Array, or their
 * lengths (or the ids') disagree.
 *
 * @example Usage
 * ```ts
 * import { readArrowLabels, writeArrowLabels } from "./arrow.ts";
 * const path = await Deno.makeTempFile({ suffix: ".arrow" });
 * await writeArrowLabels(path, {
 *   indices: new Uint32Array([3, 1, 0, 2]),
 *   scores: new Float32Array([0.9, 0.5, 0.8, 0.1]),
 *   l: 2,
 * });
 * console.log((await readArrowLabels(path)).rows); // 2
 * await Deno.remove(path);
 * ```
 */
export async function writeArrowLabels(path: string, table: ArrowLabelsTable): Promise<void> {
  const { indices: labels, scores, l, ids } = table;
  if (!(labels instanceof Uint32Array) || !(scores instanceof Float32Array)) {
    throw new TypeError(
      `Expected indices to be a Uint32Array and scores a Float32Array but found ${labels?.constructor?.name} and ${scores?.constructor?.name}`,
    );
  }
  if (!Number.isInteger(l) || l < 1) {
    throw new RangeError(`Expected l to be a positive integer but found ${l}`);
  }
  if (labels.length % l !== 0 || scores.length !== labels.length) {
    throw new TypeError(
      `Expected indices and scores to hold rows × ${l} values each but found ${labels.length} and ${scores.length}`,
    );
  }
  const rows = labels.length / l;
  const columns: Record<string, Vector> = {
    labels: fixedList(new Uint32(), labels, rows, l),
    scores: fixedList(new Float32(), scores, rows, l),
  };
  if (ids !== undefined) {
    if (ids.length !== rows) {
      throw new TypeError(`Expected ids to hold ${rows} values but found ${ids.length}`);
    }
    if (ids instanceof BigInt64Array) {
      columns.id = makeVector(makeData({ type: new Int64(), length: rows, data: ids }));
    } else if (ids instanceof Int32Array) {
      columns.id = makeVector(makeData({ type: new Int32(), length: rows, data: ids }));
    } else {
      columns.id = vectorFromArray(ids, new Utf8());
    }
  }
  await writeFileAtomic(path, tableToIPC(new Table(columns), "file"));
}

function collectFixed(
  table: Table,
  column: string,
  name: string,
): { values: Uint32Array | Float32Array; l: number } {
  const index = table.schema.fields.findIndex((f) => f.name === column);
  const field = table.schema.fields[index];
  if (!field || field.type.typeId !== Type.FixedSizeList) {
    throw new TypeError(
      `Expected ${name} to have a FixedSizeList column "${column}" but found columns: ${
        columnsOf(table)
      }`,
    );
  }
  const l = (field.type as FixedSizeList).listSize;
  const childType = (field.type as FixedSizeList).valueType as DataType;
  const total = table.numRows * l;
  const values = childType.typeId === Type.Int ? new Uint32Array(total) : new Float32Array(total);
  let at = 0;
  for (const d of (table.getChildAt(index) as Vector).data) {
    const child = d.children[0]!;
    const n = d.length * l;
    values.set((child.values as Uint32Array | Float32Array).subarray(0, n), at);
    at += n;
  }
  return { values, l };
}

/**
 * Reads a labels file written by {@linkcode writeArrowLabels}.
 *
 * @param path The file.
 * @returns The label indices, scores, `l`, the row count and the ids when present.
 *
 * @example Usage
 * ```ts
 * import { readArrowLabels, writeArrowLabels } from "./arrow.ts";
 * const path = await Deno.makeTempFile({ suffix: ".arrow" });
 * await writeArrowLabels(path, { indices: new Uint32Array([7]), scores: new Float32Array([1]), l: 1 });
 * console.log((await readArrowLabels(path)).indices); // Uint32Array(1) [ 7 ]
 * await Deno.remove(path);
 * ```
 */
export async function readArrowLabels(path: string): Promise<ArrowLabels> {
  const table = parseTable(await Deno.readFile(path), path);
  const labels = collectFixed(table, "labels", path);
  const scores = collectFixed(table, "scores", path);
  const result: ArrowLabels = {
    indices: labels.values as Uint32Array,
    scores: scores.values as Float32Array,
    l: labels.l,
    rows: table.numRows,
  };
  const idVector = table.getChild("id");
  if (idVector) {
    const t = idVector.type as DataType;
    if (t.typeId === Type.Utf8) result.ids = idVector.toArray() as string[];
    else if (t.typeId === Type.Int && (t as Int64).bitWidth === 64) {
      result.ids = idVector.toArray() as BigInt64Array;
    } else result.ids = Int32Array.from(idVector.toArray() as ArrayLike<number>);
  }
  return result;
}

/**
 * Writes sample keys as a one-column Arrow IPC file (`key: Utf8`), atomically: the metadata
 * half of clip-retrieval's `metadata_<i>` files.
 *
 * @param path The file.
 * @param keys One key per row.
 *
 * @example Usage
 * ```ts
 * import { readArrowKeys, writeArrowKeys } from "./arrow.ts";
 * const path = await Deno.makeTempFile({ suffix: ".arrow" });
 * await writeArrowKeys(path, ["a", "b"]);
 * console.log(await readArrowKeys(path)); // [ "a", "b" ]
 * await Deno.remove(path);
 * ```
 */
export async function writeArrowKeys(path: string, keys: string[]): Promise<void> {
  const table = new Table({ key: vectorFromArray(keys, new Utf8()) });
  await writeFileAtomic(path, tableToIPC(table, "file"));
}

/**
 * Reads the `key` column (or `column`) of an Arrow IPC file as strings.
 *
 * @param path The file.
 * @param column The column. @default {"key"}
 * @returns The keys, one per row.
 * @throws {TypeError} When the column is missing (the message lists the columns).
 *
 * @example Usage
 * ```ts ignore
 * const keys = await readArrowKeys("emb/metadata/metadata_0.arrow");
 * ```
 */
export async function readArrowKeys(path: string, column = "key"): Promise<string[]> {
  const table = parseTable(await Deno.readFile(path), path);
  const v = table.getChild(column);
  if (!v) {
    throw new TypeError(
      `Expected ${path} to have a "${column}" column but found columns: ${columnsOf(table)}`,
    );
  }
  return Array.from(v.toArray() as ArrayLike<unknown>, (x) => String(x));
}
