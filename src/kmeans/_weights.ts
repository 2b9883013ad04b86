// Private: row weights of k-means. Weights enter the GPU update as integers W < 2^32
// (w × 2^e, e chosen once from the largest weight; e = 0 for integer weights below 2^32,
// so integer weights are exact) multiplied into 96-bit fixed-point sums, which keeps the
// update deterministic; the objective uses the float weights.
//
// Rule (the supported range): integer weights below 2^32 are exact at any range; otherwise
// every positive weight must be at least 2^-16 × the largest. The largest becomes W ≥ 2^31, so
// such a weight keeps W ≥ 2^15 and is used within 2^-16 of its value; a smaller one would be
// rounded coarsely or to 0 (1 beside 1e30 counted as 0), so it is refused, not approximated.
// Weights must also be float32 numbers (≤ 3.4e38): the objective adds them on the GPU.
import type { Gpu } from "../gpu/gpu.ts";
import type { GpuMatrix } from "../gpu/gpu_matrix.ts";
import { createStorage } from "../gpu/buffers.ts";
import { dispatch } from "../gpu/program.ts";
import { readNpyArray } from "../data/npy.ts";
import { type CentroidStore, f32Binding } from "./centroid_store.ts";
import type { AssignOutputs } from "./assignment_step.ts";
import { objectiveProgram, recordUpdatePasses } from "./_update_programs.ts";

/** The largest finite float32. */
const F32_MAX = 3.4028234663852886e38;

/** Typed arrays accepted as row weights. */
export type WeightArray = Float32Array | Float64Array | Uint32Array | Int32Array | Uint8Array;

/** Validated row weights with their integer scaling. */
export interface RowWeights {
  /** One finite weight ≥ 0 per row (the caller's array or the file's values, not copied). */
  w: WeightArray;
  /** Integer weight of row `i`: `round(w[i] × 2^exponent)`, below 2^32. */
  exponent: number;
  /** Where the weights came from, for messages. */
  name: string;
}

/** Reads (for a path) and checks weights: `n` finite values ≥ 0, not all zero. */
export async function loadWeights(
  weights: WeightArray | string,
  n: number,
): Promise<RowWeights> {
  let w: WeightArray, name: string;
  if (typeof weights === "string") {
    name = weights;
    const a = await readNpyArray(weights);
    if (a.shape.length !== 1 && !(a.shape.length === 2 && a.shape[1] === 1)) {
      throw new TypeError(
        `Expected ${weights} to hold a 1-D array of weights but found shape [${a.shape}]`,
      );
    }
    w = a.data;
  } else if (
    weights instanceof Float32Array || weights instanceof Float64Array ||
    weights instanceof Uint32Array || weights instanceof Int32Array || weights instanceof Uint8Array
  ) {
    name = "weights";
    w = weights;
  } else {
    throw new TypeError(
      `Expected weights to be a Float32Array, Float64Array, Uint32Array or a .npy path but found ${weights}`,
    );
  }
  if (w.length !== n) {
    throw new TypeError(
      `Expected ${name} to hold ${n} weights (one per row) but found ${w.length}`,
    );
  }
  let max = 0, imax = 0, integral = true;
  for (let i = 0; i < n; i++) {
    const v = w[i]!;
    if (!Number.isFinite(v) || v < 0) {
      throw new RangeError(
        `Expected ${name} to hold finite weights ≥ 0 but found ${v} at row ${i}`,
      );
    }
    if (v > F32_MAX) {
      throw new RangeError(
        `Expected ${name} to hold finite weights ≥ 0 (float32) but found ${v} at row ${i}`,
      );
    }
    if (v > max) max = v, imax = i;
    if (integral && !Number.isInteger(v)) integral = false;
  }
  if (max === 0) throw new RangeError(`Expected ${name} to hold a positive weight but all are 0`);
  const LIMIT = 2 ** 32 - 1;
  let exponent = 0;
  if (!(integral && max <= LIMIT)) {
    exponent = Math.floor(Math.log2(LIMIT / max));
    while (Math.round(max * 2 ** exponent) > LIMIT) exponent--;
    const least = max * 2 ** -16;
    for (let i = 0; i < n; i++) {
      const v = w[i]!;
      if (v > 0 && v < least) {
        throw new RangeError(
          `Expected every positive weight of ${name} to be at least 2^-16 × the largest (${max} at row ${imax}), or all weights to be integers below 2^32, but found ${v} at row ${i}: the update adds the weights as integers below 2^32 (w × 2^e for one e), where it would count as ${
            Math.round(v * 2 ** exponent) / 2 ** exponent
          }`,
        );
      }
    }
  }
  return { w, exponent, name };
}

/** Integer weight of one row. */
export function intWeight(weights: RowWeights, row: number): number {
  return Math.round(weights.w[row]! * 2 ** weights.exponent);
}

/** Per-chunk GPU weights of training rows: integers for the update, floats for the objective. */
export interface ChunkWeights {
  int: GPUBuffer[];
  float: GPUBuffer[];
  destroy(): void;
}

/** Uploads the weights of the rows of `x` (row `i` of `x` is data row `rowOf(i)`). */
export function uploadWeights(
  gpu: Gpu,
  x: GpuMatrix,
  weights: RowWeights,
  rowOf: (i: number) => number,
): ChunkWeights {
  const int: GPUBuffer[] = [], float: GPUBuffer[] = [];
  for (const c of x.chunks) {
    const wi = new Uint32Array(c.rows), wf = new Float32Array(c.rows);
    for (let r = 0; r < c.rows; r++) {
      const row = rowOf(c.rowStart + r);
      wi[r] = intWeight(weights, row);
      wf[r] = weights.w[row]!;
    }
    const a = createStorage(gpu, Math.max(4, wi.byteLength), "weights.int");
    const b = createStorage(gpu, Math.max(4, wf.byteLength), "weights.float");
    if (c.rows > 0) {
      gpu.device.queue.writeBuffer(a, 0, wi);
      gpu.device.queue.writeBuffer(b, 0, wf);
    }
    int.push(a);
    float.push(b);
  }
  return {
    int,
    float,
    destroy() {
      for (const buf of [...int, ...float]) buf.destroy();
    },
  };
}

/** Accumulators of the weighted update: member counts, 64-bit weight totals, 96-bit sums. */
export interface WeightedState {
  counts: GPUBuffer;
  wsum: GPUBuffer;
  sums: GPUBuffer[];
  destroy(): void;
}

/** Centroid rows per chunk for the weighted update: 12-byte sums of a chunk fit one binding. */
export function weightedCentroidsPerChunk(gpu: Gpu, dp: number): number {
  const kc = Math.floor(gpu.maxBindingBytes / (dp * 12));
  if (kc < 1) {
    throw new RangeError(
      `Cannot bind the weighted sums of a centroid of ${dp} padded columns (${
        dp * 12
      } bytes): the storage binding limit is ${gpu.maxBindingBytes} bytes`,
    );
  }
  return kc;
}

/** Allocates the weighted update's accumulators for `cents`. */
export function createWeightedState(gpu: Gpu, cents: CentroidStore): WeightedState {
  if (cents.k * 8 > gpu.maxBindingBytes) {
    throw new RangeError(
      `Cannot bind the weight totals of k = ${cents.k} clusters (${
        cents.k * 8
      } bytes): the storage binding limit is ${gpu.maxBindingBytes} bytes`,
    );
  }
  const counts = createStorage(gpu, cents.k * 4, "counts");
  const wsum = createStorage(gpu, cents.k * 8, "weight_totals");
  const sums = cents.chunks.map((c) => createStorage(gpu, c.rows * cents.dp * 12, "wsums"));
  return {
    counts,
    wsum,
    sums,
    destroy() {
      counts.destroy();
      wsum.destroy();
      for (const s of sums) s.destroy();
    },
  };
}

/**
 * Records the weighted update: clear, accumulate every row (count, weight, weight × value)
 * into its centroid, then centroids = weighted sums / weight totals (normalised when
 * spherical) and 0.5‖c‖².
 */
export function recordWeightedUpdate(
  gpu: Gpu,
  x: GpuMatrix,
  out: AssignOutputs,
  weights: ChunkWeights,
  cents: CentroidStore,
  state: WeightedState,
  spherical: boolean,
  scale: number,
  enc: GPUCommandEncoder,
): void {
  enc.clearBuffer(state.counts);
  enc.clearBuffer(state.wsum);
  for (const s of state.sums) enc.clearBuffer(s);
  recordUpdatePasses(gpu, x, cents, spherical, scale, {
    kind: "weighted",
    accumulateBindings: (xc, i, j) => [
      xc.buffer,
      out.idx[i]!,
      state.counts,
      state.sums[j]!,
      weights.int[i]!,
      state.wsum,
    ],
    finalizeBindings: (cc, j) => [
      state.counts,
      state.sums[j]!,
      f32Binding(cc, cents.dp),
      cc.cn,
      state.wsum,
    ],
  }, enc);
}

/** Records the deterministic weighted objective partial sums (256 floats). */
export function recordWeightedObjective(
  gpu: Gpu,
  x: GpuMatrix,
  out: AssignOutputs,
  weights: ChunkWeights,
  partial: GPUBuffer,
  enc: GPUCommandEncoder,
): void {
  x.chunks.forEach((xc, i) => {
    const program = objectiveProgram("weighted", xc.rows, i === 0);
    dispatch(gpu, program, [out.score[i]!, partial, weights.float[i]!], enc);
  });
}
