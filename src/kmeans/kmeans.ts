import type { Gpu } from "../gpu/gpu.ts";
import { createStorage, readBack } from "../gpu/buffers.ts";
import { checkFinite, checkMatrix, type Matrix } from "../matrix/matrix.ts";
import { gatherRows, openRowSource, type RowSource } from "../data/row_source.ts";
import { submit } from "../gpu/program.ts";
import type { KMeansIterationStats, KMeansOptions, KMeansResult } from "./kmeans_options.ts";
import {
  type AssignOutputs,
  centroidsPerChunk,
  type CentroidStore,
  createCentroids,
  createOutputs,
  createUpdateState,
  packCentroids,
  paddedWidth,
  recordAssign,
  recordObjective,
  recordSplits,
  recordUpdate,
} from "./_kernels.ts";
import {
  checkGpuRows,
  downloadMatrix,
  type GpuMatrix,
  type GpuMatrixLease,
  isGpuMatrix,
  repackMatrix,
  uploadMatrix,
  useGpuMatrix,
} from "../gpu/gpu_matrix.ts";
import { type AssignKernelChoice, chooseAssignKernel } from "./assign_kernel.ts";
import { mulberry32, sampleIndices } from "../random/mulberry32.ts";
import { checkInput, checkInt, isCosine } from "./_validate.ts";
import { checkOptionsObject } from "../_options.ts";
import {
  type ChunkWeights,
  createWeightedState,
  loadWeights,
  recordWeightedObjective,
  recordWeightedUpdate,
  type RowWeights,
  uploadWeights,
  weightedCentroidsPerChunk,
} from "./_weights.ts";
import {
  type CentroidState,
  checkFingerprint,
  type Fingerprint,
  type KMeansCheckpoint,
  readCheckpoint,
  writeCheckpoint,
} from "./_kmeans_checkpoint.ts";
import { checkSourceRows, locateRow, sampleIndicesSparse, streamAssign } from "./_stream_assign.ts";

/**
 * What {@linkcode kmeans} clusters: rows in memory, rows already on the GPU (a
 * {@linkcode GpuMatrix}), a {@linkcode RowSource} over embedding shards, or embedding files
 * and directories (`.npy`, Arrow; listed like `listEmbeddingFiles`).
 *
 * @example Usage
 * ```ts ignore
 * const input: KMeansInput = ["shards/"];
 * await kmeans(gpu, input, { k: 1000 });
 * ```
 */
export type KMeansInput = Matrix | GpuMatrix | RowSource | string[];

function isRowSource(x: unknown): x is RowSource {
  return x !== null && typeof x === "object" && Array.isArray((x as RowSource).slices);
}

/**
 * Clusters the rows of `x` into `k` centroids on the GPU (Lloyd's algorithm, faiss-like).
 *
 * Spherical by default (MLCD's choice): rows and centroids are L2-normalised and the
 * objective is the sum of cosine similarities. Each iteration runs a fused assignment
 * kernel (similarity GEMM + per-row argmax, never storing n × k) and a GPU update step
 * (atomic counts, deterministic fixed-point sums), with one small readback (counts and
 * objective) per iteration. Empty clusters are re-seeded by splitting the largest.
 *
 * Out of core: given files, directories or a {@linkcode RowSource}, the Lloyd iterations run
 * on a seeded sample of `k × maxPointsPerCentroid` rows gathered from the shards (all rows
 * when there are fewer), and the final assignment and objective stream every row in
 * batches, so memory holds the sample, one batch and the centroids, never all rows. The
 * result is the same as for the same rows given as a Matrix (cosine, or when no sample
 * is drawn).
 *
 * Rows may carry weights (a part centroid standing for its members): the update step takes
 * weighted means (deterministic 96-bit fixed-point sums; integer weights act exactly like
 * repeated rows) and the objective is weighted. With `checkpoint`, the state is written
 * atomically every few iterations, and `resume` continues from it with the same result as
 * an uninterrupted run.
 *
 * @param gpu The toolkit's GPU context from `createGpu`.
 * @param x Row-major data `n × d` (finite; no all-zero rows under cosine), on the host or
 * on the GPU (a {@linkcode GpuMatrix}: clustered where it is, the training sample gathered
 * on the GPU, only the few rows k-means++ starts from read back; it is used in place when
 * its stride is `d` rounded up to 4, its dtype matches `f16` and, under cosine, it is
 * normalised, and re-packed on the GPU otherwise; a checkpoint can then not fingerprint its
 * values), a {@linkcode RowSource}, or embedding files and directories.
 * @param options `k` (an integer in `[1, n]`) and the other {@linkcode KMeansOptions}.
 * @returns Centroids (`k × d`), assignments of all `n` rows, objective and stats.
 * @throws {TypeError} When `x` is not a well-formed Matrix, source or list of paths, the
 * weights' length or `init`'s shape do not match it, or `spherical` is given (use `metric`).
 * @throws {RangeError} For NaN/Inf values, zero rows (cosine; naming the file and row
 * for files), bad `k`, weights or options, or a checkpoint written for another run.
 *
 * @example Usage
 * ```ts ignore
 * import { createGpu } from "../gpu/gpu.ts";
 * import { kmeans } from "./kmeans.ts";
 * const gpu = await createGpu();
 * const x = { data: new Float32Array(1000 * 64).map(() => Math.random() - 0.5), rows: 1000, cols: 64 };
 * const { centroids, assignments, objective } = await kmeans(gpu, x, { k: 10 });
 * console.log(centroids.rows, assignments.length, objective);
 * // Out of core, weighted, restartable:
 * await kmeans(gpu, ["shards/"], { k: 1000, weights: "w.npy", checkpoint: { path: "km.ckpt" }, resume: true });
 * ```
 */
export async function kmeans(
  gpu: Gpu,
  x: KMeansInput,
  options: KMeansOptions,
): Promise<KMeansResult> {
  checkOptionsObject("kmeans", options);
  const spherical = isCosine("kmeans", options);
  let source: RowSource | undefined, matrix: Matrix | undefined, gx: GpuMatrix | undefined;
  let maxAbsGpu = 0;
  if (isGpuMatrix(x)) {
    gx = x;
    const stats = await checkGpuRows(gpu, gx, "x", spherical ? { nonZero: "cosine k-means" } : {});
    maxAbsGpu = stats.maxAbs;
  } else if (Array.isArray(x)) {
    const bad = x.find((p) => typeof p !== "string");
    if (bad !== undefined || x.length === 0) {
      const E = bad === undefined ? RangeError : TypeError; // an empty list is empty input
      throw new E(
        `Expected x to list embedding files or directories but found ${
          x.length === 0 ? "an empty list" : bad
        }`,
      );
    }
    source = await openRowSource(x, options.column === undefined ? {} : { column: options.column });
  } else if (isRowSource(x)) {
    source = x;
  } else {
    checkInput(x, "x", spherical);
    matrix = x;
  }
  const n = source ? source.rows : gx ? gx.rows : matrix!.rows;
  const d = source ? source.cols : gx ? gx.cols : matrix!.cols;
  const k = checkInt("k", options.k, 1, n);
  const niter = checkInt("niter", options.niter ?? 25, 0);
  const nredo = checkInt("nredo", options.nredo ?? 1, 1);
  const seed = checkInt("seed", options.seed ?? 1234, 0, 2 ** 32 - 1);
  const maxPpc = checkInt("maxPointsPerCentroid", options.maxPointsPerCentroid ?? 256, 1);
  const batchRows = checkInt("batchRows", options.batchRows ?? 65536, 1);
  const finalAssignment = options.finalAssignment ?? true;
  if (typeof finalAssignment !== "boolean") {
    throw new TypeError(`Expected finalAssignment to be a boolean but found ${finalAssignment}`);
  }
  if (!finalAssignment && options.onAssignments) {
    throw new RangeError(
      "Expected onAssignments without finalAssignment: false (no final assignment is computed)",
    );
  }
  const tolerance = options.tolerance ?? 0;
  if (typeof tolerance !== "number" || !(tolerance >= 0)) {
    throw new RangeError(`Expected tolerance to be a number ≥ 0 but found ${tolerance}`);
  }
  const init = options.init ?? "kmeans++";
  if (typeof init === "object" && init !== null) {
    checkMatrix(init, "init");
    checkFinite(init, "init");
    if (init.rows !== k || init.cols !== d) {
      throw new TypeError(
        `Expected init to be ${k} × ${d} centroids but found ${init.rows} × ${init.cols}`,
      );
    }
    if (spherical) checkInput(init, "init", true);
  } else if (init !== "kmeans++" && init !== "random") {
    throw new RangeError(
      `Expected init to be "kmeans++", "random" or a k × d Matrix but found ${
        JSON.stringify(init)
      }`,
    );
  }
  const f16 = options.f16 ?? false;
  const weights = options.weights === undefined ? undefined : await loadWeights(options.weights, n);
  const ck = options.checkpoint;
  if (ck !== undefined && (ck === null || typeof ck !== "object" || typeof ck.path !== "string")) {
    throw new TypeError(
      `Expected checkpoint to be { path: string, every?: number } but found ${ck}`,
    );
  }
  const every = ck ? checkInt("checkpoint.every", ck.every ?? 5, 1) : 0;
  if (options.resume && !ck) {
    throw new RangeError("Expected a checkpoint path to resume from but found none");
  }
  const onLog = options.onLog;
  const fingerprint: Fingerprint = !ck ? {} : {
    rows: n,
    cols: d,
    k,
    niter,
    nredo,
    seed,
    maxPointsPerCentroid: maxPpc,
    spherical,
    f16,
    tolerance,
    init: typeof init === "string" ? init : `matrix:${hashFloats(init.data)}`,
    weights: weights ? hashFloats(weights.w) : null,
    input: source
      ? source.slices.map((s) => `${s.file}[${s.rowStart},${s.rowEnd})`).join(";")
      : gx
      ? `gpu-matrix:${n}x${d}`
      : `matrix:${hashFloats(matrix!.data)}`,
  };
  let saved: KMeansCheckpoint | null = null;
  if (ck && options.resume) {
    saved = await readCheckpoint(ck.path);
    if (saved) {
      checkFingerprint(ck.path, saved.fingerprint, fingerprint);
      onLog?.(
        saved.redo >= nredo
          ? `Resuming from ${ck.path}: the iterations are done, final assignment left`
          : `Resuming from ${ck.path} at run ${
            saved.redo + 1
          }/${nredo}, iteration ${saved.iteration}`,
      );
    } else onLog?.(`No checkpoint at ${ck.path} yet: starting from the beginning`);
  }
  const dp = paddedWidth(d);
  const kc = weights ? weightedCentroidsPerChunk(gpu, dp) : centroidsPerChunk(gpu, dp, true);

  // Seeded subsample of the training rows, faiss-style.
  const rand = mulberry32(seed);
  let trainIndex: Uint32Array | undefined;
  if (n > k * maxPpc) {
    trainIndex = (matrix || gx ? sampleIndices : sampleIndicesSparse)(n, k * maxPpc, rand).sort();
  }
  // The rows the iterations train on: `trainX` row `rowOf(i)` is training row i, which is
  // data row `dataRow(i)`.
  let trainX: Matrix;
  let readStart = 0;
  let rowOf: (i: number) => number;
  if (matrix || gx) {
    // A GpuMatrix has no host copy: the rows initialisation needs are read back (fetchRows).
    trainX = matrix ?? { data: new Float32Array(0), rows: 0, cols: d };
    rowOf = (i) => (trainIndex ? trainIndex[i]! : i);
  } else {
    const src = source!;
    const want = trainIndex ?? Uint32Array.from({ length: n }, (_, i) => i);
    readStart = performance.now();
    trainX = await gatherRows(src, want);
    checkSourceRows(trainX, spherical, (r) => locateRow(src, want[r]!));
    rowOf = (i) => i;
  }
  if (trainIndex) {
    onLog?.(
      `Sampling a subset of ${
        k * maxPpc
      } / ${n} rows for training (maxPointsPerCentroid = ${maxPpc})`,
    );
  }
  if (source) {
    onLog?.(
      `Read ${trainX.rows} training rows from ${source.slices.length} file(s) in ${
        ((performance.now() - readStart) / 1000).toFixed(1)
      }s`,
    );
  }
  const variant = saved ? saved.kernel : await chooseAssignKernel(gpu, options.variant, d, f16, {
    autotune: options.autotune,
    onLog,
  });

  const nTrain = trainIndex ? trainIndex.length : n;
  const dataRow = (i: number) => (trainIndex ? trainIndex[i]! : i);

  // Fixed-point scale for the update sums: the largest |value| maps to ≤ 2^30.
  let maxAbs = spherical ? 1 : maxAbsGpu;
  if (!spherical) { for (const v of trainX.data) maxAbs = Math.max(maxAbs, Math.abs(v)); }
  const scale = 2 ** (30 - Math.max(0, Math.ceil(Math.log2(maxAbs || 1))));

  // The rows on the GPU in the kernels' layout: stride dp, f32 or packed f16, normalised
  // when spherical (a host Matrix uploaded once; a GpuMatrix used in place or re-packed).
  const layout = { stride: dp, dtype: f16 ? "f16" as const : "f32" as const, normalize: spherical };
  const fullLease: GpuMatrixLease | null = matrix || gx
    ? useGpuMatrix(gpu, (gx ?? matrix)!, { ...layout, label: "x" })
    : null;
  const full = fullLease ? fullLease.matrix : null;
  // The training sample of a matrix: an exact GPU gather of the rows already laid out.
  const train = full && !trainIndex ? full : full
    ? repackMatrix(gpu, full, {
      stride: dp,
      dtype: layout.dtype,
      index: trainIndex!,
      label: "x_train",
    })
    : uploadMatrix(gpu, trainX, { ...layout, label: "x_train" });
  /** Data rows as a host matrix (raw values), for the initialisation. */
  const fetchRows = async (rows: Uint32Array): Promise<Matrix> => {
    if (gx) {
      const part = repackMatrix(gpu, gx, { index: rows, label: "x_init", align: 1 });
      try {
        return await downloadMatrix(gpu, part);
      } finally {
        part.destroy();
      }
    }
    const out = new Float32Array(rows.length * d);
    rows.forEach((r, i) => out.set(trainX.data.subarray(r * d, (r + 1) * d), i * d));
    return { data: out, rows: rows.length, cols: d };
  };
  const fullOut = full ? createOutputs(gpu, full) : null;
  const trainOut = train === full ? fullOut! : createOutputs(gpu, train);
  const trainWeights = weights ? uploadWeights(gpu, train, weights, dataRow) : undefined;
  const partial = createStorage(gpu, 256 * 4, "objective_partials");
  const better = (a: number, b: number) => (spherical ? a > b : a < b);
  let best:
    | { result: KMeansResult | null; objective: number; stats: KMeansIterationStats[] }
    | null = saved?.best
      ? { result: null, objective: saved.best.objective, stats: saved.best.stats }
      : null;
  let bestState: CentroidState | null = saved?.best ? saved.best.state : null;
  const save = async (c: Omit<KMeansCheckpoint, "fingerprint" | "kernel" | "best">) => {
    await writeCheckpoint(ck!.path, {
      ...c,
      fingerprint,
      kernel: variant,
      best: best && bestState
        ? { redo: -1, objective: best.objective, stats: best.stats, state: bestState }
        : null,
    });
  };
  const final = async (
    cents: CentroidStore,
    stats: KMeansIterationStats[],
  ): Promise<KMeansResult> => {
    if (!finalAssignment) {
      // The caller assigns the rows itself (pseudoLabels' top-l search gives the top-1 too).
      const centroids = await readCentroids(gpu, cents, d);
      const objective = stats.at(-1)?.objective ?? NaN;
      const none = new Uint32Array(0);
      return { centroids, assignments: none, counts: none, objective, stats, kernel: variant };
    }
    // All rows on the GPU (a Matrix, or files with no sample drawn): assign them in place.
    const all = full ?? (trainIndex ? null : train);
    if (all) {
      const out = fullOut ?? trainOut;
      const r = await finalPass(gpu, variant, all, out, cents, spherical, d, stats, weights);
      await options.onAssignments?.(r.assignments, 0);
      if (options.keepAssignments === false) r.assignments = new Uint32Array(0);
      return r;
    }
    const t0 = performance.now();
    let last = t0;
    const { assignments, counts, objective } = await streamAssign(gpu, {
      kernel: variant,
      source: source!,
      cents,
      spherical,
      f16,
      batchRows,
      weight: weights ? (row) => weights.w[row]! : undefined,
      keep: options.keepAssignments ?? true,
      onAssignments: options.onAssignments,
      onBatch: (done, seconds) => {
        const now = performance.now();
        if (now - last < 2000 && done < n) return;
        last = now;
        const eta = (seconds / done) * (n - done);
        onLog?.(
          `Assigning: ${done} / ${n} rows (${(100 * done / n).toFixed(1)}%), ${
            Math.round(done / Math.max(seconds, 1e-9))
          } rows/s, ETA ${eta.toFixed(1)}s`,
        );
      },
    });
    const centroids = await readCentroids(gpu, cents, d);
    return { centroids, assignments, counts, objective, stats, kernel: variant };
  };
  try {
    for (let redo = saved ? saved.redo : 0; redo < nredo; redo++) {
      const here = saved && saved.redo === redo && saved.state.f32.length > 0 ? saved : null;
      let cents: CentroidStore;
      if (here) {
        cents = createCentroids(gpu, k, d, f16, kc);
        restoreCentroids(gpu, cents, here.state);
      } else {
        const redoRand = redo === 0 ? rand : mulberry32((seed + redo * 15486557) >>> 0);
        const init0 = typeof init === "object"
          ? paddedMatrix(init, spherical, dp)
          : k === n
          ? allRows(
            await fetchRows(Uint32Array.from({ length: nTrain }, (_, i) => rowOf(i))),
            spherical,
            dp,
          )
          : await initCentroids(
            fetchRows,
            rowOf,
            nTrain,
            k,
            dp,
            spherical,
            init,
            redoRand,
            weights ? (i) => weights.w[dataRow(i)]! : undefined,
          );
        cents = createCentroids(gpu, k, d, f16, kc, init0);
      }
      // The host copy of a gathered sample is not needed after the last initialisation
      // (the GPU holds the rows): let it go before the iterations.
      if (source && redo === nredo - 1) trainX = { data: new Float32Array(0), rows: 0, cols: d };
      try {
        const stats = k === n && typeof init === "string" ? [] : await lloyd(gpu, {
          variant,
          train,
          out: trainOut,
          weights: trainWeights,
          cents,
          partial,
          spherical,
          scale,
          niter,
          tolerance,
          onIteration: options.onIteration,
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
              every,
              save: async (iteration, pending, stats, done) => {
                await save({
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
        best!.result = await final(cents, best!.stats);
      } finally {
        cents.destroy();
      }
    }
  } finally {
    if (train !== full) train.destroy();
    if (trainOut !== fullOut) trainOut.destroy();
    fullLease?.release();
    fullOut?.destroy();
    trainWeights?.destroy();
    partial.destroy();
  }
  return best!.result!;
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

/** Reads the GPU centroid state (padded f32 rows and 0.5‖c‖²) for a checkpoint. */
async function readCentroidState(gpu: Gpu, cents: CentroidStore): Promise<CentroidState> {
  const parts = await readBack(gpu, [
    ...cents.chunks.map((c) => ({ buffer: c.f32, bytes: c.rows * cents.dp * 4 })),
    ...cents.chunks.map((c) => ({ buffer: c.cn, bytes: c.rows * 4 })),
  ]);
  const f32 = new Float32Array(cents.k * cents.dp), cn = new Float32Array(cents.k);
  const nc = cents.chunks.length;
  cents.chunks.forEach((c, i) => {
    f32.set(new Float32Array(parts[i]!), c.kBase * cents.dp);
    cn.set(new Float32Array(parts[nc + i]!), c.kBase);
  });
  return { f32, cn };
}

/** Writes a saved centroid state back exactly (no recomputed norms), then packs it. */
function restoreCentroids(gpu: Gpu, cents: CentroidStore, s: CentroidState): void {
  if (s.f32.length !== cents.k * cents.dp || s.cn.length !== cents.k) {
    throw new RangeError(
      `Expected a checkpoint state of ${cents.k} × ${cents.dp} centroids but found ${s.f32.length} values`,
    );
  }
  for (const c of cents.chunks) {
    gpu.device.queue.writeBuffer(
      c.f32,
      0,
      s.f32.slice(c.kBase * cents.dp, (c.kBase + c.rows) * cents.dp),
    );
    gpu.device.queue.writeBuffer(c.cn, 0, s.cn.slice(c.kBase, c.kBase + c.rows));
  }
  const enc = gpu.device.createCommandEncoder();
  packCentroids(gpu, cents, enc);
  submit(gpu, enc);
}

/** The centroids as a `k × d` matrix. */
async function readCentroids(gpu: Gpu, cents: CentroidStore, d: number): Promise<Matrix> {
  const parts = await readBack(
    gpu,
    cents.chunks.map((c) => ({ buffer: c.f32, bytes: c.rows * cents.dp * 4 })),
  );
  const data = new Float32Array(cents.k * d);
  cents.chunks.forEach((c, j) => {
    const v = new Float32Array(parts[j]!);
    for (let r = 0; r < c.rows; r++) {
      data.set(v.subarray(r * cents.dp, r * cents.dp + d), (c.kBase + r) * d);
    }
  });
  return { data, rows: cents.k, cols: d };
}

/** Given initial centroids, padded (and normalised when spherical). */
function paddedMatrix(m: Matrix, spherical: boolean, dp: number): Float32Array {
  const out = new Float32Array(m.rows * dp);
  for (let r = 0; r < m.rows; r++) {
    const v = rowF64(m, r, spherical);
    for (let c = 0; c < m.cols; c++) out[r * dp + c] = v[c]!;
  }
  return out;
}

interface LloydArgs {
  variant: AssignKernelChoice;
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

async function lloyd(gpu: Gpu, a: LloydArgs): Promise<KMeansIterationStats[]> {
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
      recordAssign(gpu, a.variant, train, cents, a.out, spherical, enc);
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
  full: GpuMatrix,
  out: AssignOutputs,
  cents: CentroidStore,
  spherical: boolean,
  d: number,
  stats: KMeansIterationStats[],
  weights: RowWeights | undefined,
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
  const counts = new Uint32Array(cents.k);
  let objective = 0;
  full.chunks.forEach((c, i) => {
    const idxs = new Uint32Array(parts[i]!);
    for (const a of idxs) counts[a]!++;
    assignments.set(idxs, c.rowStart);
    const scores = new Float32Array(parts[nc + i]!);
    if (weights) {
      scores.forEach((v, r) => objective += weights.w[c.rowStart + r]! * v);
    } else for (const v of scores) objective += v;
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
    counts,
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
async function initCentroids(
  fetchRows: (rows: Uint32Array) => Promise<Matrix>,
  rowOf: (i: number) => number,
  nTrain: number,
  k: number,
  dp: number,
  spherical: boolean,
  init: "kmeans++" | "random",
  rand: () => number,
  weightOf?: (i: number) => number,
): Promise<Float32Array> {
  const out = new Float32Array(k * dp);
  if (init === "random") {
    const pick = sampleIndices(nTrain, k, rand);
    const x = await fetchRows(pick.map(rowOf));
    const d = x.cols;
    for (let c = 0; c < k; c++) {
      const v = rowF64(x, c, spherical);
      for (let j = 0; j < d; j++) out[c * dp + j] = v[j]!;
    }
    return out;
  }
  const s = Math.min(nTrain, Math.max(4 * k, 1000));
  const sample = sampleIndices(nTrain, s, rand);
  const x = await fetchRows(sample.map(rowOf));
  const d = x.cols;
  const pts = new Float64Array(s * d);
  for (let i = 0; i < s; i++) pts.set(rowF64(x, i, spherical), i * d);
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
      if (!chosen[i]) total += weightOf ? weightOf(sample[i]!) * dist[i]! : dist[i]!;
    }
    let next = -1;
    if (total > 0) {
      let u = rand() * total;
      for (let i = 0; i < s; i++) {
        if (chosen[i]) continue;
        u -= weightOf ? weightOf(sample[i]!) * dist[i]! : dist[i]!;
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
