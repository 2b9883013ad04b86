/**
 * GPU runtime: device acquisition, buffers, chunked matrices, programs and the
 * pipeline cache.
 *
 * @module
 */
export * from "./gpu.ts";
export * from "./buffers.ts";
export * from "./gpu_matrix.ts";
export * from "./program.ts";
export * from "./pipeline_cache.ts";
export * from "./normalize_rows.ts";
export * from "./profiler.ts";
export * from "./peak.ts";
export * from "./autotune.ts";
export * from "./quirks.ts";
export * from "./uniforms.ts";
