// Manifests of the scale-out jobs' outputs: what was read (files with sizes and mtimes), with
// which parameters and toolkit version, and the sha256 of every file written. They make each
// job idempotent and restartable: a rerun whose manifest matches skips the work, an output
// made by another run is refused unless --overwrite, and outputs plus manifest are committed
// together (all written to temporary files first, then renamed, manifest last).
import { createHash } from "node:crypto";
import { basename, dirname, join, resolve } from "node:path";
import { atomicPath } from "../data/atomic.ts";
import { TOOLKIT_VERSION } from "../version.ts";
import { UsageError } from "./_cli.ts";

/** A JSON value (manifest parameters). */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** An input file as the manifest records it. */
export interface ManifestInput {
  /** Absolute path. */
  path: string;
  /** Size in bytes. */
  size: number;
  /** Modification time, milliseconds since the epoch. */
  mtimeMs: number;
}

/** An output file as the manifest records it. */
export interface ManifestOutput {
  /** File name, in the manifest's directory. */
  name: string;
  /** Size in bytes. */
  size: number;
  /** Lower-case hex sha256 of the content. */
  sha256: string;
}

/** The `.json` manifest written beside a job's outputs. */
export interface Manifest {
  /** Always "mlcd-manifest". */
  format: "mlcd-manifest";
  /** What made the outputs: "cluster-part", "cluster-merge", "cluster-hierarchical", "assign-part". */
  kind: string;
  /** Toolkit version (src/version.ts). */
  toolkit: string;
  /** The part, for sharded jobs. */
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

/** The part of a manifest that decides whether a rerun may skip its work. */
export type ManifestKey = Pick<Manifest, "kind" | "shard" | "inputs" | "params">;

/** Records `files` (absolute paths, sizes, mtimes) in order. */
export async function describeInputs(files: string[]): Promise<ManifestInput[]> {
  const out: ManifestInput[] = [];
  for (const file of files) {
    const info = await Deno.stat(file);
    out.push({ path: resolve(file), size: info.size, mtimeMs: info.mtime?.getTime() ?? 0 });
  }
  return out;
}

/** Lower-case hex sha256 of a file, read in 4 MiB chunks. */
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

/** Path of the manifest of an output: `x/part-0-of-4.npy` → `x/part-0-of-4.json`. */
export function manifestPath(output: string): string {
  return output.replace(/\.(npy|arrow|feather|ipc)$/i, "") + ".json";
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
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
 */
export function currentParams(params: { [key: string]: Json }): { [key: string]: Json } {
  if (typeof params.spherical !== "boolean" || "metric" in params) return params;
  const { spherical, ...rest } = params;
  return { ...rest, metric: spherical ? "cosine" : "l2" };
}

/**
 * Names the first difference between a stored manifest and the wanted one, or returns
 * undefined when they agree on kind, toolkit version, shard, inputs and parameters.
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
    if (!same(x, y)) return `parameter ${key} ${show(x)} ≠ ${show(y)}`;
  }
  return undefined;
}

/** Reads and shape-checks a manifest; a malformed one is a RangeError naming the file. */
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

/** Checks that every output a manifest lists is present with its recorded size and sha256. */
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

/** What {@linkcode checkOutputs} found. */
export type OutputState = "done" | "fresh";

/**
 * Decides, before any work, what to do with a job's outputs:
 * - `"done"`: the manifest matches `want` and every output verifies: skip the work;
 * - `"fresh"`: nothing there (stale `*.tmp-*` files of these outputs are removed and named
 *   through `onLog`), or `overwrite` is set: do the work.
 *
 * @throws {UsageError} When an output or manifest exists from another run (naming the
 * difference) or without a manifest, and `overwrite` is not set; when an output is a
 * directory or its directory does not exist.
 */
export async function checkOutputs(
  outputs: string[],
  want: ManifestKey,
  options: { overwrite: boolean; onLog?: (line: string) => void },
): Promise<OutputState> {
  const mpath = manifestPath(outputs[0]!);
  for (const out of [...outputs, mpath]) {
    const dir = dirname(out);
    let info: Deno.FileInfo;
    try {
      info = await Deno.stat(dir);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) {
        throw new UsageError(`Expected the output directory ${dir} to exist but found none`);
      }
      throw e;
    }
    if (!info.isDirectory) {
      throw new UsageError(`Expected ${dir} to be a directory but found a file`);
    }
    try {
      if ((await Deno.stat(out)).isDirectory) {
        throw new UsageError(`Expected ${out} to be a file but found a directory`);
      }
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
  }
  await removeStaleTemps([...outputs, mpath], options.onLog);
  if (await exists(mpath)) {
    const stored = await readManifest(mpath).catch((e) => {
      if (options.overwrite) return undefined;
      throw new UsageError(`${e.message} (use --overwrite to replace it)`);
    });
    if (stored === undefined) return "fresh";
    const diff = manifestDifference(stored, want);
    if (diff === undefined) {
      const bad = await verifyOutputs(mpath, stored);
      if (bad === undefined) return "done";
      if (options.overwrite) return "fresh";
      throw new UsageError(
        `Refusing to replace the outputs of ${mpath}: ${bad} (use --overwrite to redo it)`,
      );
    }
    if (options.overwrite) return "fresh";
    throw new UsageError(
      `Refusing to replace the outputs of another run (${mpath}: ${diff}); use --overwrite to replace them`,
    );
  }
  for (const out of outputs) {
    if (await exists(out) && !options.overwrite) {
      throw new UsageError(
        `Refusing to replace ${out}, which has no manifest ${mpath}; use --overwrite to replace it`,
      );
    }
  }
  return "fresh";
}

/** Removes `<output>.tmp-*` files left by a killed run, naming each. */
async function removeStaleTemps(
  outputs: string[],
  onLog: ((line: string) => void) | undefined,
): Promise<void> {
  for (const out of outputs) {
    const dir = dirname(out), prefix = basename(out) + ".tmp-";
    let entries: Deno.DirEntry[];
    try {
      entries = [...Deno.readDirSync(dir)];
    } catch {
      continue;
    }
    for (const e of entries) {
      if (!e.isFile || !e.name.startsWith(prefix)) continue;
      const stale = join(dir, e.name);
      await Deno.remove(stale).catch(() => {});
      onLog?.(`removed stale temporary file ${stale} (left by an interrupted run)`);
    }
  }
}

/** One output of {@linkcode commitOutputs}: its final path and a writer for a given path. */
export interface PendingOutput {
  /** Final path. */
  path: string;
  /** Writes the complete content to the given (temporary) path. */
  write: (path: string) => Promise<void>;
}

/**
 * Writes every output to a temporary file beside it, hashes it, writes the manifest to a
 * temporary file, then renames the outputs and the manifest (last) into place. A failure or
 * kill before the renames leaves only `*.tmp-*` files, which the next run removes; a
 * manifest is only ever present beside complete outputs.
 *
 * @returns The manifest written.
 */
export async function commitOutputs(
  outputs: PendingOutput[],
  key: ManifestKey,
  info: { [key: string]: Json },
): Promise<Manifest> {
  const mpath = manifestPath(outputs[0]!.path);
  const temps: string[] = [];
  try {
    const recorded: ManifestOutput[] = [];
    for (const o of outputs) {
      const tmp = atomicPath(o.path);
      temps.push(tmp);
      await o.write(tmp);
      recorded.push({
        name: basename(o.path),
        size: (await Deno.stat(tmp)).size,
        sha256: await sha256File(tmp),
      });
    }
    const manifest: Manifest = {
      format: "mlcd-manifest",
      kind: key.kind,
      toolkit: TOOLKIT_VERSION,
      shard: key.shard,
      inputs: key.inputs,
      params: key.params,
      outputs: recorded,
      info: { ...info, written: new Date().toISOString() },
    };
    const mtmp = atomicPath(mpath);
    temps.push(mtmp);
    await writeSynced(mtmp, new TextEncoder().encode(JSON.stringify(manifest, null, 2) + "\n"));
    for (let i = 0; i < outputs.length; i++) await Deno.rename(temps[i]!, outputs[i]!.path);
    await Deno.rename(mtmp, mpath);
    return manifest;
  } catch (e) {
    for (const t of temps) await Deno.remove(t).catch(() => {});
    throw e;
  }
}

async function writeSynced(path: string, bytes: Uint8Array): Promise<void> {
  using file = await Deno.open(path, { write: true, createNew: true });
  let done = 0;
  while (done < bytes.length) done += await file.write(bytes.subarray(done));
  await file.sync();
}

async function real(path: string): Promise<string> {
  try {
    return await Deno.realPath(path);
  } catch {
    // Not there yet: resolve its directory, which may exist.
    try {
      return join(await Deno.realPath(dirname(path)), basename(path));
    } catch {
      return resolve(path);
    }
  }
}

/**
 * Refuses outputs that are input files, or embedding files (`.npy`, `.arrow`, `.feather`,
 * `.ipc`) inside an input directory, where later runs would read them as shards. Symlinks and
 * relative paths are resolved.
 *
 * @throws {UsageError} Naming the output and the input.
 */
export async function refuseInputOverlap(outputs: string[], inputs: string[]): Promise<void> {
  const ins: { path: string; dir: boolean }[] = [];
  for (const input of inputs) {
    let dir = false;
    try {
      dir = (await Deno.stat(input)).isDirectory;
    } catch { /* a missing input is reported by the reader */ }
    ins.push({ path: await real(input), dir });
  }
  for (const out of outputs) {
    const o = await real(out);
    for (const [i, input] of ins.entries()) {
      if (!input.dir && o === input.path) {
        throw new UsageError(`Refusing to write ${out}: it is the input ${inputs[i]}`);
      }
      if (
        input.dir && dirname(o) === input.path && /\.(npy|arrow|feather|ipc)$/i.test(o)
      ) {
        throw new UsageError(
          `Refusing to write ${out} into the input directory ${
            inputs[i]
          }, where it would be read as a shard`,
        );
      }
    }
  }
}

/** Creates an output directory (and its parents), refusing a path that is a file. */
export async function ensureOutputDir(dir: string): Promise<void> {
  try {
    if (!(await Deno.stat(dir)).isDirectory) {
      throw new UsageError(`Expected --out ${dir} to be a directory but found a file`);
    }
    return;
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  try {
    await Deno.mkdir(dir, { recursive: true });
  } catch (e) {
    if (e instanceof Deno.errors.AlreadyExists) return; // another task made it meanwhile
    throw new UsageError(`Cannot create the output directory ${dir}: ${(e as Error).message}`);
  }
}
