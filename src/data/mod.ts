/**
 * Data files: `.npy` and Arrow IPC embeddings, sharded directories, atomic writes and the
 * MNIST digits used by the demo.
 *
 * @example Usage
 * ```ts
 * import { readNpy, writeNpy } from "./mod.ts";
 * const path = await Deno.makeTempFile({ suffix: ".npy" });
 * await writeNpy(path, new Float32Array([1, 2, 3, 4]), [2, 2]);
 * console.log((await readNpy(path)).rows); // 2
 * await Deno.remove(path);
 * ```
 *
 * @module
 */

export * from "./atomic.ts";
export * from "./float16.ts";
export * from "./npy.ts";
export * from "./arrow.ts";
export * from "./shards.ts";
export * from "./row_source.ts";
export * from "./mnist.ts";
