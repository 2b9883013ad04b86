// Test helper: a temporary directory for one test, removed afterwards.

/**
 * Runs `fn` with a fresh temporary directory (its real path, so that messages naming files
 * inside it match on systems where the temp dir is a symlink) and removes it afterwards.
 */
export async function withDir(
  fn: (dir: string) => Promise<void>,
  prefix = "mlcd_test_",
): Promise<void> {
  const dir = await Deno.realPath(await Deno.makeTempDir({ prefix }));
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
