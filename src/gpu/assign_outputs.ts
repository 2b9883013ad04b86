// Per-row outputs of a nearest-centroid search over the rows of a GpuMatrix: one u32 index and
// one f32 score per row, in one pair of buffers per row chunk. k-means' assignment step
// (src/kmeans/assignment_step.ts) and the IVF search (src/ivf) write them; both read them back
// with readAssignOutputs.
import type { Gpu } from "./gpu.ts";
import { createStorage, readBack } from "./buffers.ts";
import type { GpuMatrix } from "./gpu_matrix.ts";

/**
 * Where an assignment step writes, per row chunk of the assigned rows: `idx[i]` and
 * `score[i]` hold one u32 and one f32 per row of chunk `i`.
 */
export interface AssignOutputs {
  /** Per row chunk: the chosen centroid of each row (u32, a global index in `[0, k)`). */
  idx: GPUBuffer[];
  /** Per row chunk: the score of each row against its chosen centroid (f32). */
  score: GPUBuffer[];
  /** Frees the buffers (a no-op for buffers the caller owns). */
  destroy(): void;
}

/** Allocates assignment/score buffers matching the row chunks of `x`. */
export function createAssignOutputs(gpu: Gpu, x: GpuMatrix): AssignOutputs {
  const idx = x.chunks.map((c) => createStorage(gpu, c.rows * 4, "assign"));
  const score = x.chunks.map((c) => createStorage(gpu, c.rows * 4, "score"));
  return {
    idx,
    score,
    destroy() {
      for (const b of [...idx, ...score]) b.destroy();
    },
  };
}

/**
 * Submits `enc` and reads back what an assignment step wrote for the rows of `rows`: each
 * row's chosen centroid and its score, in row order (the form `assignNearest` returns).
 */
export async function readAssignOutputs(
  gpu: Gpu,
  rows: GpuMatrix,
  out: Pick<AssignOutputs, "idx" | "score">,
  enc: GPUCommandEncoder,
): Promise<{ assignments: Uint32Array; scores: Float32Array }> {
  const parts = await readBack(gpu, [
    ...rows.chunks.map((c, i) => ({ buffer: out.idx[i]!, bytes: c.rows * 4 })),
    ...rows.chunks.map((c, i) => ({ buffer: out.score[i]!, bytes: c.rows * 4 })),
  ], enc);
  const assignments = new Uint32Array(rows.rows);
  const scores = new Float32Array(rows.rows);
  const nc = rows.chunks.length;
  rows.chunks.forEach((c, i) => {
    assignments.set(new Uint32Array(parts[i]!), c.rowStart);
    scores.set(new Float32Array(parts[nc + i]!), c.rowStart);
  });
  return { assignments, scores };
}
