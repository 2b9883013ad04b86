/**
 * mlcd: Multi-label Cluster Discrimination (ECCV 2024) as WGSL compute kernels on
 * Deno's WebGPU — spherical k-means, multi-label top-l assignment, the MLCD loss,
 * training and evaluation.
 *
 * @example Cluster embeddings, then give every row its top-8 centers
 * ```ts ignore
 * import { assignLabels, createGpu, kmeans } from "./mod.ts";
 * const gpu = await createGpu();
 * const x = { data: new Float32Array(1000 * 64).map(Math.random), rows: 1000, cols: 64 };
 * const { centroids } = await kmeans(gpu, x, { k: 50 });
 * const { indices } = await assignLabels(gpu, x, centroids, { l: 8 });
 * ```
 *
 * @module
 */
export * from "./src/gpu/mod.ts";
export { type Matrix, matrix, normalizeRows, sliceRows } from "./src/matrix/matrix.ts";
export * from "./src/data/mod.ts";
export * from "./src/kmeans/mod.ts";
export * from "./src/topk/mod.ts";
export * from "./src/ann/mod.ts";
export * from "./src/loss/mod.ts";
export * from "./src/model/mod.ts";
export * from "./src/train/mod.ts";
export * from "./src/eval/mod.ts";
export * from "./src/hf/mod.ts";
export * from "./src/version.ts";
