/**
 * Evaluation of frozen features: linear probe, kNN top-1, retrieval recall@K and clustering
 * NMI/ARI, alone or all at once (`evaluateFeatures`). No npm package.
 *
 * @example All metrics of two labelled splits
 * ```ts ignore
 * import { createGpu } from "./mod.ts";
 * import { evaluateFeatures } from "./eval.ts";
 * const gpu = await createGpu();
 * const m = await evaluateFeatures(gpu, { x: trainX, y: trainY }, { x: testX, y: testY });
 * ```
 *
 * @module
 */
export * from "./src/eval/cluster_metrics.ts";
export * from "./src/eval/knn.ts";
export * from "./src/eval/linear_probe.ts";
export * from "./src/eval/retrieval.ts";
export * from "./src/eval/evaluate.ts";
export * from "./src/eval/eval_rows.ts";
