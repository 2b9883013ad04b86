/**
 * clip-retrieval's metadata file: `metadata_<i>.parquet` with `key` and, when known, `url` and
 * `caption`, one row per embedding in the same order.
 *
 * @module
 */

import { arrow } from "./_arrow_ipc.ts";
import { type ParquetWriteOptions, writeTableParquet } from "./_parquet_write.ts";

/** The columns of a metadata file: `key`, and optionally `url` and `caption` (null when absent). */
export interface ParquetMetadataColumns {
  /** One sample key per row. */
  key: readonly string[];
  /** The sample's URL, or null. */
  url?: readonly (string | null)[];
  /** The sample's caption, or null. */
  caption?: readonly (string | null)[];
}

/**
 * Writes a metadata file (`key`, `url`, `caption` as strings), zstd-compressed, atomically.
 *
 * @param path The file, e.g. `emb/metadata/metadata_0.parquet`.
 * @param columns `key`, and `url` / `caption` when the samples have them.
 * @param options `rowGroupRows` (default 65536), `compression` (default zstd).
 * @throws {TypeError} When a column's length differs from `key`'s.
 *
 * @example Usage
 * ```ts
 * import { readParquetKeys, writeParquetMetadata } from "./parquet.ts";
 * const path = await Deno.makeTempFile({ suffix: ".parquet" });
 * await Deno.remove(path);
 * await writeParquetMetadata(path, { key: ["a"], url: ["https://x/a.jpg"], caption: [null] });
 * console.log(await readParquetKeys(path)); // [ "a" ]
 * await Deno.remove(path);
 * ```
 */
export async function writeParquetMetadata(
  path: string,
  columns: ParquetMetadataColumns,
  options: ParquetWriteOptions = {},
): Promise<void> {
  const rows = columns.key.length;
  const table: Record<string, arrow.Vector> = {};
  for (const name of ["key", "url", "caption"] as const) {
    const values = columns[name];
    if (values === undefined) continue;
    if (values.length !== rows) {
      throw new TypeError(
        `Expected ${rows} values in column ${name} (one per key) but found ${values.length}`,
      );
    }
    table[name] = arrow.vectorFromArray(values as (string | null)[], new arrow.Utf8());
  }
  await writeTableParquet(path, new arrow.Table(table), options);
}
