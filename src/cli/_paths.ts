// Output-path checks shared by every command, made before any work: an output never
// overwrites an input (symlinks and relative paths resolved), never lands in an input
// directory where it would be read back as a shard, is not a directory, and its directory
// exists (not a file) and is writable. Stale temporary files of the outputs are removed.
import { basename, dirname, resolve } from "node:path";
import { atomicPath, removeStaleTemps } from "../data/atomic.ts";
import { EMBEDDING_EXTENSIONS } from "../data/embedding_files.ts";
import { progress, UsageError } from "./_cli.ts";

/** One output file of a command, with the flag that named it (for messages). */
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

/** Absolute path with symlinks resolved, for files that may not exist yet. */
async function realOrResolved(path: string): Promise<string> {
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
 * (`<name>.tmp-<hex>` left by a killed run), naming each on stderr. Refuses (one-line
 * `UsageError`, exit code 2): an output that is a directory or whose directory is missing, a
 * file or not writable; two outputs that are the same file; an output that resolves to an
 * input file (through symlinks and relative paths); an output with an embedding extension
 * inside an input directory, where later runs would read it as a shard.
 *
 * @param command The command's name for progress lines (`cluster`).
 * @param outputs The outputs that will be written.
 * @param inputs Input files and directories (missing ones are left to the readers).
 */
export async function checkOutputFiles(
  command: string,
  outputs: OutputFile[],
  inputs: string[],
): Promise<void> {
  const real = new Map<OutputFile, string>();
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
    real.set(o, await realOrResolved(o.path));
  }
  for (let i = 0; i < outputs.length; i++) {
    for (let j = i + 1; j < outputs.length; j++) {
      const a = outputs[i]!, b = outputs[j]!;
      if (real.get(a) === real.get(b)) {
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
      const out = real.get(o)!;
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
      progress(`${command}: removed stale temporary file ${p} (left by an interrupted run)`);
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
 */
export async function checkNotInputs(outputs: OutputFile[], inputs: string[]): Promise<void> {
  for (const input of inputs) {
    const info = await statOrNull(input);
    if (!info || info.isDirectory) continue;
    const r = await Deno.realPath(input);
    for (const o of outputs) {
      if ((await realOrResolved(o.path)) === r) {
        throw new UsageError(
          `Refusing to overwrite the input ${input} with ${o.flag} ${o.path}: choose another output path`,
        );
      }
    }
  }
}
