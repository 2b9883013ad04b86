/**
 * clip-retrieval's embedding layout: `emb/img_emb/img_emb_<i>.npy` with
 * `emb/metadata/metadata_<i>.parquet` beside it (a `key` column, same row order; `url`,
 * `caption`, … too), as LAION publishes it. Older toolkit output has `metadata_<i>.arrow`.
 *
 * @module
 */

import { readArrowKeys } from "./arrow.ts";
import { isParquet } from "./_file_rows.ts";
import { loadParquet } from "./load_parquet.ts";

/** The Parquet reader, loaded only for Parquet metadata (it is not part of the npm-free core). */
const parquet = loadParquet;

/**
 * The metadata file that goes with an embedding file in clip-retrieval's layout, or undefined
 * when the name does not follow it.
 *
 * @param file An embedding file, e.g. `emb/img_emb/img_emb_3.npy`.
 * @returns E.g. `emb/metadata/metadata_3.arrow`.
 *
 * @example Usage
 * ```ts
 * import { metadataPathOf } from "./clip_layout.ts";
 * console.log(metadataPathOf("emb/img_emb/img_emb_3.npy")); // emb/metadata/metadata_3.arrow
 * ```
 */
export function metadataPathOf(
  file: string,
  ext: "arrow" | "parquet" = "arrow",
): string | undefined {
  const m = /^(.*?)(?:^|\/)img_emb\/img_emb_(\d+)\.[a-z]+$/i.exec(file);
  if (!m) return undefined;
  const root = m[1] ? `${m[1]}/` : "";
  return `${root}metadata/metadata_${m[2]}.${ext}`;
}

/**
 * The metadata file of an embedding file that exists: `metadata_<i>.parquet`, else
 * `metadata_<i>.arrow`; for a Parquet embedding file with a `key` column, the file itself.
 *
 * @param file An embedding file.
 * @returns The metadata file, or undefined when there is none.
 *
 * @example Usage
 * ```ts
 * import { findMetadataFile } from "./clip_layout.ts";
 * console.log(await findMetadataFile("no/img_emb/img_emb_0.npy")); // undefined
 * ```
 */
export async function findMetadataFile(file: string): Promise<string | undefined> {
  if (isParquet(file)) {
    using f = await (await parquet()).openParquet(file);
    return f.columns.some((c) => c.name === "key") ? file : undefined;
  }
  for (const ext of ["parquet", "arrow"] as const) {
    const m = metadataPathOf(file, ext);
    if (m && (await Deno.stat(m).catch(() => null))?.isFile) return m;
  }
  return undefined;
}

/**
 * Reads the sample keys of embedding files from their clip-retrieval metadata, when every file
 * has one.
 *
 * @param files Embedding files, in read order.
 * @param rows Expected rows per file (checked against the keys), when known.
 * @returns The keys of all rows in order, or undefined when some file has no metadata.
 * @throws {TypeError} When an Arrow metadata file's row count differs from its embeddings', or
 * a Parquet one has no `key` column.
 * @throws {RangeError} When a Parquet metadata file's row count differs (naming both files), or
 * it is truncated.
 *
 * @example Usage
 * ```ts ignore
 * const keys = await readEmbeddingKeys(["emb/img_emb/img_emb_0.npy"]);
 * ```
 */
export async function readEmbeddingKeys(
  files: string[],
  rows?: number[],
): Promise<string[] | undefined> {
  const out: string[] = [];
  for (let i = 0; i < files.length; i++) {
    const m = await findMetadataFile(files[i]!);
    if (!m) return undefined;
    if (isParquet(m)) {
      // Row counts checked from the footer before any key is read (naming both files).
      const options = rows ? { rows: rows[i]!, embeddings: files[i]! } : {};
      for (const k of await (await parquet()).readParquetKeys(m, options)) out.push(k);
      continue;
    }
    const keys = await readArrowKeys(m);
    if (rows && rows[i] !== keys.length) {
      throw new TypeError(
        `Expected ${m} to hold ${rows[i]} keys like ${files[i]} but found ${keys.length}`,
      );
    }
    for (const k of keys) out.push(k);
  }
  return out;
}
