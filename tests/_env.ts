// Test helpers: environment variables set for the length of a call, and a private autotune cache.
import { withDir } from "./_tmp.ts";

/**
 * Runs `fn` with the environment variables `vars` set (`undefined`: unset), restoring their
 * old values afterwards, when `fn` returns or throws, or when the promise it returns settles.
 */
export function withEnv<T>(vars: Record<string, string | undefined>, fn: () => T): T {
  const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, Deno.env.get(k)]));
  const apply = (v: Record<string, string | undefined>) => {
    for (const [k, x] of Object.entries(v)) {
      x === undefined ? Deno.env.delete(k) : Deno.env.set(k, x);
    }
  };
  apply(vars);
  let result: T;
  try {
    result = fn();
  } catch (e) {
    apply(saved);
    throw e;
  }
  if (result instanceof Promise) return result.finally(() => apply(saved)) as T;
  apply(saved);
  return result;
}

/**
 * Runs `fn` with a fresh autotune cache directory as MLCD_CACHE_DIR and MLCD_AUTOTUNE unset
 * (tuning on), restoring both and removing the directory afterwards.
 */
export async function withCacheDir(
  fn: (dir: string) => Promise<void>,
  prefix = "mlcd_autotune_",
): Promise<void> {
  await withDir(
    (dir) => withEnv({ MLCD_CACHE_DIR: dir, MLCD_AUTOTUNE: undefined }, () => fn(dir)),
    prefix,
  );
}
