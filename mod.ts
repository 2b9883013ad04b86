/**
 * mlcd: Multi-label Cluster Discrimination (ECCV 2024) as WGSL compute kernels on
 * Deno's WebGPU. This entry point is the core, and it needs no npm package: the GPU runtime
 * and matrices, spherical k-means, exact top-k, MLCD's top-l labelling (`assignLabels`,
 * `writeLabels`, `pseudoLabels`) and the MLCD loss (GPU kernels, float64 reference, class
 * sampling). k-means and labelling read `.npy` and Arrow files given as paths; Arrow's npm
 * package (`apache-arrow`) is loaded only when an Arrow file is read or written.
 *
 * The rest of the toolkit is in subpath entry points, each costing only its own npm packages:
 * `./data` (npy and Arrow files), `./eval` (linear probe, kNN, retrieval, NMI/ARI),
 * `./model` (tfjs encoders), `./train` (the training loop), `./images` (image folders and
 * WebDataset shards), `./report` (charts), `./ann` (HNSW) and `./mnist` (the demo's digits).
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
export * from "./src/kmeans/mod.ts";
export * from "./src/jobs/mod.ts";
export * from "./src/topk/mod.ts";
export * from "./src/labels/mod.ts";
export * from "./src/ivf/mod.ts";
export {
  type PseudoLabelOptions,
  type PseudoLabels,
  pseudoLabels,
} from "./src/train/pseudo_labels.ts";
export * from "./src/loss/mlcd_loss.ts";
export * from "./src/loss/mlcd_loss_reference.ts";
export * from "./src/loss/sample_classes.ts";
export * from "./src/version.ts";
