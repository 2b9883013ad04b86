/**
 * WebDataset `.tar` shards as img2dataset writes them (`{key}.jpg` + `{key}.json` + …): list
 * shards from directories and brace patterns, and stream their samples with the `tar-stream`
 * npm package, member by member, without holding a shard in memory. The only module that
 * imports `tar-stream`.
 *
 * @module
 */

import tar from "npm:tar-stream@3.1.7";
import { createReadStream } from "node:fs";
import { writeFileAtomic } from "../fs/atomic.ts";

/** One WebDataset sample: consecutive tar members sharing a key. */
export interface WebDatasetSample {
  /** The sample key: the member path up to the first dot of its file name. */
  key: string;
  /** The shard the sample comes from. */
  shard: string;
  /** Member contents by extension (`"jpg"`, `"json"`, `"cls"` …, lower-case). */
  files: Map<string, Uint8Array>;
}

/** A tar member or shard that could not be read, reported instead of stopping the stream. */
export interface WebDatasetError {
  /** The shard. */
  shard: string;
  /** The member's name, when the error concerns one member. */
  member?: string;
  /** What went wrong. */
  message: string;
}

/** Options of {@linkcode readShard}. */
export interface ReadShardOptions {
  /**
   * Read only the member names, not their contents (`files` then holds empty arrays).
   * @default {false}
   */
  namesOnly?: boolean;
  /**
   * Called for a damaged shard (bad header, truncated data); the rest of that shard is
   * skipped and the stream goes on with the next shard.
   * @default {undefined}
   */
  onError?: (e: WebDatasetError) => void;
}

/**
 * Expands shell-style braces: numeric ranges keep their zero padding
 * (`{00000..00002}` → `00000`, `00001`, `00002`) and lists are alternatives (`{a,b}`).
 *
 * @param pattern A path with zero or more `{…}` groups.
 * @returns Every expansion, in order.
 * @throws {RangeError} For an unclosed brace or a range whose end precedes its start.
 *
 * @example Usage
 * ```ts
 * import { expandBraces } from "./webdataset.ts";
 * console.log(expandBraces("s/{000..002}.tar")); // [ "s/000.tar", "s/001.tar", "s/002.tar" ]
 * ```
 */
export function expandBraces(pattern: string): string[] {
  const open = pattern.indexOf("{");
  if (open < 0) return [pattern];
  const close = pattern.indexOf("}", open);
  if (close < 0) {
    throw new RangeError(`Expected a closing "}" in the shard pattern ${pattern} but found none`);
  }
  const body = pattern.slice(open + 1, close);
  const head = pattern.slice(0, open), tail = expandBraces(pattern.slice(close + 1));
  let parts: string[];
  const range = /^(\d+)\.\.(\d+)$/.exec(body);
  if (range) {
    const [, a, b] = range as unknown as [string, string, string];
    const lo = Number(a), hi = Number(b);
    if (hi < lo) {
      throw new RangeError(
        `Expected the range {${body}} in ${pattern} to end at or after its start but found ${hi} < ${lo}`,
      );
    }
    const width = a.length === b.length ? a.length : 0;
    parts = [];
    for (let i = lo; i <= hi; i++) parts.push(String(i).padStart(width, "0"));
  } else parts = body.split(",");
  const out: string[] = [];
  for (const p of parts) for (const t of tail) out.push(head + p + t);
  return out;
}

/**
 * Tells whether command-line inputs name WebDataset shards: a `.tar` file, a brace pattern, or
 * a directory holding `.tar` files.
 *
 * @param inputs Paths as given on the command line.
 * @returns True when every input is a shard source.
 *
 * @example Usage
 * ```ts ignore
 * if (await isShardInput(["shards/"])) console.log("WebDataset");
 * ```
 */
export async function isShardInput(inputs: string[]): Promise<boolean> {
  if (inputs.length === 0) return false;
  for (const i of inputs) {
    if (i.includes("{") || i.toLowerCase().endsWith(".tar")) continue;
    try {
      if (!(await Deno.stat(i)).isDirectory) return false;
    } catch {
      return false;
    }
    let tars = false;
    for await (const e of Deno.readDir(i)) {
      if (e.isFile && e.name.toLowerCase().endsWith(".tar")) tars = true;
    }
    if (!tars) return false;
  }
  return true;
}

/**
 * Lists shard files: a directory gives its `.tar` files sorted by name, a brace pattern its
 * expansions (each must exist), a file itself.
 *
 * @param inputs Directories, `.tar` files and brace patterns.
 * @returns Shard paths in read order.
 * @throws {Deno.errors.NotFound} For a path that does not exist (naming it).
 * @throws {RangeError} When no shard is found.
 *
 * @example Usage
 * ```ts ignore
 * const shards = await listShards(["shards/{00000..00099}.tar"]);
 * ```
 */
export async function listShards(inputs: string[]): Promise<string[]> {
  const out: string[] = [];
  for (const input of inputs) {
    for (const p of expandBraces(input)) {
      let st: Deno.FileInfo;
      try {
        st = await Deno.stat(p);
      } catch (e) {
        if (e instanceof Deno.errors.NotFound) {
          throw new Deno.errors.NotFound(`No such shard or directory: ${p}`);
        }
        throw e;
      }
      if (st.isDirectory) {
        const names: string[] = [];
        for await (const e of Deno.readDir(p)) {
          if (e.isFile && e.name.toLowerCase().endsWith(".tar")) names.push(e.name);
        }
        names.sort();
        const dir = p.replace(/\/+$/, "");
        for (const n of names) out.push(`${dir}/${n}`);
      } else out.push(p);
    }
  }
  if (out.length === 0) {
    throw new RangeError(`Expected .tar shards in ${inputs.join(", ")} but found none`);
  }
  return out;
}

/** Splits a member name into the WebDataset key and extension (`a/b.seg.png` → `a/b`, `seg.png`). */
function splitKey(name: string): [string, string] {
  const slash = name.lastIndexOf("/");
  const dot = name.indexOf(".", slash + 1);
  if (dot < 0) return [name, ""];
  return [name.slice(0, dot), name.slice(dot + 1).toLowerCase()];
}

async function readAll(stream: AsyncIterable<Uint8Array>, size: number): Promise<Uint8Array> {
  const out = new Uint8Array(size);
  let at = 0;
  for await (const c of stream) {
    if (at + c.length > size) throw new RangeError(`member is longer than its header's ${size}`);
    out.set(c, at);
    at += c.length;
  }
  if (at !== size) throw new RangeError(`member holds ${at} of its header's ${size} bytes`);
  return out;
}

/**
 * Streams the samples of one shard in tar order, grouping consecutive members with the same
 * key. Directories and other non-file members are ignored. A damaged shard (bad header,
 * truncated member) ends that shard's stream after reporting it to `onError`; samples read
 * before the damage are kept.
 *
 * @param shard Path of a `.tar` file.
 * @param options See {@linkcode ReadShardOptions}.
 * @returns The samples.
 *
 * @example Usage
 * ```ts ignore
 * for await (const s of readShard("shards/00000.tar")) console.log(s.key, [...s.files.keys()]);
 * ```
 */
export async function* readShard(
  shard: string,
  options: ReadShardOptions = {},
): AsyncGenerator<WebDatasetSample> {
  const ex = tar.extract();
  const rs = createReadStream(shard);
  rs.on("error", (e: Error) => ex.destroy(e));
  rs.pipe(ex);
  let cur: WebDatasetSample | undefined;
  let member: string | undefined;
  try {
    for await (const entry of ex) {
      const h = entry.header;
      member = h.name;
      if (h.type !== "file" && h.type !== "contiguous-file") {
        entry.resume();
        continue;
      }
      const [key, ext] = splitKey(h.name);
      const data = options.namesOnly
        ? (entry.resume(), new Uint8Array(0))
        : await readAll(entry as AsyncIterable<Uint8Array>, h.size ?? 0);
      if (cur && cur.key !== key) {
        yield cur;
        cur = undefined;
      }
      cur ??= { key, shard, files: new Map() };
      cur.files.set(ext, data);
      member = undefined;
    }
  } catch (e) {
    const err: WebDatasetError = {
      shard,
      message: `cannot read ${shard}${member ? ` at member ${member}` : ""}: ${
        (e as Error).message
      }`,
    };
    if (member) err.member = member;
    rs.destroy();
    ex.destroy();
    if (!options.onError) throw new RangeError(err.message);
    options.onError(err);
  } finally {
    rs.destroy();
    ex.destroy();
  }
  if (cur) yield cur;
}

/**
 * Writes one WebDataset shard: for each sample, its members `{key}.{ext}` in the given order.
 * Written atomically (temporary file, then rename). Handy for tests and for converting data.
 *
 * @param path The `.tar` file to write.
 * @param samples Keys and their members by extension.
 * @returns A promise that resolves when the shard is in place.
 *
 * @example Usage
 * ```ts ignore
 * await writeShard("shards/00000.tar", [{ key: "0001", files: new Map([["png", png]]) }]);
 * ```
 */
export async function writeShard(
  path: string,
  samples: Iterable<{ key: string; files: Map<string, Uint8Array> }>,
): Promise<void> {
  const pack = tar.pack();
  const chunks: Uint8Array[] = [];
  const done = (async () => {
    for await (const c of pack) chunks.push(c as Uint8Array);
  })();
  for (const s of samples) {
    for (const [ext, data] of s.files) {
      await new Promise<void>((resolve, reject) =>
        pack.entry(
          { name: `${s.key}.${ext}`, size: data.length, mtime: new Date(0) },
          data,
          (e?: Error | null) => e ? reject(e) : resolve(),
        )
      );
    }
  }
  pack.finalize();
  await done;
  await writeFileAtomic(path, async function* () {
    yield* chunks;
  });
}
