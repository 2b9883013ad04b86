/**
 * Approximate nearest-center search over K centers on the GPU at n·√K·d cost (IVF): an
 * index of C ≈ √K coarse cells over the centers ({@linkcode buildCenterIndex}), the
 * k-means assignment through it ({@linkcode ivfAssign}, {@linkcode recordIvfAssign}: a
 * drop-in for the exact fused pass, equal to it bit for bit when every cell is probed),
 * top-k labelling ({@linkcode ivfTopk}) and honest quality checks against exact search
 * ({@linkcode measureAssignmentRecall}, {@linkcode measureTopkRecall}).
 *
 * @example Usage
 * ```ts ignore
 * import { createGpu } from "../gpu/mod.ts";
 * import { buildCenterIndex, ivfAssign, ivfTopk } from "./mod.ts";
 * const gpu = await createGpu();
 * const index = buildCenterIndex(gpu, centers, { metric: "cosine" });
 * const { assignments } = await ivfAssign(gpu, x, index, { nprobe: 16 });
 * const { indices } = await ivfTopk(gpu, x, index, { k: 8, nprobe: 32 });
 * index.destroy();
 * ```
 *
 * @module
 */
export * from "./center_index.ts";
export * from "./ivf_assign.ts";
export * from "./ivf_topk.ts";
export * from "./ivf_assignment_step.ts";
export * from "./ivf_recall.ts";
export * from "./ivf_options.ts";
export { ivfPlan, type IvfSearch, type IvfSearchChoice } from "./ivf_auto.ts";
