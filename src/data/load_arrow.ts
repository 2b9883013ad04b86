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
 * The functions' types are declared here too ({@linkcode ArrowModule}), not imported: `deno
 * check` and `deno cache` follow type imports, and would fetch `apache-arrow` for them
 * (`tests/entry_points_test.ts` checks that `arrow.ts` matches them).
 *
 * @module
 */
import type { Matrix } from "../matrix/matrix.ts";

/** The functions of `arrow.ts` that the core calls. */
export interface ArrowModule {
  /** See `scanArrowEmbeddings` in `arrow_embeddings.ts`. */
  scanArrowEmbeddings(
    bytes: Uint8Array,
    options?: { column?: string },
    name?: string,
  ): { rows: number; cols: number };
  /** See `decodeArrowEmbeddings` in `arrow_embeddings.ts`. */
  decodeArrowEmbeddings(
    bytes: Uint8Array,
    options?: { column?: string; into?: Float32Array; name?: string },
  ): Matrix;
  /** See `writeArrowLabels` in `arrow_labels.ts`. */
  writeArrowLabels(
    path: string,
    table: {
      indices: Uint32Array;
      scores: Float32Array;
      l: number;
      ids?: BigInt64Array | Int32Array | string[];
    },
  ): Promise<void>;
}

/** Not a literal: see the module's documentation. */
const ARROW_MODULE: string = "./arrow.ts";

/**
 * The Arrow IPC functions of `arrow.ts`, imported on the first call (later calls reuse it).
 *
 * @returns The `arrow.ts` module, as {@linkcode ArrowModule}.
 *
 * @example Usage
 * ```ts ignore
 * import { loadArrow } from "./load_arrow.ts";
 * const { scanArrowEmbeddings } = await loadArrow();
 * ```
 */
export function loadArrow(): Promise<ArrowModule> {
  return import(ARROW_MODULE);
}
