// XDG_RUNTIME_DIR for the Vulkan/Wayland loader. On Linux, Mesa's Vulkan drivers (lavapipe
// included) probe Wayland while Deno creates its WebGPU instance; libwayland prints
// "error: XDG_RUNTIME_DIR is invalid or not set in the environment." twice when the variable
// is unset or not an absolute path. Deno creates that instance lazily, on the first
// `navigator.gpu.requestAdapter()`, so setting the variable just before is enough.

/** What {@linkcode ensureRuntimeDir} did. */
export interface RuntimeDirResult {
  /** The directory XDG_RUNTIME_DIR names afterwards, or null when it could not be set. */
  dir: string | null;
  /** True when the toolkit set the variable (it was unset or invalid). */
  changed: boolean;
}

/**
 * Makes sure `XDG_RUNTIME_DIR` names an existing directory (absolute path) before the WebGPU
 * adapter is requested, so the Vulkan loader's Wayland probe prints nothing. When the
 * variable is unset, empty, relative or not a directory, it is set to a private directory of
 * the toolkit's own: `$TMPDIR/mlcd-runtime-<uid>` (mode 0700, owned by this user; a fresh
 * temporary directory when that path is taken by someone else). Does nothing on Windows and
 * macOS, or without `--allow-env` / `--allow-write`.
 *
 * @returns The directory in use and whether the toolkit set it.
 *
 * @example Usage
 * ```ts ignore
 * import { ensureRuntimeDir } from "./runtime_dir.ts";
 * const { dir, changed } = ensureRuntimeDir();
 * if (changed) console.error(`XDG_RUNTIME_DIR=${dir}`);
 * ```
 */
export function ensureRuntimeDir(): RuntimeDirResult {
  if (Deno.build.os === "windows" || Deno.build.os === "darwin") {
    return { dir: null, changed: false };
  }
  try {
    const current = Deno.env.get("XDG_RUNTIME_DIR");
    if (current && current.startsWith("/") && isDirectory(current)) {
      return { dir: current, changed: false };
    }
    const dir = privateDir();
    Deno.env.set("XDG_RUNTIME_DIR", dir);
    return { dir, changed: true };
  } catch {
    // No env/write permission: leave the environment as it is (the lines are harmless).
    return { dir: null, changed: false };
  }
}

function isDirectory(path: string): boolean {
  try {
    return Deno.statSync(path).isDirectory;
  } catch {
    return false;
  }
}

/** `$TMPDIR/mlcd-runtime-<uid>`, created 0700; a fresh temp dir when it is not ours. */
function privateDir(): string {
  const tmp = (Deno.env.get("TMPDIR") || "/tmp").replace(/\/+$/, "") || "/tmp";
  const uid = Deno.uid();
  const dir = `${tmp}/mlcd-runtime-${uid ?? "user"}`;
  try {
    Deno.mkdirSync(dir, { mode: 0o700 });
  } catch (e) {
    if (!(e instanceof Deno.errors.AlreadyExists)) throw e;
  }
  const st = Deno.lstatSync(dir);
  const ours = st.isDirectory && !st.isSymlink && (uid === null || st.uid === uid);
  if (!ours) return Deno.makeTempDirSync({ prefix: "mlcd-runtime-" }); // 0700
  if (st.mode !== null && (st.mode & 0o077) !== 0) Deno.chmodSync(dir, 0o700);
  return dir;
}
