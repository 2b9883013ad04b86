/**
 * Evaluation: linear probe, kNN top-1, retrieval recall@K and clustering NMI/ARI.
 *
 * @example Usage
 * ```ts ignore
 * import { knnTop1, linearProbe, nmi } from "./mod.ts";
 * ```
 *
 * @module
 */
export * from "./cluster_metrics.ts";
export * from "./knn.ts";
export * from "./linear_probe.ts";
export * from "./retrieval.ts";
export * from "./evaluate.ts";
export * from "./eval_rows.ts";
export * from "./charts.ts";
export * from "./run_report.ts";
