/**
 * Manifests of the scale-out jobs' outputs: what was read (files with sizes and mtimes), with
 * which parameters and toolkit version, and the size and sha256 of every file written. They
 * make each job idempotent and restartable: a rerun whose manifest matches skips the work, and
 * an output made by another run is refused (see {@linkcode checkOutputs} in `commit.ts`).
 *
 * @module
 */
import { createHash } from "node:crypto";
import { dirname, join, resolve } from "node:path";
import { TOOLKIT_VERSION } from "../version.ts";

/**
 * A JSON value (manifest parameters).
 *
 * @example Usage
 * ```ts
 * import type { Json } from "./manifest.ts";
 * const params: { [key: string]: Json } = { k: 1000, metric: "cosine", column: null };
 * console.log(Object.keys(params).length); // 3
 * ```
 */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/**
 * An input file as the manifest records it.
 *
 * @example Usage
 * ```ts
 * import type { ManifestInput } from "./manifest.ts";
 * const input: ManifestInput = { path: "/data/emb0.npy", size: 128, mtimeMs: 0 };
 * console.log(input.size); // 128
 * ```
 */
export interface ManifestInput {
  /** Absolute path. */
  path: string;
  /** Size in bytes. */
  size: number;
  /** Modification time, milliseconds since the epoch. */
  mtimeMs: number;
}

/**
 * An output file as the manifest records it.
 *
 * @example Usage
 * ```ts
 * import type { ManifestOutput } from "./manifest.ts";
 * const out: ManifestOutput = { name: "part-0-of-4.npy", size: 128, sha256: "ab12…" };
 * console.log(out.name); // part-0-of-4.npy
 * ```
 */
export interface ManifestOutput {
  /** File name, in the manifest's directory. */
  name: string;
  /** Size in bytes. */
  size: number;
  /** Lower-case hex sha256 of the content. */
  sha256: string;
}

/**
 * The `.json` manifest written beside a job's outputs.
 *
 * @example Usage
 * ```ts ignore
 * const m: Manifest = await readManifest("parts/part-0-of-4.json");
 * console.log(m.kind, m.outputs.map((o) => o.name));
 * ```
 */
export interface Manifest {
  /** Always "mlcd-manifest". */
  format: "mlcd-manifest";
  /** What made the outputs: "cluster-part", "cluster-merge", "cluster-hierarchical", "assign-part". */
  kind: string;
  /** Toolkit version (src/version.ts). */
  toolkit: string;
  /** The part, for jobs split into parts (the field keeps its first name, `shard`). */
  shard: { index: number; count: number } | null;
  /** Files read. */
  inputs: ManifestInput[];
  /** Parameters that determine the outputs. */
  params: { [key: string]: Json };
  /** Files written, with their hashes. */
  outputs: ManifestOutput[];
  /** Informational fields (rows, objective, seconds, time); not compared. */
  info: { [key: string]: Json };
}

/**
 * The part of a manifest that decides whether a rerun may skip its work.
 *
 * @example Usage
 * ```ts
 * import type { ManifestKey } from "./manifest.ts";
 * const key: ManifestKey = { kind: "cluster-merge", shard: null, inputs: [], params: { k: 8 } };
 * console.log(key.kind); // cluster-merge
 * ```
 */
export type ManifestKey = Pick<Manifest, "kind" | "shard" | "inputs" | "params"> & {
  /**
   * The flag a user typed for a parameter whose key differs from it (a part job records
   * `--k` as `k1`), so that messages name the flag; not stored. @default {undefined}
   */
  flags?: Record<string, string>;
};

/**
 * Records `files` (absolute paths, sizes, mtimes) in order.
 *
 * @param files The files read.
 * @returns Their manifest entries.
 *
 * @example Usage
 * ```ts
 * import { describeInputs } from "./manifest.ts";
 * const path = await Deno.makeTempFile();
 * await Deno.writeTextFile(path, "rows");
 * console.log((await describeInputs([path]))[0]!.size); // 4
 * await Deno.remove(path);
 * ```
 */
export async function describeInputs(files: string[]): Promise<ManifestInput[]> {
  const out: ManifestInput[] = [];
  for (const file of files) {
    const info = await Deno.stat(file);
    out.push({ path: resolve(file), size: info.size, mtimeMs: info.mtime?.getTime() ?? 0 });
  }
  return out;
}

/**
 * Lower-case hex sha256 of a file, read in 4 MiB chunks (to verify a finished job's outputs;
 * a commit hashes the bytes as it writes them).
 *
 * @param path The file.
 * @returns The digest.
 *
 * @example Usage
 * ```ts
 * import { sha256File } from "./manifest.ts";
 * const path = await Deno.makeTempFile();
 * console.log((await sha256File(path)).slice(0, 8)); // e3b0c442 (the empty file)
 * await Deno.remove(path);
 * ```
 */
export async function sha256File(path: string): Promise<string> {
  const hash = createHash("sha256");
  using file = await Deno.open(path);
  const buf = new Uint8Array(4 << 20);
  for (;;) {
    const n = await file.read(buf);
    if (n === null) break;
    hash.update(buf.subarray(0, n));
  }
  return hash.digest("hex");
}

/**
 * Path of the manifest of an output: `x/part-0-of-4.npy` → `x/part-0-of-4.json`.
 *
 * @param output The job's first output.
 * @returns Its manifest's path.
 *
 * @example Usage
 * ```ts
 * import { manifestPath } from "./manifest.ts";
 * console.log(manifestPath("labels/part-2-of-3.arrow")); // labels/part-2-of-3.json
 * ```
 */
export function manifestPath(output: string): string {
  return output.replace(/\.(npy|arrow|feather|ipc)$/i, "") + ".json";
}

function same(a: Json | undefined, b: Json | undefined): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

function show(v: Json | undefined): string {
  return v === undefined ? "unset" : JSON.stringify(v);
}

/**
 * A stored manifest's parameters in today's names: `spherical: true|false` (manifests
 * written before `--metric`) reads as `metric: "cosine"|"l2"`.
 *
 * @param params The stored parameters.
 * @returns The same parameters under today's names.
 *
 * @example Usage
 * ```ts
 * import { currentParams } from "./manifest.ts";
 * console.log(currentParams({ k: 8, spherical: false })); // { k: 8, metric: "l2" }
 * ```
 */
export function currentParams(params: { [key: string]: Json }): { [key: string]: Json } {
  if (typeof params.spherical !== "boolean" || "metric" in params) return params;
  const { spherical, ...rest } = params;
  return { ...rest, metric: spherical ? "cosine" : "l2" };
}

/**
 * Names the first difference between a stored manifest and the wanted one, or returns
 * undefined when they agree on kind, toolkit version, part, inputs and parameters.
 *
 * @param stored The manifest on disk.
 * @param want What this run would record.
 * @returns The difference in words, or undefined.
 *
 * @example Usage
 * ```ts ignore
 * const diff = manifestDifference(await readManifest(path), key);
 * if (diff !== undefined) console.log(`another run: ${diff}`); // e.g. parameter k 8 ≠ 16
 * ```
 */
export function manifestDifference(stored: Manifest, want: ManifestKey): string | undefined {
  if (stored.kind !== want.kind) return `it was made by ${stored.kind}, not ${want.kind}`;
  if (stored.toolkit !== TOOLKIT_VERSION) {
    return `toolkit version ${stored.toolkit} ≠ ${TOOLKIT_VERSION}`;
  }
  if (!same(stored.shard, want.shard)) {
    return `part ${show(stored.shard as Json)} ≠ ${show(want.shard as Json)}`;
  }
  const a = stored.inputs ?? [], b = want.inputs;
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const x = a[i], y = b[i];
    if (!x) return `input ${y!.path} was not an input then`;
    if (!y) return `input ${x.path} is not an input now`;
    if (x.path !== y.path) return `input ${i} was ${x.path}, now ${y.path}`;
    if (x.size !== y.size) return `input ${x.path} changed size (${x.size} → ${y.size} bytes)`;
    if (x.mtimeMs !== y.mtimeMs) {
      return `input ${x.path} changed (mtime ${new Date(x.mtimeMs).toISOString()} → ${
        new Date(y.mtimeMs).toISOString()
      })`;
    }
  }
  const params = currentParams(stored.params ?? {});
  const keys = new Set([...Object.keys(params), ...Object.keys(want.params)]);
  for (const key of [...keys].sort()) {
    const x = params[key], y = want.params[key];
    if (!same(x, y)) return `${want.flags?.[key] ?? `parameter ${key}`} ${show(x)} ≠ ${show(y)}`;
  }
  return undefined;
}

/**
 * Reads and shape-checks a manifest; a malformed one is a RangeError naming the file.
 *
 * @param path The `.json` manifest.
 * @returns The manifest.
 *
 * @example Usage
 * ```ts ignore
 * const m = await readManifest("parts/part-0-of-4.json");
 * console.log(m.shard); // { index: 0, count: 4 }
 * ```
 */
export async function readManifest(path: string): Promise<Manifest> {
  let m: Manifest;
  try {
    m = JSON.parse(await Deno.readTextFile(path));
  } catch (e) {
    if (e instanceof SyntaxError) {
      throw new RangeError(`Expected ${path} to be a JSON manifest but found invalid JSON`);
    }
    throw e;
  }
  if (
    m === null || typeof m !== "object" || m.format !== "mlcd-manifest" ||
    !Array.isArray(m.inputs) || !Array.isArray(m.outputs) || typeof m.params !== "object"
  ) {
    throw new RangeError(`Expected ${path} to be an mlcd manifest but found another JSON file`);
  }
  return m;
}

/**
 * Checks that every output a manifest lists is present with its recorded size and sha256.
 *
 * @param path The manifest's path (the outputs are beside it).
 * @param m The manifest.
 * @returns The first problem in words, or undefined when every output verifies.
 *
 * @example Usage
 * ```ts ignore
 * const bad = await verifyOutputs(path, await readManifest(path));
 * if (bad) console.log(bad); // e.g. parts/part-0-of-4.npy does not match its sha256
 * ```
 */
export async function verifyOutputs(path: string, m: Manifest): Promise<string | undefined> {
  const dir = dirname(path);
  for (const o of m.outputs) {
    const file = join(dir, o.name);
    let size: number;
    try {
      size = (await Deno.stat(file)).size;
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return `${file} is missing`;
      throw e;
    }
    if (size !== o.size) return `${file} has ${size} bytes, the manifest says ${o.size}`;
    if (await sha256File(file) !== o.sha256) return `${file} does not match its sha256`;
  }
  return undefined;
}
