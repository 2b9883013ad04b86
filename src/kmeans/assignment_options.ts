// The types of k-means' assignment step: the method asked for (KMeansOptions.assign), the one a
// run used (KMeansResult.assignment) and how good an IVF assignment was (assignmentCheck).
// Re-exported by kmeans_options.ts.

/**
 * How k-means assigns rows to centroids: `"exact"` (every row scores every centroid, the
 * fused GEMM + argmax kernel), `"ivf"` (an index of ≈ √K cells over the current centroids,
 * rebuilt on the GPU every iteration; each row scores the centroids of its `nprobe` best
 * cells: n·√K·d work instead of n·K·d) or `"auto"` (exact for small K, IVF where it is faster
 * on this adapter, timed once and cached like the kernel variant).
 *
 * @example Usage
 * ```ts ignore
 * await kmeans(gpu, x, { k: 100000, assign: "ivf", nprobe: 32 });
 * ```
 */
export type KMeansAssign = "exact" | "ivf" | "auto";

/**
 * Every {@linkcode KMeansAssign}, in the order messages list them.
 *
 * @example Usage
 * ```ts ignore
 * console.log(KMEANS_ASSIGNS.join(" | ")); // exact | ivf | auto
 * ```
 */
export const KMEANS_ASSIGNS: readonly KMeansAssign[] = ["exact", "ivf", "auto"];

/**
 * The assignment a k-means run used and how it was chosen (`KMeansResult.assignment`, also
 * stored in checkpoints and the cluster command's manifests).
 *
 * @example Usage
 * ```ts ignore
 * const { assignment } = await kmeans(gpu, x, { k: 20000 });
 * console.log(assignment.method, assignment.cells, assignment.nprobe); // e.g. "ivf" 141 9
 * ```
 */
export interface KMeansAssignment {
  /** The search that assigned the rows: exact, or through the IVF index. */
  method: "exact" | "ivf";
  /** Cells of the IVF index (round(√K)); 0 for exact. */
  cells: number;
  /** Cells probed per row; 0 for exact (`nprobe = cells` scores every centroid). */
  nprobe: number;
  /**
   * "requested": `assign` named the method; "tuned": `"auto"` timed both on this adapter now;
   * "cache": `"auto"` read such a timing stored earlier for this adapter; "default":
   * `"auto"`'s untimed rule (autotuning disabled, or IVF cannot win: it would probe half
   * the cells or more).
   */
  source: "requested" | "tuned" | "cache" | "default";
}

/**
 * How good a run's IVF assignment was (`KMeansResult.assignmentCheck`): 1000 seeded input rows
 * assigned to the final centroids through the run's index and by exact search, compared in
 * float64.
 *
 * @example Usage
 * ```ts ignore
 * const { assignmentCheck } = await kmeans(gpu, x, { k: 20000, assign: "ivf" });
 * console.log(assignmentCheck?.recall, assignmentCheck?.objectiveLoss);
 * ```
 */
export interface KMeansAssignmentCheck {
  /** Rows checked. */
  rows: number;
  /** Fraction given their nearest centroid (a tie counts as found). */
  recall: number;
  /** Relative objective lost on them: (exact − found) / |exact| (cosine), (found − exact) / exact (l2). */
  objectiveLoss: number;
}
