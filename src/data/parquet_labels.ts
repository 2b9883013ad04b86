/**
 * MLCD's multi-labels as Parquet: `key` (or `id`), `labels` (`list<uint32>`, l entries, nearest
 * first) and `scores` (`list<float32>`), zstd-compressed, in row groups. DuckDB, pandas,
 * Spark and clip-retrieval's readers open it as it is.
 *
 * @module
 */

import { arrow } from "./_arrow_ipc.ts";
import { openParquet } from "./parquet_file.ts";
import { type ParquetWriteOptions, writeTableParquet } from "./_parquet_write.ts";
import { readKeyColumn } from "./parquet_keys.ts";

/** Labels to write with {@linkcode writeParquetLabels}. */
export interface ParquetLabelsTable {
  /** `rows × l` center indices, row-major, nearest first. */
  indices: Uint32Array;
  /** `rows × l` similarities matching `indices`. */
  scores: Float32Array;
  /** Labels per row. */
  l: number;
  /** One sample key per row (column `key`); without keys, column `id` holds the row index. */
  keys?: readonly string[];
  /** Row identifiers for column `id` (e.g. global row indices), when there are no keys. */
  ids?: BigInt64Array | Int32Array;
  /** Without keys or ids: the global index of the first row, for `id`. @default {0} */
  firstId?: number;
}

/** Labels read back by {@linkcode readParquetLabels}. */
export interface ParquetLabels {
  /** `rows × l` center indices. */
  indices: Uint32Array;
  /** `rows × l` scores. */
  scores: Float32Array;
  /** Labels per row. */
  l: number;
  /** Rows. */
  rows: number;
  /** The `key` column (strings), or the `id` column (global row indices). */
  ids?: string[] | BigInt64Array;
}

function listVector(values: Uint32Array | Float32Array, rows: number, l: number) {
  const type = values instanceof Uint32Array ? new arrow.Uint32() : new arrow.Float32();
  const child = arrow.makeData(
    { type, length: values.length, data: values, nullCount: 0 } as never,
  );
  const valueOffsets = new Int32Array(rows + 1).map((_, i) => i * l);
  const listType = new arrow.List(new arrow.Field("element", type, false));
  return arrow.makeVector(
    arrow.makeData(
      { type: listType, length: rows, valueOffsets, child, nullCount: 0 } as never,
    ) as arrow.Data,
  );
}

/**
 * Writes labels as Parquet, atomically (nothing appears at `path` unless it is complete).
 *
 * @param path The file (conventionally `.parquet`).
 * @param table `indices`, `scores`, `l`, and `keys` (else an `id` column of global row indices
 * from `firstId`).
 * @param options `rowGroupRows` (default 65536), `compression` (default zstd).
 * @throws {TypeError} When the arrays disagree with `l` or the key count.
 *
 * @example Usage
 * ```ts
 * import { readParquetLabels, writeParquetLabels } from "./parquet.ts";
 * const path = await Deno.makeTempFile({ suffix: ".parquet" });
 * await Deno.remove(path);
 * const indices = new Uint32Array([3, 1, 0, 2]), scores = new Float32Array([0.9, 0.5, 0.8, 0.1]);
 * await writeParquetLabels(path, { indices, scores, l: 2, keys: ["a", "b"] });
 * console.log((await readParquetLabels(path)).ids); // [ "a", "b" ]
 * await Deno.remove(path);
 * ```
 */
export async function writeParquetLabels(
  path: string,
  table: ParquetLabelsTable,
  options: ParquetWriteOptions = {},
): Promise<void> {
  const { indices, scores, l } = table;
  if (!(indices instanceof Uint32Array) || !(scores instanceof Float32Array)) {
    throw new TypeError("Expected indices as a Uint32Array and scores as a Float32Array");
  }
  if (!Number.isInteger(l) || l < 1 || indices.length !== scores.length || indices.length % l) {
    throw new TypeError(
      `Expected indices and scores of rows × l values but found ${indices.length} and ${scores.length} for l = ${l}`,
    );
  }
  const rows = indices.length / l;
  const columns: Record<string, arrow.Vector> = {};
  if (table.keys) {
    if (table.keys.length !== rows) {
      throw new TypeError(`Expected ${rows} keys (one per row) but found ${table.keys.length}`);
    }
    columns.key = arrow.vectorFromArray(table.keys as string[], new arrow.Utf8());
  } else if (table.ids) {
    if (table.ids.length !== rows) {
      throw new TypeError(`Expected ${rows} ids (one per row) but found ${table.ids.length}`);
    }
    const ids = table.ids instanceof BigInt64Array
      ? table.ids
      : BigInt64Array.from(table.ids, (x) => BigInt(x));
    columns.id = arrow.makeVector(ids);
  } else {
    const first = BigInt(table.firstId ?? 0);
    const ids = new BigInt64Array(rows).map((_, i) => first + BigInt(i));
    columns.id = arrow.makeVector(ids);
  }
  columns.labels = listVector(indices, rows, l);
  columns.scores = listVector(scores, rows, l);
  await writeTableParquet(path, new arrow.Table(columns), options);
}

function fixedLists(
  path: string,
  t: arrow.Table,
  name: string,
  rowBase: number,
  l: number | undefined,
  push: (values: Uint32Array | Float32Array) => void,
): number {
  const v = t.getChild(name);
  if (!v) throw new TypeError(`Expected ${path} to have a "${name}" column`);
  let row = rowBase;
  for (const d of v.data) {
    const child = d.children[0];
    if (!child || d.nullCount || child.nullCount) {
      throw new RangeError(`Expected column "${name}" of ${path} to be a list without nulls`);
    }
    // A list, or a fixed-size list (as Arrow labels files have them).
    const size = arrow.DataType.isFixedSizeList(d.type) ? d.type.listSize : undefined;
    const off = size === undefined
      ? d.valueOffsets as Int32Array
      : Int32Array.from({ length: d.offset + d.length + 1 }, (_, i) => i * size);
    for (let i = 0; i < d.length; i++, row++) {
      const n = off[d.offset + i + 1]! - off[d.offset + i]!;
      l ??= n;
      if (n !== l) {
        throw new RangeError(`Expected ${l} ${name} in ${path} row ${row} but found ${n}`);
      }
    }
    const s = child.offset + off[d.offset]!, e = child.offset + off[d.offset + d.length]!;
    push((child.values as Uint32Array | Float32Array).slice(s, e));
  }
  return l ?? 0;
}

function concat<T extends Uint32Array | Float32Array>(parts: T[], out: T): T {
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/**
 * Reads a labels file written by {@linkcode writeParquetLabels} (or any Parquet file with
 * `labels: list<uint>` and `scores: list<float>` columns), one row group at a time.
 *
 * @param path The file.
 * @returns Indices, scores, `l`, the row count and the keys or ids.
 * @throws {TypeError} When a column is missing.
 * @throws {RangeError} When a row holds another number of labels, or the file is corrupt.
 *
 * @example Usage
 * ```ts ignore
 * const { indices, l, ids } = await readParquetLabels("labels.parquet");
 * ```
 */
export async function readParquetLabels(path: string): Promise<ParquetLabels> {
  using f = await openParquet(path);
  const names = f.columns.map((c) => c.name);
  const idName = names.includes("key") ? "key" : names.includes("id") ? "id" : undefined;
  let l: number | undefined;
  const idx: Uint32Array[] = [], sc: Float32Array[] = [];
  const ids: string[] = [], nums: bigint[] = [];
  let row = 0;
  for (let g = 0; g < f.rowGroups.length; g++) {
    const t = await f.readRowGroup(g, [...(idName ? [idName] : []), "labels", "scores"]);
    l = fixedLists(path, t, "labels", row, l, (v) => idx.push(Uint32Array.from(v)));
    fixedLists(path, t, "scores", row, l, (v) => sc.push(Float32Array.from(v)));
    if (idName === "key") ids.push(...readKeyColumn(t, "key", path, row));
    else if (idName === "id") {
      for (const x of t.getChild("id")!.toArray() as Iterable<number | bigint>) {
        nums.push(BigInt(x));
      }
    }
    row += t.numRows;
  }
  const result: ParquetLabels = {
    indices: concat(idx, new Uint32Array(row * (l ?? 0))),
    scores: concat(sc, new Float32Array(row * (l ?? 0))),
    l: l ?? 0,
    rows: row,
  };
  if (idName === "key") result.ids = ids;
  else if (idName === "id") result.ids = BigInt64Array.from(nums);
  return result;
}
