// What the two search stages share: the running lists of each query chunk, a pass batcher that
// submits every few passes, the queries in the kernels' layout, and the one read-back.
import type { Gpu } from "../gpu/gpu.ts";
import { createStorage, readBack } from "../gpu/buffers.ts";
import { type GpuMatrix, type GpuMatrixLease, useGpuMatrix } from "../gpu/gpu_matrix.ts";
import { submit } from "../gpu/program.ts";
import type { Matrix } from "../matrix/matrix.ts";
import type { TopkMetric, TopkResult } from "./topk_options.ts";

/** One search by a stage: keys in the kernels' layout, validated queries (n ≥ 1), `k`. */
export interface TopkStageInput {
  /** The keys, f32, stride `4 × d4`, normalised for cosine. */
  keys: GpuMatrix;
  /** The queries, `n × cols` with `n ≥ 1`, validated. */
  queries: Matrix | GpuMatrix;
  /** List length. */
  k: number;
  /** Similarity (cosine normalises the queries). */
  metric: TopkMetric;
  /** Called with the work (rows × keys) the GPU has finished, submit by submit. */
  onDone?: ((units: number) => void) | undefined;
}

/** Running lists of one query chunk on the GPU (`rows × k` scores and indices). */
export interface ListState {
  s: GPUBuffer;
  i: GPUBuffer;
  rowStart: number;
  rows: number;
}

/** Allocates the running lists of query chunk `qc`. */
export function createLists(
  gpu: Gpu,
  qc: { rowStart: number; rows: number },
  k: number,
): ListState {
  return {
    s: createStorage(gpu, qc.rows * k * 4, "topk.state_scores"),
    i: createStorage(gpu, qc.rows * k * 4, "topk.state_indices"),
    rowStart: qc.rowStart,
    rows: qc.rows,
  };
}

/** Frees the running lists. */
export function destroyLists(states: ListState[]): void {
  for (const st of states) {
    st.s.destroy();
    st.i.destroy();
  }
}

/** Command encoders of one search; see {@linkcode passBatch}. */
export interface PassBatch {
  /** The encoder to record the next pass into (`units`: its work, for progress). */
  encoder(units?: number): GPUCommandEncoder;
  /** Submits what is recorded; call after the last pass. */
  flush(): void;
  /** With progress reporting: submits at the end of a range of keys. */
  boundary(): void;
}

/**
 * Records passes into command encoders, submitting every `gpu.quirks.passesPerSubmit` passes
 * (so that lavapipe starts work early and no encoder grows without bound).
 */
export function passBatch(gpu: Gpu, onDone?: (units: number) => void): PassBatch {
  let enc = gpu.device.createCommandEncoder({ label: "topk" });
  let passes = 0;
  // Work (rows × keys) recorded since the last submit, reported once the GPU has done it.
  let units = 0;
  const send = () => {
    submit(gpu, enc);
    if (onDone && units > 0) {
      const u = units;
      gpu.device.queue.onSubmittedWorkDone().then(() => onDone(u), () => {});
    }
    units = 0;
  };
  return {
    encoder(work = 0) {
      if (passes > 0 && passes % gpu.quirks.passesPerSubmit === 0) {
        send();
        enc = gpu.device.createCommandEncoder({ label: "topk" });
      }
      passes++;
      units += work;
      return enc;
    },
    flush() {
      send();
    },
    boundary() {
      if (!onDone || units === 0) return;
      send();
      enc = gpu.device.createCommandEncoder({ label: "topk" });
    },
  };
}

/** Reads every chunk's lists back in one round trip into `n × k` arrays. */
export async function readLists(
  gpu: Gpu,
  states: ListState[],
  n: number,
  k: number,
): Promise<TopkResult> {
  const parts = await readBack(
    gpu,
    states.flatMap((st) => [
      { buffer: st.s, bytes: st.rows * k * 4 },
      { buffer: st.i, bytes: st.rows * k * 4 },
    ]),
  );
  const scores = new Float32Array(n * k);
  const indices = new Uint32Array(n * k);
  states.forEach((st, j) => {
    scores.set(new Float32Array(parts[2 * j]!), st.rowStart * k);
    indices.set(new Uint32Array(parts[2 * j + 1]!), st.rowStart * k);
  });
  return { indices, scores };
}

/** The queries in the layout the kernels read (the keys' stride), in chunks of `maxRows`. */
export function queryRows(gpu: Gpu, input: TopkStageInput, maxRows: number): GpuMatrixLease {
  return useGpuMatrix(gpu, input.queries, {
    label: "topk.queries",
    stride: input.keys.stride,
    normalize: input.metric === "cosine",
    maxRowsPerChunk: maxRows,
  });
}
