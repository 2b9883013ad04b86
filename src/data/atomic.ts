/**
 * Crash-safe file writes: data goes to a temporary file beside the target, is flushed to disk,
 * then renamed over the target, so readers see either the old file or the complete new one.
 *
 * @module
 */

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
 * Writes `data` to `path` atomically: a temporary file in the same directory is written,
 * flushed with `fsync` and renamed over `path`. When writing fails (including when the
 * chunk generator throws) the temporary file is removed and an existing `path` is left
 * untouched.
 *
 * @param path The destination file.
 * @param data The bytes, or a function returning an async iterable of byte chunks (for
 * outputs too large to build in memory at once).
 * @returns A promise that resolves once `path` holds the complete new content.
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
): Promise<void> {
  const tmp = atomicPath(path);
  const file = await Deno.open(tmp, { write: true, createNew: true });
  let closed = false;
  try {
    if (data instanceof Uint8Array) {
      await writeAll(file, data);
    } else {
      for await (const chunk of data()) await writeAll(file, chunk);
    }
    await file.sync();
    file.close();
    closed = true;
    await Deno.rename(tmp, path);
  } catch (error) {
    if (!closed) {
      try {
        file.close();
      } catch { /* already closed */ }
    }
    await Deno.remove(tmp).catch(() => {});
    throw error;
  }
}
