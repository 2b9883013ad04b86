// Private: the assignment steps of one k-means call, exact or IVF (assignment_choice.ts
// chooses): one for the Lloyd iterations and one for the final pass, in memory or streamed.
import type { Gpu } from "../gpu/gpu.ts";
import { readBack } from "../gpu/buffers.ts";
import { submit } from "../gpu/program.ts";
import { buildCenterIndex, type CenterIndex } from "../ivf/center_index.ts";
import { recordIvfAssign } from "../ivf/ivf_assign.ts";
import type { KMeansAssignment, KMeansKernelChoice } from "./kmeans_options.ts";
import type { AssignmentStep, AssignOutputs } from "./assignment_step.ts";
import type { CentroidStore } from "./centroid_store.ts";
import { exactAssignment } from "./_assign_programs.ts";

/** The steps of the iterations and of the final pass; `destroy()` frees an IVF index. */
export interface Assigner {
  /**
   * Whether the steps read the previous assignment in `out.idx` (IVF: each row also scores the
   * centroid it had), so that a checkpoint must hold it (see {@linkcode readPrevious}).
   */
  usesPrevious: boolean;
  /** One call per Lloyd iteration (the centroids move after each). */
  iteration: AssignmentStep;
  /**
   * One call per final pass, or per batch of a streamed final pass (the centroids stay);
   * `previous`: `out.idx` holds the rows' last assignment (the training rows' outputs).
   */
  final(previous: boolean): AssignmentStep;
  /** Frees what the steps hold. */
  destroy(): void;
}

/**
 * The steps for `assignment`. Exact: the fused kernel for every call. IVF: one index over the
 * centroid store, rebuilt on the GPU at every iteration (the update moves the centroids) and
 * once before a final pass, however many batches it streams; the index depends only on the
 * centroids and `seed`. Each iteration's rows also score the centroid they had (`out.idx`, the
 * last iteration's assignment: withPrevious), so a probe miss never leaves a row worse off than
 * staying and the iterations' objective never gets worse; a run that resumes restores `out.idx`
 * from its checkpoint, and every run starts from `clearPrevious` (zeros), so it ends the same.
 */
export function createAssigner(
  assignment: KMeansAssignment,
  kernel: KMeansKernelChoice,
  spherical: boolean,
  seed: number,
): Assigner {
  if (assignment.method === "exact") {
    const step = exactAssignment(kernel, spherical);
    return { usesPrevious: false, iteration: step, final: () => step, destroy() {} };
  }
  let index: CenterIndex | undefined;
  // The store whose index matches its centroids (built since they last moved), if any.
  let current: CentroidStore | null = null;
  // `fresh`: the index already matches the centroids (no rebuild).
  const search =
    (withPrevious: boolean, fresh: boolean): AssignmentStep => (gpu, rows, cents, out, enc) => {
      let built = index?.store === cents ? index : undefined;
      if (!built) {
        index?.destroy();
        index = built = buildCenterIndex(gpu, cents, {
          metric: spherical ? "cosine" : "l2",
          cells: assignment.cells,
          seed,
          build: false,
        });
        fresh = false;
      }
      if (!fresh) built.rebuild(enc);
      recordIvfAssign(gpu, rows, built, out, {
        encoder: enc,
        nprobe: assignment.nprobe,
        withPrevious,
      });
    };
  return {
    usesPrevious: true,
    iteration: (gpu, rows, cents, out, enc) => {
      search(true, false)(gpu, rows, cents, out, enc);
      current = null; // the update recorded after this moves the centroids
    },
    final: (previous) => (gpu, rows, cents, out, enc) => {
      search(previous, current === cents)(gpu, rows, cents, out, enc);
      current = cents;
    },
    destroy() {
      index?.destroy();
      index = undefined;
      current = null;
    },
  };
}

/** Sets the previous assignment of the rows of `out`: `previous`, or zeros when null. */
export function setPrevious(
  gpu: Gpu,
  out: AssignOutputs,
  rows: readonly { rows: number }[],
  previous: Uint32Array | null,
): void {
  const enc = gpu.device.createCommandEncoder({ label: "kmeans.previous" });
  let at = 0;
  rows.forEach((c, i) => {
    if (c.rows === 0) return;
    if (previous) {
      gpu.device.queue.writeBuffer(
        out.idx[i]!,
        0,
        previous as Uint32Array<ArrayBuffer>,
        at,
        c.rows,
      );
    } else enc.clearBuffer(out.idx[i]!, 0, c.rows * 4);
    at += c.rows;
  });
  submit(gpu, enc);
}

/** The previous assignment held by the rows' outputs (all chunks, in row order). */
export async function readPrevious(
  gpu: Gpu,
  out: AssignOutputs,
  rows: readonly { rows: number }[],
): Promise<Uint32Array> {
  const live = rows.map((c, i) => ({ buffer: out.idx[i]!, bytes: c.rows * 4 }))
    .filter((r) => r.bytes > 0);
  const parts = await readBack(gpu, live);
  const all = new Uint32Array(rows.reduce((s, c) => s + c.rows, 0));
  let at = 0;
  for (const p of parts) {
    all.set(new Uint32Array(p), at);
    at += p.byteLength / 4;
  }
  return all;
}
