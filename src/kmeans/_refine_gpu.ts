// Private: the GPU side of the refinement (refine.ts). A scan streams rows in batches through
// the assignment step (assignment_step.ts) against fixed centers and, for a refinement pass,
// through the accumulate pass of the plain k-means update: the 64-bit fixed-point sums and
// counts the Lloyd iterations use, never cleared between batches. The finalize uploads an
// exact total of such sums and runs the update's finalize pass and the empty-cluster splits,
// so that one pass over all rows does exactly what one Lloyd iteration does.
import type { Gpu } from "../gpu/gpu.ts";
import { createStorage, readBack } from "../gpu/buffers.ts";
import { type GpuMatrix, uploadMatrix } from "../gpu/gpu_matrix.ts";
import { dispatch, submit } from "../gpu/program.ts";
import type { Matrix } from "../matrix/matrix.ts";
import { type RowSource, streamRows } from "../data/row_source.ts";
import {
  centroidsPerChunk,
  type CentroidStore,
  createCentroids,
  f32Binding,
  packCentroids,
  paddedWidth,
  readCentroids,
} from "./centroid_store.ts";
import type { AssignmentStep, AssignOutputs } from "./assignment_step.ts";
import {
  accumulateProgram,
  createUpdateState,
  finalizeProgram,
  type UpdateState,
} from "./_update_programs.ts";
import { planSplits, recordSplits } from "./_splits.ts";
import { checkSourceRows } from "./_stream_assign.ts";

/** What a scan and a finalize share: the metric, storage, assignment step and batching. */
export interface RefineKernel {
  spherical: boolean;
  f16: boolean;
  /** The assignment step (exact today; an approximate one plugs in here). */
  step: AssignmentStep;
  batchRows: number;
}

/**
 * The centers as the centroid store takes them, `k × paddedWidth(d)`: each row normalised in
 * float64 under cosine and rounded, as kmeans() takes given `init` centroids (_init.ts).
 */
export function paddedCenters(centers: Matrix, spherical: boolean): Float32Array {
  const { rows, cols: d } = centers, dp = paddedWidth(d);
  const out = new Float32Array(rows * dp);
  for (let r = 0; r < rows; r++) {
    const v = Float64Array.from(centers.data.subarray(r * d, (r + 1) * d));
    if (spherical) {
      let s = 0;
      for (const e of v) s += e * e;
      const inv = 1 / Math.sqrt(s);
      for (let i = 0; i < d; i++) v[i] = v[i]! * inv;
    }
    for (let c = 0; c < d; c++) out[r * dp + c] = v[c]!;
  }
  return out;
}

/** The store of `k` centers, chunked as kmeans() chunks its unweighted centroids. */
function centerStore(gpu: Gpu, padded: Float32Array, k: number, d: number, f16: boolean) {
  const kc = centroidsPerChunk(gpu, paddedWidth(d), true);
  return createCentroids(gpu, k, d, f16, kc, padded);
}

/** The fixed-point exponent of the sums: the largest |value| maps to ≤ 2^30 (as kmeans()). */
export function sumsExponent(maxAbs: number): number {
  return 30 - Math.max(0, Math.ceil(Math.log2(maxAbs || 1)));
}

/** Batches of a Matrix or a RowSource, with the source's rows checked as they are read. */
async function* batches(
  rows: Matrix | RowSource,
  batchRows: number,
  spherical: boolean,
  f16: boolean,
): AsyncGenerator<{ matrix: Matrix; rowStart: number }> {
  if ("data" in rows) {
    const d = rows.cols;
    for (let at = 0; at < rows.rows; at += batchRows) {
      const m = Math.min(batchRows, rows.rows - at);
      yield {
        matrix: { data: rows.data.subarray(at * d, (at + m) * d), rows: m, cols: d },
        rowStart: at,
      };
    }
    return;
  }
  const it = streamRows(rows, { batchRows, reuse: true });
  let next = it.next();
  try {
    while (true) {
      const r = await next;
      if (r.done) break;
      next = it.next(); // read ahead while the GPU works
      next.catch(() => {}); // surfaced when awaited
      const b = r.value;
      checkSourceRows(b.matrix, spherical, f16, (i) => ({ file: b.file, fileRow: b.fileRow + i }));
      yield { matrix: b.matrix, rowStart: b.rowStart };
    }
  } finally {
    await it.return(undefined).catch(() => {});
  }
}

/** The largest |value| of the rows (l2 sums' exponent), streamed for a source. */
export async function maxAbsOf(rows: Matrix | RowSource, batchRows: number): Promise<number> {
  let max = 0;
  for await (const b of batches(rows, batchRows, false, false)) {
    for (const v of b.matrix.data) max = Math.max(max, Math.abs(v));
  }
  return max;
}

/** What a scan of rows against fixed centers gives. */
export interface ScanResult {
  /** `k × d` sums (a refinement pass), or null (a scoring pass). */
  sums: BigInt64Array | null;
  counts: Uint32Array;
  objective: number;
  rows: number;
}

/** Records the accumulate pass of the plain update for every row and centroid chunk. */
function recordAccumulate(
  gpu: Gpu,
  x: GpuMatrix,
  out: AssignOutputs,
  cents: CentroidStore,
  state: UpdateState,
  scale: number,
  enc: GPUCommandEncoder,
): void {
  const d4 = cents.dp / 4;
  cents.chunks.forEach((cc, j) => {
    x.chunks.forEach((xc, i) => {
      if (xc.rows === 0) return;
      const program = accumulateProgram("plain", x.dtype === "f16", {
        rows: xc.rows,
        kBase: cc.kBase,
        kc: cc.rows,
        d4,
        scale,
      });
      dispatch(gpu, program, [xc.buffer, out.idx[i]!, state.counts, state.sums[j]!], enc);
    });
  });
}

/**
 * Assigns every row to the centers (padded, see {@linkcode paddedCenters}), batch by batch:
 * member counts and the objective (scores summed in float64 in row order), and with
 * `exponent` the 64-bit sums Σ round(x · 2^exponent) of each center's members.
 */
export async function scanRows(
  gpu: Gpu,
  rows: Matrix | RowSource,
  centers: { padded: Float32Array; k: number; d: number },
  kern: RefineKernel,
  exponent: number | null,
  onBatch: ((done: number, rows: number) => void | Promise<void>) | undefined,
): Promise<ScanResult> {
  const { k, d } = centers, dp = paddedWidth(d), n = rows.rows;
  const cents = centerStore(gpu, centers.padded, k, d, kern.f16);
  const state = exponent === null ? null : createUpdateState(gpu, cents);
  const rowBytes = dp * (kern.f16 ? 2 : 4);
  const cap = Math.max(1, Math.min(kern.batchRows, Math.floor(gpu.maxBindingBytes / rowBytes), n));
  const idx = createStorage(gpu, cap * 4, "refine.assign");
  const score = createStorage(gpu, cap * 4, "refine.score");
  const out: AssignOutputs = { idx: [idx], score: [score], destroy() {} };
  const counts = new Uint32Array(k);
  let objective = 0, done = 0;
  try {
    for await (const b of batches(rows, cap, kern.spherical, kern.f16)) {
      const m = b.matrix.rows;
      const x = uploadMatrix(gpu, b.matrix, {
        label: "refine.batch",
        stride: dp,
        dtype: kern.f16 ? "f16" : "f32",
        normalize: kern.spherical,
      });
      let ib: ArrayBuffer | undefined, sb: ArrayBuffer | undefined;
      try {
        const enc = gpu.device.createCommandEncoder();
        kern.step(gpu, x, cents, out, enc);
        if (state) recordAccumulate(gpu, x, out, cents, state, 2 ** exponent!, enc);
        [ib, sb] = await readBack(gpu, [
          { buffer: idx, bytes: m * 4 },
          { buffer: score, bytes: m * 4 },
        ], enc);
      } finally {
        x.destroy();
      }
      for (const c of new Uint32Array(ib!)) counts[c]!++;
      for (const v of new Float32Array(sb!)) objective += v;
      done += m;
      await onBatch?.(done, n);
    }
    let sums: BigInt64Array | null = null;
    if (state) {
      const parts = await readBack(
        gpu,
        cents.chunks.map((c, j) => ({ buffer: state.sums[j]!, bytes: c.rows * dp * 8 })),
      );
      sums = new BigInt64Array(k * d);
      cents.chunks.forEach((c, j) => {
        const v = new BigInt64Array(parts[j]!);
        for (let r = 0; r < c.rows; r++) {
          sums!.set(v.subarray(r * dp, r * dp + d), (c.kBase + r) * d);
        }
      });
    }
    return { sums, counts, objective, rows: done };
  } finally {
    idx.destroy();
    score.destroy();
    state?.destroy();
    cents.destroy();
  }
}

/**
 * The next centers from the previous ones and the exact total of all rows' sums: the update's
 * finalize pass (centers with members = sums / (2^exponent × count), normalised under cosine;
 * the others keep their value), then faiss's splits of empty centers planned from the counts,
 * as the Lloyd loop does after its last iteration.
 */
export async function finalizeCenters(
  gpu: Gpu,
  centers: { padded: Float32Array; k: number; d: number },
  total: { sums: BigInt64Array; exponent: number; counts: Uint32Array },
  spherical: boolean,
): Promise<{ centroids: Matrix; nsplit: number }> {
  const { k, d } = centers, dp = paddedWidth(d);
  // f32 only: a packed f16 copy would not change the f32 centers the finalize writes.
  const cents = centerStore(gpu, centers.padded, k, d, false);
  const state = createUpdateState(gpu, cents);
  try {
    gpu.device.queue.writeBuffer(state.counts, 0, new Uint32Array(total.counts));
    const words = new Uint32Array(total.sums.buffer, total.sums.byteOffset, k * d * 2);
    cents.chunks.forEach((c, j) => {
      const chunk = new Uint32Array(c.rows * dp * 2);
      for (let r = 0; r < c.rows; r++) {
        const from = (c.kBase + r) * d * 2;
        chunk.set(words.subarray(from, from + d * 2), r * dp * 2);
      }
      gpu.device.queue.writeBuffer(state.sums[j]!, 0, chunk);
    });
    const enc = gpu.device.createCommandEncoder();
    cents.chunks.forEach((cc, j) => {
      const program = finalizeProgram("plain", {
        kc: cc.rows,
        kBase: cc.kBase,
        d4: dp / 4,
        spherical: spherical ? 1 : 0,
        invScale: 2 ** -total.exponent,
      });
      dispatch(gpu, program, [state.counts, state.sums[j]!, f32Binding(cc, dp), cc.cn], enc);
    });
    const pending = planSplits(total.counts);
    if (pending.length) recordSplits(gpu, cents, pending, spherical, enc);
    packCentroids(gpu, cents, enc);
    submit(gpu, enc);
    return { centroids: await readCentroids(gpu, cents, d), nsplit: pending.length };
  } finally {
    state.destroy();
    cents.destroy();
  }
}
