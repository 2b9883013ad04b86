import type { Gpu } from "../gpu/gpu.ts";
import { createStorage, readBack } from "../gpu/buffers.ts";
import { submit } from "../gpu/program.ts";
import type { Matrix } from "../matrix/matrix.ts";
import type { KMeansIterationStats, KMeansOptions, KMeansResult } from "./kmeans_options.ts";
import {
  type AssignOutputs,
  centroidsPerChunk,
  type CentroidStore,
  createCentroids,
  createOutputs,
  createUpdateState,
  packCentroids,
  type PaddedRows,
  paddedWidth,
  recordAssign,
  recordObjective,
  recordSplits,
  recordUpdate,
  uploadRows,
} from "./_kernels.ts";
import { type AssignKernelChoice, chooseAssignKernel } from "./assign_kernel.ts";
import { mulberry32, sampleIndices } from "../random/mulberry32.ts";
import { checkInput, checkInt } from "./_validate.ts";

/**
 * Clusters the rows of `x` into `k` centroids on the GPU (Lloyd's algorithm, faiss-like).
 *
 * Spherical by default (MLCD's choice): rows and centroids are L2-normalised and the
 * objective is the sum of cosine similarities. Each iteration runs a fused assignment
 * kernel (similarity GEMM + per-row argmax, never storing n × k) and a GPU update step
 * (atomic counts, deterministic fixed-point sums), with one small readback (counts and
 * objective) per iteration. Empty clusters are re-seeded by splitting the largest.
 *
 * @param gpu The toolkit's GPU context from `createGpu`.
 * @param x Row-major data, `n × d`, finite; no all-zero rows when spherical.
 * @param options `k` (an integer in `[1, n]`) and the other {@linkcode KMeansOptions}.
 * @returns Centroids (`k × d`), assignments of all `n` rows, objective and stats.
 * @throws {TypeError} When `x` is not a well-formed Matrix.
 * @throws {RangeError} For NaN/Inf values, zero rows (spherical), bad `k` or options.
 *
 * @example Usage
 * ```ts ignore
 * import { createGpu } from "../gpu/gpu.ts";
 * import { kmeans } from "./kmeans.ts";
 * const gpu = await createGpu();
 * const x = { data: new Float32Array(1000 * 64).map(() => Math.random() - 0.5), rows: 1000, cols: 64 };
 * const { centroids, assignments, objective } = await kmeans(gpu, x, { k: 10 });
 * console.log(centroids.rows, assignments.length, objective);
 * ```
 */
export async function kmeans(gpu: Gpu, x: Matrix, options: KMeansOptions): Promise<KMeansResult> {
  if (options === null || typeof options !== "object") {
    throw new TypeError(`Expected options to be an object but found ${options}`);
  }
  const spherical = options.spherical ?? true;
  checkInput(x, "x", spherical);
  const n = x.rows, d = x.cols;
  const k = checkInt("k", options.k, 1, n);
  const niter = checkInt("niter", options.niter ?? 25, 0);
  const nredo = checkInt("nredo", options.nredo ?? 1, 1);
  const seed = checkInt("seed", options.seed ?? 1234, 0, 2 ** 32 - 1);
  const maxPpc = checkInt("maxPointsPerCentroid", options.maxPointsPerCentroid ?? 256, 1);
  const tolerance = options.tolerance ?? 0;
  if (typeof tolerance !== "number" || !(tolerance >= 0)) {
    throw new RangeError(`Expected tolerance to be a number ≥ 0 but found ${tolerance}`);
  }
  const init = options.init ?? "kmeans++";
  if (init !== "kmeans++" && init !== "random") {
    throw new RangeError(
      `Expected init to be "kmeans++" or "random" but found ${JSON.stringify(init)}`,
    );
  }
  const f16 = options.f16 ?? false;
  const variant = await chooseAssignKernel(gpu, options.variant, d, f16, {
    autotune: options.autotune,
    onLog: options.onLog,
  });
  const dp = paddedWidth(d);
  const kc = centroidsPerChunk(gpu, dp, true);

  // Seeded subsample of the training rows, faiss-style.
  const rand = mulberry32(seed);
  let trainIndex: Uint32Array | undefined;
  if (n > k * maxPpc) {
    trainIndex = sampleIndices(n, k * maxPpc, rand).sort();
    options.onLog?.(
      `Sampling a subset of ${
        k * maxPpc
      } / ${n} rows for training (maxPointsPerCentroid = ${maxPpc})`,
    );
  }
  const nTrain = trainIndex ? trainIndex.length : n;
  const rowOf = (i: number) => (trainIndex ? trainIndex[i]! : i);

  // Fixed-point scale for the update sums: the largest |value| maps to ≤ 2^30.
  let maxAbs = spherical ? 1 : 0;
  if (!spherical) { for (const v of x.data) maxAbs = Math.max(maxAbs, Math.abs(v)); }
  const scale = 2 ** (30 - Math.max(0, Math.ceil(Math.log2(maxAbs || 1))));

  const full = uploadRows(gpu, x, { normalize: spherical, f16, label: "x" });
  const train = trainIndex
    ? uploadRows(gpu, x, { index: trainIndex, normalize: spherical, f16, label: "x_train" })
    : full;
  const fullOut = createOutputs(gpu, full);
  const trainOut = trainIndex ? createOutputs(gpu, train) : fullOut;
  const partial = createStorage(gpu, 256 * 4, "objective_partials");
  let best: KMeansResult | undefined;
  try {
    for (let redo = 0; redo < nredo; redo++) {
      const redoRand = redo === 0 ? rand : mulberry32((seed + redo * 15486557) >>> 0);
      const init0 = k === n
        ? allRows(x, spherical, dp)
        : initCentroids(x, rowOf, nTrain, k, dp, spherical, init, redoRand);
      const cents = createCentroids(gpu, k, d, f16, kc, init0);
      try {
        const stats = k === n ? [] : await lloyd(gpu, {
          variant,
          train,
          out: trainOut,
          cents,
          partial,
          spherical,
          scale,
          niter,
          tolerance,
          onIteration: options.onIteration,
        });
        const result = await finalPass(gpu, variant, full, fullOut, cents, spherical, d, stats);
        result.kernel = variant;
        if (
          !best ||
          (spherical ? result.objective > best.objective : result.objective < best.objective)
        ) best = result;
      } finally {
        cents.destroy();
      }
    }
  } finally {
    if (train !== full) train.destroy();
    if (trainOut !== fullOut) trainOut.destroy();
    full.destroy();
    fullOut.destroy();
    partial.destroy();
  }
  return best!;
}

interface LloydArgs {
  variant: AssignKernelChoice;
  train: PaddedRows;
  out: AssignOutputs;
  cents: CentroidStore;
  partial: GPUBuffer;
  spherical: boolean;
  scale: number;
  niter: number;
  tolerance: number;
  onIteration: ((s: KMeansIterationStats) => void) | undefined;
}

async function lloyd(gpu: Gpu, a: LloydArgs): Promise<KMeansIterationStats[]> {
  const { cents, train, spherical } = a;
  const k = cents.k;
  const state = createUpdateState(gpu, cents);
  const stats: KMeansIterationStats[] = [];
  const t0 = performance.now();
  let pending: [number, number][] = [];
  try {
    for (let it = 0; it < a.niter; it++) {
      const t1 = performance.now();
      const enc = gpu.device.createCommandEncoder();
      if (pending.length) {
        recordSplits(gpu, cents, pending, spherical, enc);
        packCentroids(gpu, cents, enc);
        pending = [];
      }
      recordAssign(gpu, a.variant, train, cents, a.out, spherical, enc);
      recordObjective(gpu, train, a.out, a.partial, enc);
      recordUpdate(gpu, train, a.out, cents, state, spherical, a.scale, enc);
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
      };
      stats.push(s);
      a.onIteration?.(s);
      const prev = stats[stats.length - 2];
      if (
        a.tolerance > 0 && prev &&
        Math.abs(objective - prev.objective) <= a.tolerance * Math.abs(prev.objective)
      ) break;
    }
    if (pending.length) {
      const enc = gpu.device.createCommandEncoder();
      recordSplits(gpu, cents, pending, spherical, enc);
      packCentroids(gpu, cents, enc);
      submit(gpu, enc);
    }
  } finally {
    state.destroy();
  }
  return stats;
}

/** faiss's split rule with a deterministic donor: the currently largest cluster. */
function planSplits(countsIn: Uint32Array): [number, number][] {
  const counts = Float64Array.from(countsIn);
  const pairs: [number, number][] = [];
  for (let ci = 0; ci < counts.length; ci++) {
    if (counts[ci] !== 0) continue;
    let cj = 0;
    for (let j = 1; j < counts.length; j++) if (counts[j]! > counts[cj]!) cj = j;
    if (counts[cj]! < 2) break; // nothing left to split
    pairs.push([ci, cj]);
    counts[ci] = Math.floor(counts[cj]! / 2);
    counts[cj] = counts[cj]! - counts[ci]!;
  }
  return pairs;
}

async function finalPass(
  gpu: Gpu,
  variant: AssignKernelChoice,
  full: PaddedRows,
  out: AssignOutputs,
  cents: CentroidStore,
  spherical: boolean,
  d: number,
  stats: KMeansIterationStats[],
): Promise<KMeansResult> {
  const enc = gpu.device.createCommandEncoder();
  recordAssign(gpu, variant, full, cents, out, spherical, enc);
  const reads = [
    ...full.chunks.map((c, i) => ({ buffer: out.idx[i]!, bytes: c.rows * 4 })),
    ...full.chunks.map((c, i) => ({ buffer: out.score[i]!, bytes: c.rows * 4 })),
    ...cents.chunks.map((c) => ({ buffer: c.f32, bytes: c.rows * cents.dp * 4 })),
  ];
  const parts = await readBack(gpu, reads, enc);
  const nc = full.chunks.length;
  const assignments = new Uint32Array(full.rows);
  let objective = 0;
  full.chunks.forEach((c, i) => {
    assignments.set(new Uint32Array(parts[i]!), c.rowStart);
    for (const v of new Float32Array(parts[nc + i]!)) objective += v;
  });
  const data = new Float32Array(cents.k * d);
  cents.chunks.forEach((c, j) => {
    const v = new Float32Array(parts[2 * nc + j]!);
    for (let r = 0; r < c.rows; r++) {
      data.set(v.subarray(r * cents.dp, r * cents.dp + d), (c.kBase + r) * d);
    }
  });
  return {
    centroids: { data, rows: cents.k, cols: d },
    assignments,
    objective,
    stats,
    kernel: variant,
  };
}

function allRows(x: Matrix, spherical: boolean, dp: number): Float32Array {
  const out = new Float32Array(x.rows * dp);
  for (let r = 0; r < x.rows; r++) {
    const v = rowF64(x, r, spherical);
    for (let c = 0; c < x.cols; c++) out[r * dp + c] = v[c]!;
  }
  return out;
}

function rowF64(x: Matrix, r: number, spherical: boolean): Float64Array {
  const v = Float64Array.from(x.data.subarray(r * x.cols, (r + 1) * x.cols));
  if (spherical) {
    let s = 0;
    for (const e of v) s += e * e;
    const inv = 1 / Math.sqrt(s);
    for (let i = 0; i < v.length; i++) v[i] = v[i]! * inv;
  }
  return v;
}

/**
 * Host-side initialisation on a seeded sample of the training rows: k random rows, or
 * k-means++ (D² sampling) on up to max(4k, 1000) rows, in float64.
 */
function initCentroids(
  x: Matrix,
  rowOf: (i: number) => number,
  nTrain: number,
  k: number,
  dp: number,
  spherical: boolean,
  init: "kmeans++" | "random",
  rand: () => number,
): Float32Array {
  const d = x.cols;
  const out = new Float32Array(k * dp);
  if (init === "random") {
    const pick = sampleIndices(nTrain, k, rand);
    for (let c = 0; c < k; c++) {
      const v = rowF64(x, rowOf(pick[c]!), spherical);
      for (let j = 0; j < d; j++) out[c * dp + j] = v[j]!;
    }
    return out;
  }
  const s = Math.min(nTrain, Math.max(4 * k, 1000));
  const sample = sampleIndices(nTrain, s, rand);
  const pts = new Float64Array(s * d);
  for (let i = 0; i < s; i++) pts.set(rowF64(x, rowOf(sample[i]!), spherical), i * d);
  const dist = new Float64Array(s).fill(Infinity);
  const chosen = new Uint8Array(s);
  let cur = Math.floor(rand() * s);
  for (let c = 0; c < k; c++) {
    chosen[cur] = 1;
    for (let j = 0; j < d; j++) out[c * dp + j] = pts[cur * d + j]!;
    if (c === k - 1) break;
    let total = 0;
    for (let i = 0; i < s; i++) {
      let e = 0;
      for (let j = 0; j < d; j++) {
        const t = pts[i * d + j]! - pts[cur * d + j]!;
        e += t * t;
      }
      if (e < dist[i]!) dist[i] = e;
      if (!chosen[i]) total += dist[i]!;
    }
    let next = -1;
    if (total > 0) {
      let u = rand() * total;
      for (let i = 0; i < s; i++) {
        if (chosen[i]) continue;
        u -= dist[i]!;
        next = i;
        if (u < 0) break;
      }
    }
    if (next < 0 || chosen[next]) {
      next = chosen.indexOf(0); // all remaining rows coincide with chosen ones
    }
    cur = next;
  }
  return out;
}
