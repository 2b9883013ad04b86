/**
 * clip-retrieval's embedding layout: `emb/img_emb/img_emb_<i>.npy` with
 * `emb/metadata/metadata_<i>.arrow` beside it (here: a `key` column, same row order).
 *
 * @module
 */

import { readArrowKeys } from "./arrow.ts";

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
export function metadataPathOf(file: string): string | undefined {
  const m = /^(.*?)(?:^|\/)img_emb\/img_emb_(\d+)\.[a-z]+$/i.exec(file);
  if (!m) return undefined;
  const root = m[1] ? `${m[1]}/` : "";
  return `${root}metadata/metadata_${m[2]}.arrow`;
}

/**
 * Reads the sample keys of embedding files from their clip-retrieval metadata, when every file
 * has one.
 *
 * @param files Embedding files, in read order.
 * @param rows Expected rows per file (checked against the keys), when known.
 * @returns The keys of all rows in order, or undefined when some file has no metadata.
 * @throws {TypeError} When a metadata file's row count differs from its embeddings'.
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
    const m = metadataPathOf(files[i]!);
    if (!m) return undefined;
    try {
      await Deno.stat(m);
    } catch {
      return undefined;
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
