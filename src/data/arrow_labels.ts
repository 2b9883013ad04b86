/**
 * Labels and keys in Apache Arrow IPC files: top-`l` label indices and scores (with optional
 * row ids), as `deno task assign` writes them, and the one-column sample keys of
 * clip-retrieval's metadata files.
 *
 * @module
 */

import { checkInputPath } from "./_input_path.ts";
import {
  columnsOf,
  type DataType,
  fixedList,
  type FixedSizeList,
  Float32,
  Int32,
  Int64,
  makeData,
  makeVector,
  parseTable,
  Table,
  tableToIPC,
  Type,
  Uint32,
  Utf8,
  type Vector,
  vectorFromArray,
} from "./_arrow_ipc.ts";
import { writeFileAtomic } from "./atomic.ts";

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
  await checkInputPath(path);
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
  await checkInputPath(path);
  const table = parseTable(await Deno.readFile(path), path);
  const v = table.getChild(column);
  if (!v) {
    throw new TypeError(
      `Expected ${path} to have a "${column}" column but found columns: ${columnsOf(table)}`,
    );
  }
  return Array.from(v.toArray() as ArrayLike<unknown>, (x) => String(x));
}
