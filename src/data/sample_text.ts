/**
 * The text of WebDataset samples as img2dataset writes it (`{key}.json` with `url` and
 * `caption`, `{key}.txt` with the caption), for the metadata files `deno task embed` writes
 * beside its embeddings (clip-retrieval's `url` and `caption` columns).
 *
 * @module
 */

import { readShard } from "./webdataset.ts";

/** A sample's URL and caption, null when the sample has none. */
export interface SampleText {
  /** The `url` of the sample's JSON member. */
  url: string | null;
  /** The `caption` of its JSON member, else its `.txt` member. */
  caption: string | null;
}

function field(json: Record<string, unknown> | undefined, name: string): string | null {
  const v = json?.[name];
  return typeof v === "string" ? v : null;
}

/**
 * Reads the URL and caption of every sample of the shards that has one (one sequential pass;
 * damaged members are left to the image loader to report).
 *
 * @param shards The `.tar` shards.
 * @returns Text by sample key (samples without either are left out).
 *
 * @example Usage
 * ```ts
 * import { readSampleText } from "./sample_text.ts";
 * import { writeShard } from "./webdataset.ts";
 * const path = await Deno.makeTempFile({ suffix: ".tar" });
 * const json = new TextEncoder().encode(JSON.stringify({ url: "https://x/a.jpg", caption: "a cat" }));
 * await writeShard(path, [{ key: "a", files: new Map([["json", json]]) }]);
 * console.log((await readSampleText([path])).get("a")); // { url: "https://x/a.jpg", caption: "a cat" }
 * await Deno.remove(path);
 * ```
 */
export async function readSampleText(shards: string[]): Promise<Map<string, SampleText>> {
  const out = new Map<string, SampleText>();
  const dec = new TextDecoder();
  for (const shard of shards) {
    for await (const s of readShard(shard, { onError: () => {} })) {
      let json: Record<string, unknown> | undefined;
      const j = s.files.get("json");
      if (j) {
        try {
          const v = JSON.parse(dec.decode(j));
          if (v && typeof v === "object") json = v as Record<string, unknown>;
        } catch { /* not JSON: no text from it */ }
      }
      const txt = s.files.get("txt");
      const url = field(json, "url");
      const caption = field(json, "caption") ?? (txt ? dec.decode(txt) : null);
      if (url !== null || caption !== null) out.set(s.key, { url, caption });
    }
  }
  return out;
}

/**
 * The `url` and `caption` columns of a metadata file for the given keys, or none when no
 * sample has text.
 *
 * @param keys The rows' sample keys.
 * @param text From {@linkcode readSampleText}.
 * @returns `{ url, caption }` (null for samples without), or `{}`.
 *
 * @example Usage
 * ```ts
 * import { sampleTextColumns } from "./sample_text.ts";
 * const text = new Map([["a", { url: "u", caption: null }]]);
 * console.log(sampleTextColumns(["a", "b"], text)); // { url: [ "u", null ], caption: [ null, null ] }
 * ```
 */
export function sampleTextColumns(
  keys: readonly string[],
  text: Map<string, SampleText> | undefined,
): { url?: (string | null)[]; caption?: (string | null)[] } {
  if (!text || text.size === 0) return {};
  return {
    url: keys.map((k) => text.get(k)?.url ?? null),
    caption: keys.map((k) => text.get(k)?.caption ?? null),
  };
}
