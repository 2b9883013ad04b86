/**
 * Output-path guards shared by every command and job, checked before any work. What a command
 * may overwrite (the rule, stated once here and in the README):
 * - an output is a regular file or does not exist yet: a directory, a FIFO, a device or a
 *   socket (or a symlink to one) is refused;
 * - its directory exists (not a file) and is writable (checked by creating a file);
 * - it is not an input (symlinks and relative paths resolved), and an embedding file
 *   (`.npy`, `.arrow`, `.feather`, `.ipc`) is not written into an input directory (or the
 *   `img_emb/` folder read for it), where the next run would read it as input;
 * - it does not belong to a run directory or to a job unless the writer owns it
 *   (`output_owner.ts`): `--overwrite` replaces a job's own earlier outputs, never a file that
 *   another command owns.
 * Stale temporary files of the outputs (a killed writer's, not a live one's) are then removed.
 *
 * @module
 */
import { basename, dirname, join, resolve } from "node:path";
import { atomicPath, removeStaleTemps } from "../fs/atomic.ts";
import { EMBEDDING_EXTENSIONS } from "../data/embedding_files.ts";
import { outputOwner, type OutputWriter, ownsOutput } from "./output_owner.ts";
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

/**
 * Throws unless a file can be created in directory `dir` (checked by creating one, held
 * locked so that another job's sweep leaves it alone).
 */
async function checkWritable(dir: string, what: string): Promise<void> {
  await removeStaleTemps(dir, (n) => n === PROBE).catch(() => {}); // a killed probe's
  const probe = atomicPath(resolve(dir, PROBE));
  try {
    const f = await Deno.open(probe, { write: true, createNew: true });
    try {
      await f.lock(true);
    } finally {
      f.close();
    }
    await Deno.remove(probe).catch(() => {});
  } catch (e) {
    const reason = e instanceof Error ? e.message.replace(/: open '[^']*'$/, "") : String(e);
    throw new UsageError(`Cannot write ${what}: ${dir} is not writable (${reason})`);
  }
}

/** What a path that exists but is not a regular file or a directory is, in words. */
function kindOf(info: Deno.FileInfo): string {
  if (info.isFifo) return "a FIFO";
  if (info.isCharDevice) return "a character device";
  if (info.isBlockDevice) return "a block device";
  if (info.isSocket) return "a socket";
  return "not a regular file";
}

/**
 * The directories an existing input directory is read from: itself, and its `img_emb/`
 * folder (clip-retrieval's layout, see `listEmbeddingFiles`).
 */
function readDirsOf(dir: string): string[] {
  return [dir, join(dir, "img_emb")];
}

function isShardName(name: string): boolean {
  const lower = name.toLowerCase();
  return !name.startsWith(".") && EMBEDDING_EXTENSIONS.some((ext) => lower.endsWith(ext));
}

/**
 * Options of {@linkcode checkOutputFiles}.
 *
 * @example Usage
 * ```ts
 * import type { CheckOutputFilesOptions } from "./output_paths.ts";
 * const o: CheckOutputFilesOptions = { writer: { command: "eval" } };
 * console.log(o.writer?.command); // eval
 * ```
 */
export interface CheckOutputFilesOptions {
  /**
   * Who writes: a file that belongs to a run directory or a job is refused unless this
   * writer owns it (`output_owner.ts`).
   * @default {a command that owns no run's or job's file}
   */
  writer?: OutputWriter;
  /** Told `removed stale temporary file … (left by an interrupted run)`. */
  onLog?: (line: string) => void;
  /**
   * Remove the outputs' stale temporary files once the checks pass (a job inspects them
   * first, then calls {@linkcode removeStaleOutputTemps}).
   * @default {true}
   */
  sweep?: boolean;
}

/**
 * Checks a command's output files before any work (the rule in the module doc), then removes
 * their stale temporary files (`<name>.tmp-<hex>` left by a killed run and no longer locked by
 * a writer), naming each through `onLog`. Refuses (one-line `UsageError`): an output that
 * exists and is not a regular file (a directory, FIFO, device or socket, or a symlink to
 * one); one whose directory is missing, a file or not writable; two outputs that are the same
 * file; an output that resolves to an input file (through symlinks and relative paths); an
 * output with an embedding extension inside an input directory (or its `img_emb/`), where
 * later runs would read it as input; a file that belongs to a run directory or a job that the
 * writer does not own.
 *
 * @param outputs The outputs that will be written.
 * @param inputs Input files and directories (missing ones are left to the readers).
 * @param options {@linkcode CheckOutputFilesOptions}.
 * @returns When every output may be written.
 *
 * @example Usage
 * ```ts ignore
 * await checkOutputFiles([{ flag: "--out", path: "c.npy" }], ["embeddings/"], { writer: { command: "cluster" } });
 * ```
 */
export async function checkOutputFiles(
  outputs: OutputFile[],
  inputs: string[],
  options: CheckOutputFilesOptions = {},
): Promise<void> {
  const writer = options.writer ?? { command: "" };
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
    if (info && !info.isFile) {
      throw new UsageError(
        `Refusing to write ${what}: it exists and is ${kindOf(info)}, not a regular file`,
      );
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
  await refuseInputs(outputs, resolved, inputs);
  for (const o of outputs) {
    const owner = await outputOwner(resolved.get(o)!);
    if (owner && !ownsOutput(owner, writer)) {
      throw new UsageError(
        `Refusing to write ${o.flag} ${o.path}: it belongs to ${owner.what}${
          owner.command ? `, which only mlcd ${owner.command} writes` : ""
        }; choose another output path`,
      );
    }
  }
  if (options.sweep ?? true) await removeStaleOutputTemps(outputs.map((o) => o.path), options);
}

/**
 * Removes the stale temporary files of `outputs` (`<name>.tmp-<hex>` that no live writer
 * holds locked), naming each through `onLog`.
 *
 * @param outputs Output files.
 * @param options `onLog`: told `removed stale temporary file … (left by an interrupted run)`.
 * @returns When they are gone.
 *
 * @example Usage
 * ```ts ignore
 * await removeStaleOutputTemps(["parts/part-0-of-4.npy"], { onLog: console.error });
 * ```
 */
export async function removeStaleOutputTemps(
  outputs: string[],
  options: { onLog?: ((line: string) => void) | undefined } = {},
): Promise<void> {
  for (const out of outputs) {
    const dir = dirname(out), name = basename(out);
    for (const p of await removeStaleTemps(dir, (n) => n === name)) {
      options.onLog?.(
        `removed stale temporary file ${join(dir, basename(p))} (left by an interrupted run)`,
      );
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

/** The input rule: no output is an input file, or an embedding file in an input directory. */
async function refuseInputs(
  outputs: OutputFile[],
  resolved: Map<OutputFile, string>,
  inputs: string[],
): Promise<void> {
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
      if (
        info.isDirectory && readDirsOf(r).includes(dirname(out)) && isShardName(basename(out))
      ) {
        throw new UsageError(
          `Refusing to write ${o.flag} ${o.path} into the input directory ${input}, where it would be read as an embedding shard: choose another directory`,
        );
      }
    }
  }
}

/**
 * Refuses outputs (e.g. a job's, named `--out`) that are input files, or embedding files
 * (`.npy`, `.arrow`, `.feather`, `.ipc`) inside an input directory (or its `img_emb/`), where
 * later runs would read them as input: the input rule of {@linkcode checkOutputFiles} alone.
 * Symlinks and relative paths are resolved.
 *
 * @param outputs The output files.
 * @param inputs Input files and directories.
 * @returns When no output overlaps an input.
 * @throws {UsageError} Naming the output and the input.
 *
 * @example Usage
 * ```ts ignore
 * await refuseInputOverlap(["parts/part-0-of-4.npy"], ["embeddings/"]);
 * ```
 */
export async function refuseInputOverlap(outputs: string[], inputs: string[]): Promise<void> {
  const files = outputs.map((path) => ({ flag: "--out", path }));
  const resolved = new Map<OutputFile, string>();
  for (const f of files) resolved.set(f, await real(f.path));
  await refuseInputs(files, resolved, inputs);
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
    throw new UsageError(`Cannot create --out ${dir}: ${(e as Error).message}`);
  }
}
