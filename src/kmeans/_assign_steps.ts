// Private: the assignment steps of one k-means call, exact or IVF (assignment_choice.ts
// chooses): one for the Lloyd iterations and one for the final pass, in memory or streamed.
import { createIvfAssignmentStep } from "../ivf/ivf_assignment_step.ts";
import type { KMeansAssignment, KMeansKernelChoice } from "./kmeans_options.ts";
import type { AssignmentStep } from "./assignment_step.ts";
import type { CentroidStore } from "./centroid_store.ts";
import { exactAssignment } from "./_assign_programs.ts";

/** The steps of the iterations and of the final pass; `destroy()` frees an IVF index. */
export interface Assigner {
  /** One call per Lloyd iteration (the centroids move after each). */
  iteration: AssignmentStep;
  /** One call per final pass, or per batch of a streamed final pass (the centroids stay). */
  final: AssignmentStep;
  /** Frees what the steps hold. */
  destroy(): void;
}

/**
 * The steps for `assignment`. Exact: the fused kernel for both. IVF: one index over the
 * centroid store, rebuilt on the GPU at every iteration (the update moves the centroids) and
 * once before a final pass, however many batches it streams; the index depends only on the
 * centroids and `seed`, so a run resumed from a checkpoint rebuilds the same one. The previous
 * assignment is not scored (`withPrevious` off): checkpoints do not hold it.
 */
export function createAssigner(
  assignment: KMeansAssignment,
  kernel: KMeansKernelChoice,
  spherical: boolean,
  seed: number,
): Assigner {
  if (assignment.method === "exact") {
    const step = exactAssignment(kernel, spherical);
    return { iteration: step, final: step, destroy() {} };
  }
  const step = createIvfAssignmentStep({
    metric: spherical ? "cosine" : "l2",
    cells: assignment.cells,
    nprobe: assignment.nprobe,
    seed,
    rebuild: "manual",
  });
  // The store whose index matches its centroids (built since they last moved), if any.
  let current: CentroidStore | null = null;
  const run: (rebuild: boolean) => AssignmentStep = (rebuild) => (gpu, rows, cents, out, enc) => {
    // A store the step has not seen gets its index built (and placed) by the step itself.
    if (rebuild && step.index?.store === cents) step.index.rebuild(enc);
    step(gpu, rows, cents, out, enc);
  };
  return {
    iteration: (gpu, rows, cents, out, enc) => {
      run(true)(gpu, rows, cents, out, enc);
      current = null; // the update recorded after this moves the centroids
    },
    final: (gpu, rows, cents, out, enc) => {
      run(current !== cents)(gpu, rows, cents, out, enc);
      current = cents;
    },
    destroy() {
      step.destroy();
      current = null;
    },
  };
}
