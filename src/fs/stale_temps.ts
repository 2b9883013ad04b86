/**
 * Temporary files that a killed writer left behind: `<name>.tmp-<12 hex digits>` files (see
 * `atomicPath` in `atomic.ts`) that no live process holds. A writer keeps its temporary file
 * locked from its creation to its rename, so the one test of staleness is the lock: a file
 * whose lock can be taken belongs to no live writer.
 *
 * @module
 */

/** Suffix pattern of temporary files: `<name>.tmp-<12 hex digits>`. */
const TEMP_SUFFIX = /\.tmp-[0-9a-f]{12}$/;

/**
 * Removes temporary files that a killed writer left in `dir`: files named
 * `<name>.tmp-<12 hex digits>` (see `atomicPath`) whose `<name>` passes `owns`, and
 * that no live process holds (a writer keeps its temporary file locked). A missing `dir` is
 * not an error.
 *
 * @param dir The directory to scan.
 * @param owns Whether a target file name belongs to the caller (e.g. its output's name).
 * @returns The paths removed.
 *
 * @example Usage
 * ```ts
 * import { removeStaleTemps } from "./stale_temps.ts";
 * const dir = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${dir}/c.npy.tmp-0123456789ab`, "partial");
 * console.log((await removeStaleTemps(dir, (n) => n === "c.npy")).length); // 1
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function removeStaleTemps(
  dir: string,
  owns: (name: string) => boolean,
): Promise<string[]> {
  const removed: string[] = [];
  await eachStaleTemp(dir, owns, async (path) => {
    await Deno.remove(path);
    removed.push(path);
  });
  return removed;
}

/**
 * Calls `fn` for each temporary file in `dir` whose target `owns` accepts and that no live
 * writer holds, while holding its lock (so no writer takes it meanwhile).
 */
async function eachStaleTemp(
  dir: string,
  owns: (name: string) => boolean,
  fn: (path: string) => Promise<void>,
): Promise<void> {
  let entries: Deno.DirEntry[];
  try {
    entries = await Array.fromAsync(Deno.readDir(dir));
  } catch (error) {
    if (error instanceof Deno.errors.NotFound || error instanceof Deno.errors.NotADirectory) {
      return;
    }
    throw error;
  }
  for (const e of entries) {
    if (!e.isFile || !TEMP_SUFFIX.test(e.name)) continue;
    if (!owns(e.name.replace(TEMP_SUFFIX, ""))) continue;
    const path = dir.endsWith("/") ? dir + e.name : `${dir}/${e.name}`;
    let file: Deno.FsFile;
    try {
      file = await Deno.open(path, { read: true, write: true });
    } catch {
      continue; // gone meanwhile, or not ours to open
    }
    try {
      if (!(await file.tryLock(true))) continue; // a live writer holds it
      await fn(path);
    } catch {
      // removed by someone else meanwhile
    } finally {
      file.close();
    }
  }
}

/**
 * Lists the temporary files that a killed writer left in `dir` (as
 * {@linkcode removeStaleTemps} would remove them) without removing them, e.g. to read what an
 * interrupted commit had staged.
 *
 * @param dir The directory to scan.
 * @param owns Whether a target file name belongs to the caller.
 * @returns The stale temporary files' paths (none held by a live writer when checked).
 *
 * @example Usage
 * ```ts
 * import { findStaleTemps } from "./stale_temps.ts";
 * const dir = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${dir}/c.json.tmp-0123456789ab`, "{}");
 * console.log((await findStaleTemps(dir, (n) => n === "c.json")).length); // 1
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function findStaleTemps(
  dir: string,
  owns: (name: string) => boolean,
): Promise<string[]> {
  const found: string[] = [];
  await eachStaleTemp(dir, owns, (path) => {
    found.push(path);
    return Promise.resolve();
  });
  return found;
}
