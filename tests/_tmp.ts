// Test helper: a temporary directory for one test, removed afterwards.

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
