// Test helpers: a temporary directory for one test, removed afterwards; a snapshot of a tree.

/**
 * Runs `fn` with a fresh temporary directory (its real path, so that messages naming files
 * inside it match on systems where the temp dir is a symlink), removes the directory
 * afterwards, whether `fn` succeeded or threw, and returns what `fn` returned.
 */
export async function withDir<T>(
  fn: (dir: string) => Promise<T>,
  prefix = "mlcd_test_",
): Promise<T> {
  const dir = await Deno.realPath(await Deno.makeTempDir({ prefix }));
  try {
    return await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/**
 * Every entry under `dir`, recursively, by path: a file's bytes, a symbolic link's target
 * (`-> target`, not followed), `fifo` for a named pipe (never opened). Two equal snapshots mean
 * nothing under `dir` changed.
 */
export async function snapshot(dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const walk = async (d: string) => {
    for await (const e of Deno.readDir(d)) {
      const p = `${d}/${e.name}`;
      const info = await Deno.lstat(p);
      if (info.isDirectory) await walk(p);
      else if (info.isSymlink) out.set(p, `-> ${await Deno.readLink(p)}`);
      else if (info.isFifo) out.set(p, "fifo");
      else out.set(p, Array.from(await Deno.readFile(p)).join(","));
    }
  };
  await walk(dir);
  return out;
}
