// Private: the runs of k-means (nredo of them, the best final objective kept) and the
// checkpoint glue around them: the run's fingerprint, resuming from a checkpoint, saving the
// state every few iterations and after each run, and the best run's state.
import type { Gpu } from "../gpu/gpu.ts";
import { createStorage } from "../gpu/buffers.ts";
import { mulberry32 } from "../random/mulberry32.ts";
import type {
  KMeansAssignment,
  KMeansIterationStats,
  KMeansKernelChoice,
  KMeansResult,
} from "./kmeans_options.ts";
import {
  type CentroidState,
  checkFingerprint,
  type Fingerprint,
  type KMeansCheckpoint,
  readCheckpoint,
  writeCheckpoint,
} from "./_kmeans_checkpoint.ts";
import {
  type CentroidStore,
  createCentroids,
  readCentroidState,
  restoreCentroids,
} from "./centroid_store.ts";
import { type Assigner, readPrevious, setPrevious } from "./_assign_steps.ts";
import type { KMeansConfig } from "./_resolve_options.ts";
import type { KMeansData, TrainingRows } from "./_input.ts";
import { initialCentroids } from "./_init.ts";
import { lloyd } from "./_lloyd.ts";
import { finalResult } from "./_final_pass.ts";

/** What must match for a checkpoint to be resumed (empty without checkpoints). */
export function fingerprintOf(c: KMeansConfig, data: KMeansData): Fingerprint {
  if (!c.checkpoint) return {};
  const { n, d } = data;
  return {
    rows: n,
    cols: d,
    k: c.k,
    niter: c.niter,
    nredo: c.nredo,
    seed: c.seed,
    maxPointsPerCentroid: c.maxPointsPerCentroid,
    spherical: c.spherical,
    f16: c.f16,
    tolerance: c.tolerance,
    assign: c.assign,
    nprobe: c.nprobe ?? null,
    init: typeof c.init === "string" ? c.init : `matrix:${hashFloats(c.init.data)}`,
    weights: c.weights ? hashFloats(c.weights.w) : null,
    input: data.kind === "source"
      ? data.source.slices.map((s) => `${s.file}[${s.rowStart},${s.rowEnd})`).join(";")
      : data.kind === "gpu"
      ? `gpu-matrix:${n}x${d}`
      : `matrix:${hashFloats(data.matrix.data)}`,
  };
}

/** FNV-1a over an array's 32-bit words (bytes when unaligned), with its length: a cheap identity. */
function hashFloats(a: ArrayBufferView): string {
  const aligned = a.byteOffset % 4 === 0 && a.byteLength % 4 === 0;
  const u = aligned
    ? new Uint32Array(a.buffer, a.byteOffset, a.byteLength / 4)
    : new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  let h = 0x811c9dc5;
  for (let i = 0; i < u.length; i++) h = Math.imul(h ^ u[i]!, 0x01000193) >>> 0;
  return `${h.toString(16).padStart(8, "0")}/${a.byteLength}`;
}

/**
 * With `resume`, the checkpoint to continue from (refused when written for another run), or
 * null when there is none yet; null without `resume`.
 */
export async function readResume(
  c: KMeansConfig,
  fingerprint: Fingerprint,
): Promise<KMeansCheckpoint | null> {
  const ck = c.checkpoint, onLog = c.onLog;
  if (!ck || !c.resume) return null;
  const saved = await readCheckpoint(ck.path);
  if (saved) {
    checkFingerprint(ck.path, saved.fingerprint, fingerprint);
    onLog?.(
      saved.redo >= c.nredo
        ? `Resuming from ${ck.path}: the iterations are done, final assignment left`
        : `Resuming from ${ck.path} at run ${
          saved.redo + 1
        }/${c.nredo}, iteration ${saved.iteration}`,
    );
  } else onLog?.(`No checkpoint at ${ck.path} yet: starting from the beginning`);
  return saved;
}

/** What the runs need. */
export interface RunsArgs {
  config: KMeansConfig;
  data: KMeansData;
  training: TrainingRows;
  kernel: KMeansKernelChoice;
  /** The assignment step chosen (recorded in checkpoints and the result). */
  assignment: KMeansAssignment;
  /** The assignment steps of the iterations and the final pass. */
  assign: Assigner;
  /** Centroids per chunk of the centroid store. */
  kc: number;
  /** The generator that drew the training sample: the first run's initialisation goes on. */
  rand: () => number;
  /** The checkpoint resumed from, or null. */
  saved: KMeansCheckpoint | null;
  fingerprint: Fingerprint;
}

/**
 * Runs `nredo` times (from the checkpoint's position when resuming): initialise, iterate,
 * final pass; keeps the run with the best final objective (highest cosine sum, lowest
 * inertia; the first on ties) and returns its result.
 */
export async function runRedos(gpu: Gpu, a: RunsArgs): Promise<KMeansResult> {
  const c = a.config, { training, saved, kc } = a;
  const { k, nredo, f16, spherical, init, onLog } = c;
  const { n, d } = a.data;
  const ck = c.checkpoint;
  const partial = createStorage(gpu, 256 * 4, "objective_partials");
  const better = (x: number, y: number) => (spherical ? x > y : x < y);
  let best:
    | { result: KMeansResult | null; objective: number; stats: KMeansIterationStats[] }
    | null = saved?.best
      ? { result: null, objective: saved.best.objective, stats: saved.best.stats }
      : null;
  let bestState: CentroidState | null = saved?.best ? saved.best.state : null;
  // The training rows' last assignment, when the iterations read it (IVF; see _assign_steps.ts):
  // restored from a checkpoint, so that a resumed run ends as an uninterrupted one.
  const usesPrevious = a.assign.usesPrevious, rowChunks = training.matrix.chunks;
  let lastPrevious: Uint32Array | null = null;
  let bestPrevious: Uint32Array | null = saved?.best?.previous ?? null;
  const save = async (
    s: Omit<KMeansCheckpoint, "fingerprint" | "kernel" | "assignment" | "best">,
  ) => {
    await writeCheckpoint(ck!.path, {
      ...s,
      fingerprint: a.fingerprint,
      kernel: a.kernel,
      assignment: a.assignment,
      best: best && bestState
        ? {
          redo: -1,
          objective: best.objective,
          stats: best.stats,
          state: bestState,
          ...(bestPrevious ? { previous: bestPrevious } : {}),
        }
        : null,
    });
  };
  const final = (cents: CentroidStore, stats: KMeansIterationStats[]) =>
    finalResult(gpu, cents, stats, {
      config: c,
      kernel: a.kernel,
      assignment: a.assignment,
      assign: a.assign.final,
      training,
      source: a.data.kind === "source" ? a.data.source : null,
    });
  let initSeconds = 0;
  try {
    for (let redo = saved ? saved.redo : 0; redo < nredo; redo++) {
      const here = saved && saved.redo === redo && saved.state.f32.length > 0 ? saved : null;
      let cents: CentroidStore;
      if (here) {
        cents = createCentroids(gpu, k, d, f16, kc);
        restoreCentroids(gpu, cents, here.state);
      } else {
        const rand = redo === 0 ? a.rand : mulberry32((c.seed + redo * 15486557) >>> 0);
        const t0 = performance.now();
        const init0 = await initialCentroids(gpu, training, {
          k,
          init,
          rand,
          spherical,
          onLog,
          variant: c.variant,
          autotune: c.autotune,
        });
        cents = createCentroids(gpu, k, d, f16, kc, init0);
        initSeconds += (performance.now() - t0) / 1000;
      }
      if (usesPrevious) {
        lastPrevious = here?.previous ?? null;
        setPrevious(gpu, training.out, rowChunks, lastPrevious);
      }
      try {
        const stats = k === n && typeof init === "string" ? [] : await lloyd(gpu, {
          assign: a.assign.iteration,
          train: training.matrix,
          out: training.out,
          weights: training.gpuWeights,
          cents,
          partial,
          spherical,
          scale: training.scale,
          niter: c.niter,
          tolerance: c.tolerance,
          onIteration: c.onIteration,
          start: here
            ? {
              iteration: here.iteration,
              pending: here.pending,
              stats: here.stats,
              done: here.lloydDone,
            }
            : null,
          checkpoint: ck
            ? {
              every: ck.every,
              save: async (iteration, pending, stats, done) => {
                const previous = usesPrevious
                  ? lastPrevious = await readPrevious(gpu, training.out, rowChunks)
                  : null;
                await save({
                  ...(previous ? { previous } : {}),
                  redo,
                  iteration,
                  lloydDone: done,
                  pending,
                  stats,
                  state: await readCentroidState(gpu, cents),
                });
                onLog?.(
                  `Checkpoint: run ${
                    redo + 1
                  }/${nredo}, ${iteration} iterations done, in ${ck.path}`,
                );
              },
            }
            : null,
        });
        const result = await final(cents, stats);
        if (!best || better(result.objective, best.objective)) {
          best = { result, objective: result.objective, stats };
          if (ck) bestState = await readCentroidState(gpu, cents);
          bestPrevious = lastPrevious;
        }
        if (ck) {
          const empty = { f32: new Float32Array(0), cn: new Float32Array(0) };
          await save({
            redo: redo + 1,
            iteration: 0,
            lloydDone: false,
            pending: [],
            stats: [],
            state: empty,
          });
        }
      } finally {
        cents.destroy();
      }
    }
    if (!best!.result) {
      // The best run finished before a restart: redo its final pass from its saved state.
      const cents = createCentroids(gpu, k, d, f16, kc);
      try {
        restoreCentroids(gpu, cents, bestState!);
        if (usesPrevious) setPrevious(gpu, training.out, rowChunks, bestPrevious);
        best!.result = await final(cents, best!.stats);
      } finally {
        cents.destroy();
      }
    }
  } finally {
    partial.destroy();
  }
  best!.result!.initSeconds = initSeconds;
  return best!.result!;
}
