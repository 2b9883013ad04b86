/**
 * Spherical k-means on WebGPU (MLCD's clustering step) and the fused nearest-centroid
 * assignment kernel.
 *
 * @example Usage
 * ```ts ignore
 * import { createGpu } from "../gpu/mod.ts";
 * import { kmeans } from "./mod.ts";
 * const gpu = await createGpu();
 * const { centroids, assignments } = await kmeans(gpu, x, { k: 1000 });
 * ```
 *
 * @module
 */
export * from "./kmeans.ts";
export * from "./assign_nearest.ts";
export * from "./kmeans_options.ts";
export * from "./hierarchical.ts";
export * from "./init_auto.ts";
export * from "./kmeans_parallel_init.ts";
export * from "./random_rows_init.ts";
export * from "./cluster_size_stats.ts";
export * from "./refine.ts";
