// Private: the Lloyd iterations of one k-means run on the GPU.
import type { Gpu } from "../gpu/gpu.ts";
import { readBack } from "../gpu/buffers.ts";
import type { GpuMatrix } from "../gpu/gpu_matrix.ts";
import { submit } from "../gpu/program.ts";
import type { KMeansIterationStats } from "./kmeans_options.ts";
import { type CentroidStore, packCentroids } from "./centroid_store.ts";
import type { AssignmentStep, AssignOutputs } from "./assignment_step.ts";
import { createUpdateState, recordObjective, recordUpdate } from "./_update_programs.ts";
import {
  type ChunkWeights,
  createWeightedState,
  recordWeightedObjective,
  recordWeightedUpdate,
} from "./_weights.ts";
import { planSplits, recordSplits } from "./_splits.ts";

/** What one run's Lloyd iterations need. */
export interface LloydArgs {
  /** The assignment step (see assignment_step.ts). */
  assign: AssignmentStep;
  train: GpuMatrix;
  out: AssignOutputs;
  weights: ChunkWeights | undefined;
  cents: CentroidStore;
  partial: GPUBuffer;
  spherical: boolean;
  scale: number;
  niter: number;
  tolerance: number;
  onIteration: ((s: KMeansIterationStats) => void) | undefined;
  /** Where a resumed run continues. */
  start: {
    iteration: number;
    pending: [number, number][];
    stats: KMeansIterationStats[];
    done: boolean;
  } | null;
  checkpoint: {
    every: number;
    save: (
      next: number,
      pending: [number, number][],
      stats: KMeansIterationStats[],
      done: boolean,
    ) => Promise<void>;
  } | null;
}

/**
 * Runs the Lloyd iterations of one run from `start` (or the beginning): assign (the
 * assignment step), objective, update, one readback of counts and objective, splits of empty
 * clusters planned for the next iteration; checkpoints every `checkpoint.every` iterations and
 * when they end. Stops early at `tolerance`. Returns the run's stats.
 */
export async function lloyd(gpu: Gpu, a: LloydArgs): Promise<KMeansIterationStats[]> {
  const { cents, train, spherical } = a;
  const k = cents.k;
  if (a.start?.done) return a.start.stats.slice();
  const state = a.weights ? createWeightedState(gpu, cents) : createUpdateState(gpu, cents);
  const stats: KMeansIterationStats[] = a.start ? a.start.stats.slice() : [];
  const t0 = performance.now();
  const first = a.start ? a.start.iteration : 0;
  let pending: [number, number][] = a.start ? a.start.pending : [];
  try {
    for (let it = first; it < a.niter; it++) {
      const t1 = performance.now();
      const enc = gpu.device.createCommandEncoder();
      if (pending.length) {
        recordSplits(gpu, cents, pending, spherical, enc);
        packCentroids(gpu, cents, enc);
        pending = [];
      }
      a.assign(gpu, train, cents, a.out, enc);
      if (a.weights) {
        recordWeightedObjective(gpu, train, a.out, a.weights, a.partial, enc);
        recordWeightedUpdate(
          gpu,
          train,
          a.out,
          a.weights,
          cents,
          state as ReturnType<typeof createWeightedState>,
          spherical,
          a.scale,
          enc,
        );
      } else {
        recordObjective(gpu, train, a.out, a.partial, enc);
        recordUpdate(
          gpu,
          train,
          a.out,
          cents,
          state as ReturnType<typeof createUpdateState>,
          spherical,
          a.scale,
          enc,
        );
      }
      packCentroids(gpu, cents, enc);
      const [countsBuf, partBuf] = await readBack(gpu, [
        { buffer: state.counts, bytes: k * 4 },
        { buffer: a.partial, bytes: 256 * 4 },
      ], enc);
      const counts = new Uint32Array(countsBuf!);
      let objective = 0;
      for (const v of new Float32Array(partBuf!)) objective += v;
      let sq = 0;
      for (const c of counts) sq += c * c;
      const imbalanceFactor = (k * sq) / (train.rows * train.rows);
      pending = planSplits(counts);
      const now = performance.now();
      const s: KMeansIterationStats = {
        iteration: it,
        objective,
        time: (now - t0) / 1000,
        timeSearch: (now - t1) / 1000,
        imbalanceFactor,
        nsplit: pending.length,
        eta: ((now - t0) / 1000 / (it - first + 1)) * (a.niter - it - 1),
      };
      stats.push(s);
      a.onIteration?.(s);
      const prev = stats[stats.length - 2];
      if (
        a.tolerance > 0 && prev &&
        Math.abs(objective - prev.objective) <= a.tolerance * Math.abs(prev.objective)
      ) break;
      if (a.checkpoint && (it + 1) % a.checkpoint.every === 0 && it + 1 < a.niter) {
        await a.checkpoint.save(it + 1, pending, stats, false);
      }
    }
    if (pending.length) {
      const enc = gpu.device.createCommandEncoder();
      recordSplits(gpu, cents, pending, spherical, enc);
      packCentroids(gpu, cents, enc);
      submit(gpu, enc);
    }
    if (a.checkpoint) await a.checkpoint.save(a.niter, [], stats, true);
  } finally {
    state.destroy();
  }
  return stats;
}
