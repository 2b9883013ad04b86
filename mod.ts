/**
 * mlcd: Multi-label Cluster Discrimination (ECCV 2024) as WGSL compute kernels on
 * Deno's WebGPU: spherical k-means, multi-label top-l assignment, the MLCD loss,
 * training and evaluation.
 *
 * @example Cluster embeddings on the GPU
 * ```ts ignore
 * import { createGpu, kmeans } from "./mod.ts";
 * const gpu = await createGpu();
 * const x = { data: new Float32Array(1000 * 64).map(Math.random), rows: 1000, cols: 64 };
 * const { centroids, objective } = await kmeans(gpu, x, { k: 10 });
 * ```
 *
 * @module
 */
export * from "./src/gpu/mod.ts";
export * from "./src/matrix/matrix.ts";
