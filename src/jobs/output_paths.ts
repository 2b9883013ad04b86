/**
 * Output-path guards shared by every command and job, checked before any work: an output never
 * overwrites an input (symlinks and relative paths resolved), never lands in an input
 * directory where it would be read back as a shard, is not a directory, and its directory
 * exists (not a file) and is writable. Stale temporary files of the outputs are removed.
 *
 * @module
 */
import { basename, dirname, resolve } from "node:path";
import { atomicPath, removeStaleTemps } from "../data/atomic.ts";
import { EMBEDDING_EXTENSIONS } from "../data/embedding_files.ts";
import { UsageError } from "./usage_error.ts";

/**
 * One output file of a command, with the flag that named it (for messages).
 *
 * @example Usage
 * ```ts
 * import type { OutputFile } from "./output_paths.ts";
 * const out: OutputFile = { flag: "--out", path: "centroids.npy" };
 * console.log(out.flag); // --out
 * ```
 */
export interface OutputFile {
  /** The flag, e.g. `--out`, or a description such as `--out (scores)`. */
  flag: string;
  /** The path as given. */
  path: string;
}

async function statOrNull(path: string): Promise<Deno.FileInfo | null> {
  try {
    return await Deno.stat(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound || e instanceof Deno.errors.NotADirectory) return null;
    throw e;
  }
}

/** The nearest ancestor of `path` (itself included) that exists, with its info. */
async function nearestExisting(path: string): Promise<{ path: string; info: Deno.FileInfo }> {
  let p = resolve(path);
  while (true) {
    const info = await statOrNull(p);
    if (info) return { path: p, info };
    const up = dirname(p);
    if (up === p) throw new UsageError(`Cannot find any existing directory above ${path}`);
    p = up;
  }
}

/**
 * Absolute path with symlinks resolved, also for a file that does not exist yet (its directory
 * is resolved instead, or else the path is only made absolute).
 *
 * @param path A file that may not exist.
 * @returns The path to compare with others.
 *
 * @example Usage
 * ```ts
 * import { real } from "./output_paths.ts";
 * console.log((await real("no-such-file.npy")).endsWith("/no-such-file.npy")); // true
 * ```
 */
export async function real(path: string): Promise<string> {
  try {
    return await Deno.realPath(path);
  } catch {
    try {
      return resolve(await Deno.realPath(dirname(path)), basename(path));
    } catch {
      return resolve(path);
    }
  }
}

const PROBE = ".mlcd-write-test";

/** Throws unless a file can be created in directory `dir` (checked by creating one). */
async function checkWritable(dir: string, what: string): Promise<void> {
  await removeStaleTemps(dir, (n) => n === PROBE).catch(() => {}); // a killed probe's
  const probe = atomicPath(resolve(dir, PROBE));
  try {
    const f = await Deno.open(probe, { write: true, createNew: true });
    f.close();
    await Deno.remove(probe);
  } catch (e) {
    const reason = e instanceof Error ? e.message.replace(/: open '[^']*'$/, "") : String(e);
    throw new UsageError(`Cannot write ${what}: ${dir} is not writable (${reason})`);
  }
}

function isShardName(name: string): boolean {
  const lower = name.toLowerCase();
  return !name.startsWith(".") && EMBEDDING_EXTENSIONS.some((ext) => lower.endsWith(ext));
}

/**
 * Checks a command's output files before any work, then removes their stale temporary files
 * (`<name>.tmp-<hex>` left by a killed run and no longer locked by a writer), naming each
 * through `onLog`. Refuses (one-line `UsageError`): an output that is a directory or whose
 * directory is missing, a file or not writable; two outputs that are the same file; an output
 * that resolves to an input file (through symlinks and relative paths); an output with an
 * embedding extension inside an input directory, where later runs would read it as a shard.
 *
 * @param outputs The outputs that will be written.
 * @param inputs Input files and directories (missing ones are left to the readers).
 * @param options `onLog`: told `removed stale temporary file … (left by an interrupted run)`.
 * @returns When every output may be written.
 *
 * @example Usage
 * ```ts ignore
 * await checkOutputFiles([{ flag: "--out", path: "c.npy" }], ["embeddings/"]);
 * ```
 */
export async function checkOutputFiles(
  outputs: OutputFile[],
  inputs: string[],
  options: { onLog?: (line: string) => void } = {},
): Promise<void> {
  const resolved = new Map<OutputFile, string>();
  for (const o of outputs) {
    const what = `${o.flag} ${o.path}`;
    if (o.path === "" || o.path.endsWith("/")) {
      throw new UsageError(`Expected ${o.flag} to be a file path but found "${o.path}"`);
    }
    const info = await statOrNull(o.path);
    if (info?.isDirectory) {
      throw new UsageError(`Expected ${what} to be a file but it is a directory`);
    }
    const parent = dirname(o.path);
    const found = await nearestExisting(parent);
    if (!found.info.isDirectory) {
      throw new UsageError(`Cannot write ${what}: ${found.path} is a file, not a directory`);
    }
    if (found.path !== resolve(parent)) {
      throw new UsageError(`Cannot write ${what}: the directory ${parent} does not exist`);
    }
    await checkWritable(parent, what);
    resolved.set(o, await real(o.path));
  }
  for (let i = 0; i < outputs.length; i++) {
    for (let j = i + 1; j < outputs.length; j++) {
      const a = outputs[i]!, b = outputs[j]!;
      if (resolved.get(a) === resolved.get(b)) {
        throw new UsageError(
          `Expected ${a.flag} and ${b.flag} to be different files but both are ${a.path}`,
        );
      }
    }
  }
  for (const input of inputs) {
    const info = await statOrNull(input);
    if (!info) continue;
    const r = await Deno.realPath(input);
    for (const o of outputs) {
      const out = resolved.get(o)!;
      if (!info.isDirectory && out === r) {
        throw new UsageError(
          `Refusing to overwrite the input ${input} with ${o.flag} ${o.path}: choose another output path`,
        );
      }
      if (info.isDirectory && dirname(out) === r && isShardName(basename(out))) {
        throw new UsageError(
          `Refusing to write ${o.flag} ${o.path} into the input directory ${input}, where it would be read as an embedding shard: choose another directory`,
        );
      }
    }
  }
  for (const o of outputs) {
    const name = basename(o.path);
    for (const p of await removeStaleTemps(dirname(o.path), (n) => n === name)) {
      options.onLog?.(`removed stale temporary file ${p} (left by an interrupted run)`);
    }
  }
}

/**
 * Checks an output directory before any work (it may not exist yet): it must be a directory,
 * or creatable (its nearest existing ancestor a writable directory, not a file).
 *
 * @param flag The flag that named it (`--run-dir`).
 * @param dir The directory.
 * @returns Whether it exists.
 *
 * @example Usage
 * ```ts ignore
 * const exists = await checkOutputDir("--run-dir", "runs/a");
 * ```
 */
export async function checkOutputDir(flag: string, dir: string): Promise<boolean> {
  if (dir === "") throw new UsageError(`Expected ${flag} to be a directory but found ""`);
  const found = await nearestExisting(dir);
  if (!found.info.isDirectory) {
    throw new UsageError(
      found.path === resolve(dir)
        ? `Expected ${flag} ${dir} to be a directory but it is a file`
        : `Cannot create ${flag} ${dir}: ${found.path} is a file, not a directory`,
    );
  }
  await checkWritable(found.path, `${flag} ${dir}`);
  return found.path === resolve(dir);
}

/**
 * Refuses output files (e.g. inside a run directory) that resolve to one of the input files.
 *
 * @param outputs The outputs.
 * @param inputs Input files and directories (directories and missing paths are skipped).
 * @returns When no output is an input.
 *
 * @example Usage
 * ```ts ignore
 * await checkNotInputs([{ flag: "--run-dir", path: "runs/a/run.json" }], ["config.json"]);
 * ```
 */
export async function checkNotInputs(outputs: OutputFile[], inputs: string[]): Promise<void> {
  for (const input of inputs) {
    const info = await statOrNull(input);
    if (!info || info.isDirectory) continue;
    const r = await Deno.realPath(input);
    for (const o of outputs) {
      if ((await real(o.path)) === r) {
        throw new UsageError(
          `Refusing to overwrite the input ${input} with ${o.flag} ${o.path}: choose another output path`,
        );
      }
    }
  }
}

/**
 * Refuses job outputs that are input files, or embedding files (`.npy`, `.arrow`, `.feather`,
 * `.ipc`) inside an input directory, where later runs would read them as shards. Symlinks and
 * relative paths are resolved.
 *
 * @param outputs The job's output files.
 * @param inputs Its input files and directories.
 * @returns When no output overlaps an input.
 * @throws {UsageError} Naming the output and the input.
 *
 * @example Usage
 * ```ts ignore
 * await refuseInputOverlap(["parts/part-0-of-4.npy"], ["embeddings/"]);
 * ```
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

/**
 * Creates a job's output directory (and its parents), refusing a path that is a file.
 *
 * @param dir The directory (`--out` of a part job).
 * @returns When the directory exists.
 *
 * @example Usage
 * ```ts
 * import { ensureOutputDir } from "./output_paths.ts";
 * const dir = await Deno.makeTempDir();
 * await ensureOutputDir(`${dir}/parts/a`);
 * console.log((await Deno.stat(`${dir}/parts/a`)).isDirectory); // true
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
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
