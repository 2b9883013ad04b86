/**
 * Parquet files as the LAION / clip-retrieval tools write them: embedding list columns
 * (float32/float16, fixed or variable lists) streamed by row group, sample keys from
 * `metadata_<i>.parquet`, and labels (`key`/`id`, `labels`, `scores`) and metadata written
 * zstd-compressed in row groups. npm: `parquet-wasm` (arrow-rs compiled to WebAssembly) and
 * `apache-arrow`.
 *
 * @example Write labels and read them back
 * ```ts
 * import { readParquetLabels, writeParquetLabels } from "./parquet.ts";
 * const path = await Deno.makeTempFile({ suffix: ".parquet" });
 * await Deno.remove(path);
 * await writeParquetLabels(path, {
 *   indices: new Uint32Array([3, 1, 0, 2]),
 *   scores: new Float32Array([0.9, 0.5, 0.8, 0.7]),
 *   l: 2,
 *   keys: ["a", "b"],
 * });
 * console.log((await readParquetLabels(path)).l); // 2
 * await Deno.remove(path);
 * ```
 *
 * @module
 */
export * from "./src/data/parquet.ts";
