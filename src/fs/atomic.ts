/**
 * Crash-safe file writes: data goes to a temporary file beside the target, is flushed to disk,
 * then renamed over the target, so readers see either the old file or the complete new one.
 * Several writes can be made all-or-nothing ({@linkcode atomicWrites}), and temporary files
 * left by a killed process can be found and removed ({@linkcode removeStaleTemps}).
 *
 * @module
 */

import { AsyncLocalStorage } from "node:async_hooks";
import { createHash, type Hash } from "node:crypto";

export { findStaleTemps, removeStaleTemps } from "./stale_temps.ts";

/**
 * Returns a fresh temporary path beside `path`: `<path>.tmp-<random hex>`, in the same
 * directory so that the final rename never crosses file systems.
 *
 * @param path The file that will eventually be written.
 * @returns A path that does not collide with other writers of the same file.
 *
 * @example Usage
 * ```ts
 * import { atomicPath } from "./atomic.ts";
 * console.log(atomicPath("out/labels.npy").startsWith("out/labels.npy.tmp-")); // true
 * ```
 */
export function atomicPath(path: string): string {
  const bytes = crypto.getRandomValues(new Uint8Array(6));
  const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  return `${path}.tmp-${hex}`;
}

/** Writes every byte of `chunk`, looping over partial writes. */
async function writeAll(file: Deno.FsFile, chunk: Uint8Array): Promise<void> {
  let done = 0;
  while (done < chunk.length) {
    done += await file.write(chunk.subarray(done));
  }
}

/**
 * Creates `<path>.tmp-<hex>` and locks it. A sweep by another process may take the file for a
 * stale one in the moment between its creation and the lock and remove it: then it is made
 * again under a new name, so a live writer never writes into a removed file.
 */
async function createLockedTemp(path: string): Promise<{ tmp: string; file: Deno.FsFile }> {
  for (;;) {
    const tmp = atomicPath(path);
    let file: Deno.FsFile;
    try {
      file = await Deno.open(tmp, { write: true, createNew: true });
    } catch (error) {
      throw named(error, path, tmp);
    }
    try {
      await file.lock(true);
      if ((await file.stat()).nlink !== 0) return { tmp, file };
    } catch (error) {
      file.close();
      await Deno.remove(tmp).catch(() => {});
      throw named(error, path, tmp);
    }
    file.close(); // removed by a sweep before the lock: start again
  }
}

/** A file of an {@linkcode atomicWrites} batch: written and flushed, waiting for its rename. */
export interface StagedFile {
  /** The destination. */
  readonly path: string;
  /** Bytes written. */
  readonly size: number;
  /**
   * Lower-case hex sha256 of the bytes, computed as they were written (batches opened with
   * `{ digest: true }`; empty otherwise).
   */
  readonly sha256: string;
}

/** The batch an {@linkcode atomicWrites} callback runs in. */
export interface AtomicBatch {
  /** The files staged so far, in the order they will be renamed. */
  readonly files: readonly StagedFile[];
}

/** A written, flushed temporary file waiting for its rename. */
interface Staged extends StagedFile {
  tmp: string;
  /** Kept open (and locked) so that no other process takes it for a stale file. */
  file: Deno.FsFile;
}

interface Batch {
  staged: Staged[];
  digest: boolean;
}

const batches = new AsyncLocalStorage<Batch>();

/** Counts (and, for a digest batch, hashes) the bytes of one file as they are written. */
class Tally {
  size = 0;
  readonly #hash: Hash | undefined;
  constructor(digest: boolean) {
    this.#hash = digest ? createHash("sha256") : undefined;
  }
  add(chunk: Uint8Array): void {
    this.size += chunk.length;
    this.#hash?.update(chunk);
  }
  get sha256(): string {
    return this.#hash?.digest("hex") ?? "";
  }
}

const OS_ERRORS = Object.values(Deno.errors) as (new (...a: never[]) => Error)[];

/**
 * Rethrows a file-system `error` (same class) with a message that names the user's `path`
 * instead of the temporary file; other errors (e.g. from the data generator) pass as they are.
 */
function named(error: unknown, path: string, tmp: string): unknown {
  if (!(error instanceof Error)) return error;
  // Deno raises some OS errors (ENOSPC: "No space left on device (os error 28)") as plain
  // Errors with a code, or only "(os error N)" in the message.
  const os = OS_ERRORS.some((C) => error instanceof C) ||
    typeof (error as { code?: unknown }).code === "string" ||
    /\(os error \d+\)/.test(error.message);
  if (!error.message.includes(tmp) && !os) return error;
  const reason = error.message.replaceAll(tmp, path).replace(/: (open|rename) '.*$/, "");
  if (reason.startsWith(`Cannot write ${path}`)) return error;
  try {
    const Ctor = error.constructor as new (message: string) => Error;
    const out = new Ctor(`Cannot write ${path}: ${reason}`);
    out.stack = error.stack ?? "";
    const code = (error as { code?: unknown }).code;
    if (typeof code === "string") Object.assign(out, { code });
    return out;
  } catch {
    return error;
  }
}

/**
 * Writes `data` to `path` atomically: a temporary file in the same directory
 * (`<path>.tmp-<hex>`, locked while it exists) is written, flushed with `fsync` and renamed
 * over `path`. When writing fails (including when the chunk generator throws) the temporary
 * file is removed, an existing `path` is left untouched, and the error names `path` (never
 * the temporary file). Inside {@linkcode atomicWrites} the rename waits for the whole batch,
 * unless `options.immediate` is set.
 *
 * @param path The destination file.
 * @param data The bytes, or a function returning an async iterable of byte chunks (for
 * outputs too large to build in memory at once).
 * @param options `immediate`: rename at once even inside a batch (a checkpoint must be on disk
 * when it is announced, not when the batch ends).
 * @returns A promise that resolves once `path` holds the complete new content (or, inside
 * {@linkcode atomicWrites}, once the temporary file is complete).
 *
 * @example Usage
 * ```ts
 * import { writeFileAtomic } from "./atomic.ts";
 * const path = await Deno.makeTempFile();
 * await writeFileAtomic(path, new TextEncoder().encode("hello"));
 * console.log(await Deno.readTextFile(path)); // hello
 * await Deno.remove(path);
 * ```
 */
export async function writeFileAtomic(
  path: string,
  data: Uint8Array | (() => AsyncIterable<Uint8Array>),
  options: { immediate?: boolean } = {},
): Promise<void> {
  const { tmp, file } = await createLockedTemp(path);
  const batch = options.immediate ? undefined : batches.getStore();
  const tally = new Tally(batch?.digest ?? false);
  let closed = false;
  try {
    const put = async (chunk: Uint8Array) => {
      await writeAll(file, chunk);
      tally.add(chunk);
    };
    if (data instanceof Uint8Array) {
      await put(data);
    } else {
      for await (const chunk of data()) await put(chunk);
    }
    await file.sync();
    if (batch) {
      batch.staged.push({ tmp, path, file, size: tally.size, sha256: tally.sha256 });
      return;
    }
    await Deno.rename(tmp, path);
    file.close();
    closed = true;
  } catch (error) {
    if (!closed) {
      try {
        file.close();
      } catch { /* already closed */ }
    }
    await Deno.remove(tmp).catch(() => {});
    throw named(error, path, tmp);
  }
}

/**
 * Runs `fn` so that every {@linkcode writeFileAtomic} inside it (including `writeNpy`,
 * `writeLabels`, checkpoint writes) is all-or-nothing: the files are written to temporary
 * files, and only when `fn` resolves are they all renamed into place. When `fn` throws, every
 * temporary file is removed and no output of the batch appears. A nested call joins the
 * enclosing batch. The files are renamed in the order they were staged, so a file staged last
 * (e.g. a manifest) appears last.
 *
 * @param fn The writes to make; it is given the batch, whose `files` lists what is staged so
 * far (with sizes, and sha256 digests when asked for).
 * @param options `digest`: compute every staged file's sha256 while its bytes are written (a
 * nested call that asks for digests must be inside a batch that computes them).
 * @returns What `fn` returns, once every file is in place.
 *
 * @example Usage
 * ```ts
 * import { atomicWrites, writeFileAtomic } from "./atomic.ts";
 * const dir = await Deno.makeTempDir();
 * await atomicWrites(async () => {
 *   await writeFileAtomic(`${dir}/a.txt`, new TextEncoder().encode("a"));
 *   await writeFileAtomic(`${dir}/b.txt`, new TextEncoder().encode("b"));
 * }); // both appear together, or neither
 * console.log(await Deno.readTextFile(`${dir}/b.txt`)); // b
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function atomicWrites<T>(
  fn: (batch: AtomicBatch) => Promise<T>,
  options: { digest?: boolean } = {},
): Promise<T> {
  const outer = batches.getStore();
  if (outer) {
    if (options.digest && !outer.digest) {
      throw new Error("Expected the enclosing atomicWrites() batch to compute digests");
    }
    return await fn({ files: outer.staged });
  }
  const batch: Batch = { staged: [], digest: options.digest ?? false };
  const staged = batch.staged;
  const discard = async (from: number) => {
    for (const s of staged.slice(from)) {
      try {
        s.file.close();
      } catch { /* already closed */ }
      await Deno.remove(s.tmp).catch(() => {});
    }
  };
  let result: T;
  try {
    result = await batches.run(batch, () => fn({ files: staged }));
  } catch (error) {
    await discard(0);
    throw error;
  }
  for (let i = 0; i < staged.length; i++) {
    const s = staged[i]!;
    try {
      await Deno.rename(s.tmp, s.path);
      s.file.close();
    } catch (error) {
      await discard(i);
      throw named(error, s.path, s.tmp);
    }
  }
  return result;
}

/** A file being written atomically piece by piece: see {@linkcode openFileAtomic}. */
export interface AtomicFile {
  /** The destination. */
  readonly path: string;
  /** Appends every byte of `chunk` to the temporary file. */
  write(chunk: Uint8Array): Promise<void>;
  /**
   * Flushes the temporary file to disk and renames it over `path`; inside
   * {@linkcode atomicWrites}, joins that batch instead (renamed with the others).
   */
  commit(): Promise<void>;
  /** Closes and removes the temporary file; `path` is left as it was. Safe to call twice. */
  abort(): Promise<void>;
}

/**
 * Opens `<path>.tmp-<hex>` (locked while it exists) for a file whose content is produced over
 * time, e.g. appended batch by batch during a long computation, so that it never has to be held
 * in memory. Nothing appears at `path` until {@linkcode AtomicFile.commit}; on
 * {@linkcode AtomicFile.abort} (or when a process dies) no partial output is left under `path`
 * (a dead writer's temporary file is found by {@linkcode removeStaleTemps}). Errors name `path`.
 *
 * @param path The destination file.
 * @returns The open temporary file.
 *
 * @example Usage
 * ```ts
 * import { openFileAtomic } from "./atomic.ts";
 * const dir = await Deno.makeTempDir();
 * const out = await openFileAtomic(`${dir}/log.txt`);
 * try {
 *   for (const line of ["a\n", "b\n"]) await out.write(new TextEncoder().encode(line));
 *   await out.commit();
 * } catch (e) {
 *   await out.abort();
 *   throw e;
 * }
 * console.log(await Deno.readTextFile(`${dir}/log.txt`)); // a\nb\n
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function openFileAtomic(path: string): Promise<AtomicFile> {
  const { tmp, file } = await createLockedTemp(path);
  let state: "open" | "staged" | "done" = "open";
  // Counted from the first write, so a digest batch must be open before openFileAtomic.
  const tally = new Tally(batches.getStore()?.digest ?? false);
  const abort = async () => {
    if (state !== "open") return;
    state = "done";
    try {
      file.close();
    } catch { /* already closed */ }
    await Deno.remove(tmp).catch(() => {});
  };
  const guard = async <T>(fn: () => Promise<T>): Promise<T> => {
    if (state !== "open") throw new Error(`Cannot write ${path}: already committed or aborted`);
    try {
      return await fn();
    } catch (error) {
      await abort();
      throw named(error, path, tmp);
    }
  };
  return {
    path,
    write: (chunk) =>
      guard(async () => {
        await writeAll(file, chunk);
        tally.add(chunk);
      }),
    commit: () =>
      guard(async () => {
        await file.sync();
        const batch = batches.getStore();
        if (batch) {
          batch.staged.push({ tmp, path, file, size: tally.size, sha256: tally.sha256 });
          state = "staged";
          return;
        }
        await Deno.rename(tmp, path);
        state = "done";
        file.close();
      }),
    abort,
  };
}
