/**
 * The Arrow IPC module (`arrow.ts`, which imports `apache-arrow` from npm), loaded on first
 * use. The toolkit's core (`mod.ts`: k-means and labelling over `.npy` or Arrow files) calls
 * this instead of importing `arrow.ts`, so that a program that never reads or writes an Arrow
 * file downloads no npm package.
 *
 * The module's path sits in a variable on purpose. Deno fetches the whole graph of a dynamic
 * import whose specifier is a string literal, npm packages included, before the program runs,
 * even when that import never runs (measured with deno 2.9.6 and an empty `DENO_DIR`:
 * `if (false) await import("./x.ts")`, where x.ts imports an npm package, downloads it). A
 * specifier held in a variable is resolved only when the import runs. `deno compile` therefore
 * bundles `arrow.ts` only when something imports it statically (the CLI and `./data` do).
 *
 * @module
 */
import type * as Arrow from "./arrow.ts";

/** Not a literal: see the module's documentation. */
const ARROW_MODULE: string = "./arrow.ts";

/**
 * The Arrow IPC functions of `arrow.ts`, imported on the first call (later calls reuse it).
 *
 * @returns The `arrow.ts` module.
 *
 * @example Usage
 * ```ts ignore
 * import { loadArrow } from "./load_arrow.ts";
 * const { scanArrowEmbeddings } = await loadArrow();
 * ```
 */
export function loadArrow(): Promise<typeof Arrow> {
  return import(ARROW_MODULE);
}
