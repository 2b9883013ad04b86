/**
 * Sample keys from Parquet metadata (clip-retrieval's `metadata_<i>.parquet`: `key`, `url`,
 * `caption`, …), read one row group at a time.
 *
 * @module
 */

import { arrow } from "./_arrow_ipc.ts";
import { openParquet } from "./parquet_file.ts";
import type { ArrowTable } from "./parquet_file.ts";

/** Options for {@linkcode readParquetKeys}. */
export interface ReadParquetKeysOptions {
  /** The key column. @default {"key"} */
  column?: string;
  /** The rows the file must hold (those of its embeddings), checked before any key is read. */
  rows?: number;
  /** The embedding file the keys belong to, named when the row counts disagree. */
  embeddings?: string;
}

/**
 * The values of a key column of one table, as strings (integer keys are written in decimal).
 * A null key is a RangeError naming the file and row.
 *
 * @param table A table read from the file.
 * @param column The key column.
 * @param path The file, for messages.
 * @param rowBase The table's first row in the file.
 * @returns One string per row.
 *
 * @example Usage
 * ```ts ignore
 * const keys = readKeyColumn(await file.readRowGroup(0, ["key"]), "key", file.path, 0);
 * ```
 */
export function readKeyColumn(
  table: ArrowTable,
  column: string,
  path: string,
  rowBase: number,
): string[] {
  const v = table.getChild(column);
  if (!v) throw new TypeError(`Expected ${path} to have a "${column}" column`);
  const type = v.type;
  if (
    !arrow.DataType.isUtf8(type) && !arrow.DataType.isLargeUtf8(type) &&
    !arrow.DataType.isInt(type)
  ) {
    throw new TypeError(
      `Expected column "${column}" of ${path} to hold strings or integers but found ${type}`,
    );
  }
  const out: string[] = new Array(v.length);
  for (let i = 0; i < v.length; i++) {
    const x = v.get(i);
    if (x === null || x === undefined) {
      throw new RangeError(`Expected a ${column} in ${path} row ${rowBase + i} but found null`);
    }
    out[i] = String(x);
  }
  return out;
}

/**
 * Reads the sample keys of a Parquet metadata file, row group by row group (the other columns
 * are not read).
 *
 * @param path The file, e.g. `metadata/metadata_0.parquet`.
 * @param options `column` (default `key`); `rows` and `embeddings`: the row count the file must
 * hold and the embedding file it belongs to (both named when they disagree).
 * @returns The keys, one per row, as strings.
 * @throws {TypeError} When the column is missing (the message lists the columns).
 * @throws {RangeError} When the row count disagrees, a key is null, or the file is corrupt.
 *
 * @example Usage
 * ```ts
 * import { readParquetKeys, writeParquetMetadata } from "./parquet.ts";
 * const path = await Deno.makeTempFile({ suffix: ".parquet" });
 * await Deno.remove(path);
 * await writeParquetMetadata(path, { key: ["000", "001"], caption: ["a cat", "a dog"] });
 * console.log(await readParquetKeys(path)); // [ "000", "001" ]
 * await Deno.remove(path);
 * ```
 */
export async function readParquetKeys(
  path: string,
  options: ReadParquetKeysOptions = {},
): Promise<string[]> {
  const column = options.column ?? "key";
  using f = await openParquet(path);
  if (!f.columns.some((c) => c.name === column)) {
    const list = f.columns.map((c) => c.name).join(", ") || "none";
    throw new TypeError(`Expected ${path} to have a "${column}" column but found columns: ${list}`);
  }
  if (options.rows !== undefined && options.rows !== f.rows) {
    const other = options.embeddings ? ` like ${options.embeddings}` : "";
    throw new RangeError(
      `Expected ${path} to hold ${options.rows} rows${other} but found ${f.rows}`,
    );
  }
  const keys: string[] = [];
  for (let g = 0; g < f.rowGroups.length; g++) {
    const t = await f.readRowGroup(g, [column]);
    for (const k of readKeyColumn(t, column, path, keys.length)) keys.push(k);
  }
  return keys;
}
