/**
 * The index of an image input set: WebDataset shards (directories of `.tar`, `.tar` files,
 * brace patterns) read once for their member names, or image folders listed. The index holds
 * only the sample keys and where each shard's samples start; the image loader
 * (`image_loader.ts`) reads the images in a seeded order from it.
 *
 * @module
 */

import { IMAGE_EXTENSIONS, listImages } from "../model/images.ts";
import { isShardInput, listShards, readShard, type WebDatasetError } from "./webdataset.ts";

/** The samples of an image input set, in read order (shards by name, members in tar order). */
export interface ImageIndex {
  /** Where the images come from. */
  kind: "shards" | "files";
  /** Shard paths (`kind: "shards"`) or image files (`kind: "files"`), in read order. */
  sources: string[];
  /** Sample keys in read order; a sample's position here is its ordinal. */
  keys: string[];
  /** Ordinal of the first sample of every source (`sources.length + 1` entries). */
  starts: number[];
  /** Damaged shards met while indexing (the rest of each is skipped). */
  errors: WebDatasetError[];
}
function keyOfFile(input: string, file: string): string {
  const rel = file.startsWith(input + "/") ? file.slice(input.length + 1) : file.split("/").pop()!;
  return rel.replace(/\.[^./]+$/, "");
}
/**
 * The image member of a WebDataset sample: the first extension that names an image
 * (`jpg`, `jpeg`, `png`, `webp`), or undefined when the sample has none.
 *
 * @param files A sample's members by extension.
 * @returns The image member's extension.
 *
 * @example Usage
 * ```ts
 * import { imageExt } from "./image_index.ts";
 * console.log(imageExt(new Map([["json", new Uint8Array(0)], ["png", new Uint8Array(0)]]))); // png
 * ```
 */
export function imageExt(files: Map<string, Uint8Array>): string | undefined {
  for (const e of files.keys()) if (IMAGE_EXTENSIONS.includes(`.${e}`)) return e;
  return undefined;
}

/**
 * Indexes image inputs: WebDataset shards (directories of `.tar`, `.tar` files, brace patterns)
 * are read once for their member names, image folders are listed. Samples without an image
 * member are left out.
 *
 * @param inputs Shard sources or image files/directories.
 * @param options `onError` for damaged shards (the index keeps what was read before the damage);
 * `onShard` after every shard with shards done, shards in all and samples so far.
 * @returns The index.
 *
 * @example Usage
 * ```ts ignore
 * const index = await indexImages(["shards/"]);
 * console.log(index.keys.length);
 * ```
 */
export async function indexImages(
  inputs: string[],
  options: {
    onError?: (e: WebDatasetError) => void;
    onShard?: (done: number, total: number, samples: number) => void;
  } = {},
): Promise<ImageIndex> {
  const keys: string[] = [], starts: number[] = [0], errors: WebDatasetError[] = [];
  if (await isShardInput(inputs)) {
    const sources = await listShards(inputs);
    await refuseTwice(sources);
    for (const s of sources) {
      for await (
        const smp of readShard(s, {
          namesOnly: true,
          onError: (e) => {
            errors.push(e);
            options.onError?.(e);
          },
        })
      ) if (imageExt(smp.files)) keys.push(smp.key);
      starts.push(keys.length);
      options.onShard?.(starts.length - 1, sources.length, keys.length);
    }
    return { kind: "shards", sources, keys, starts, errors };
  }
  const sources: string[] = [];
  for (const i of inputs) {
    const dir = i.replace(/\/+$/, "");
    for (const f of await listImages([dir])) {
      sources.push(f);
      keys.push(keyOfFile(dir, f));
      starts.push(keys.length);
    }
  }
  if (sources.length === 0) {
    throw new RangeError(
      `Expected .tar shards or jpg/png/webp images in ${inputs.join(", ")} but found none`,
    );
  }
  await refuseTwice(sources);
  return { kind: "files", sources, keys, starts, errors };
}

/** Refuses a shard or image that the inputs name twice: its samples would count twice. */
async function refuseTwice(sources: string[]): Promise<void> {
  const seen = new Set<string>();
  for (const s of sources) {
    const real = await Deno.realPath(s).catch(() => s);
    if (seen.has(real)) {
      throw new RangeError(
        `Expected every input file once but found ${s} twice: its samples would count twice`,
      );
    }
    seen.add(real);
  }
}
