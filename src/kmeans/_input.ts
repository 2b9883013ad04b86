// Private: kmeans()'s input adaptation. What the caller gives (a Matrix, a GpuMatrix, a
// RowSource, embedding files) becomes one checked KMeansData, then one TrainingRows: the
// rows the iterations train on (all rows, or a seeded sample), on the GPU in the kernels'
// layout; all rows on the GPU when the input is resident there; fetch() for the host-side
// initialisation.
import type { Gpu } from "../gpu/gpu.ts";
import type { Matrix } from "../matrix/matrix.ts";
import { gatherRows, openRowSource, type RowSource } from "../data/row_source.ts";
import {
  checkGpuRows,
  downloadMatrix,
  type GpuMatrix,
  type GpuMatrixLease,
  isGpuMatrix,
  repackMatrix,
  uploadMatrixBatches,
  useGpuMatrix,
} from "../gpu/gpu_matrix.ts";
import { sampleIndices } from "../random/mulberry32.ts";
import { checkInput, rowChecks } from "./_validate.ts";
import { checkSourceRows, locateRow, sampleIndicesSparse } from "./_stream_assign.ts";
import { type ChunkWeights, type RowWeights, uploadWeights } from "./_weights.ts";
import { paddedWidth } from "./centroid_store.ts";
import { type AssignOutputs, createAssignOutputs } from "./assignment_step.ts";
import type { InitRows } from "./_init.ts";

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

/**
 * The checked input rows, `n × d`, in one of three forms: in memory, on the GPU (with the
 * largest absolute value, from the GPU row scan), or a source over files.
 */
export type KMeansData =
  | { kind: "matrix"; n: number; d: number; matrix: Matrix }
  | { kind: "gpu"; n: number; d: number; gx: GpuMatrix; maxAbs: number }
  | { kind: "source"; n: number; d: number; source: RowSource };

/** The smallest largest |value| of l2 rows: squared distances keep 24 bits above float32's least normal. */
const L2_MIN_SCALE = 2 ** -51;

function isRowSource(x: unknown): x is RowSource {
  return x !== null && typeof x === "object" && Array.isArray((x as RowSource).slices);
}

/**
 * Checks `x` (finite; no all-zero row under cosine: for files, when rows are read) and
 * opens files as a row source.
 */
export async function openInput(
  gpu: Gpu,
  x: KMeansInput,
  spherical: boolean,
  f16: boolean,
  column: string | undefined,
): Promise<KMeansData> {
  if (isGpuMatrix(x)) {
    // A GpuMatrix stored as f16 is read as it is: only an f32 one is converted to f16.
    const stats = await checkGpuRows(gpu, x, "x", rowChecks(spherical, f16 && x.dtype === "f32"));
    return { kind: "gpu", n: x.rows, d: x.cols, gx: x, maxAbs: stats.maxAbs };
  }
  if (Array.isArray(x)) {
    const bad = x.find((p) => typeof p !== "string");
    if (bad !== undefined || x.length === 0) {
      const E = bad === undefined ? RangeError : TypeError; // an empty list is empty input
      throw new E(
        `Expected x to list embedding files or directories but found ${
          x.length === 0 ? "an empty list" : bad
        }`,
      );
    }
    const source = await openRowSource(x, column === undefined ? {} : { column });
    return { kind: "source", n: source.rows, d: source.cols, source };
  }
  if (isRowSource(x)) return { kind: "source", n: x.rows, d: x.cols, source: x };
  checkInput(x, "x", spherical, f16);
  return { kind: "matrix", n: x.rows, d: x.cols, matrix: x };
}

/** The seeded training sample, before it goes to the GPU. */
export interface TrainingSample {
  /** Sorted data rows of the sample; undefined when every row trains. */
  index: Uint32Array | undefined;
  /** Host rows: the Matrix given, or none (a GpuMatrix; files, read while uploading). */
  host: Matrix;
}

/**
 * Draws the training sample faiss-style (`k × maxPointsPerCentroid` rows when there are
 * more) with `rand` (rows of files are read, and checked, as they go to the GPU).
 */
export function sampleTrainingRows(
  data: KMeansData,
  o: { k: number; maxPointsPerCentroid: number },
  rand: () => number,
  onLog: ((message: string) => void) | undefined,
): TrainingSample {
  const { n, d } = data;
  const m = o.k * o.maxPointsPerCentroid;
  let index: Uint32Array | undefined;
  if (n > m) {
    index = (data.kind !== "source" ? sampleIndices : sampleIndicesSparse)(n, m, rand).sort();
  }
  const host: Matrix = data.kind === "matrix"
    ? data.matrix
    : { data: new Float32Array(0), rows: 0, cols: d };
  if (index) {
    onLog?.(
      `Sampling a subset of ${m} / ${n} rows for training (maxPointsPerCentroid = ${o.maxPointsPerCentroid})`,
    );
  }
  return { index, host };
}

/** The training rows on the GPU, and what the stages need around them. */
export interface TrainingRows extends InitRows {
  /** Assignment outputs of `matrix`. */
  out: AssignOutputs;
  /**
   * Every input row on the GPU in the kernels' layout with its outputs, for the final pass:
   * the resident input (Matrix, GpuMatrix), or `matrix` when it holds all rows; null when
   * only a sample of files is on the GPU (the final pass streams the files).
   */
  everyRow: { matrix: GpuMatrix; out: AssignOutputs } | null;
  /** GPU weights of the training rows (integers for the update, floats for the objective). */
  gpuWeights: ChunkWeights | undefined;
  /** Fixed-point scale of the update sums: the largest |value| maps to ≤ 2^30. */
  scale: number;
  /** Frees what was allocated (a GpuMatrix given is not freed). */
  destroy(): void;
}

/**
 * Lays the training rows out on the GPU (stride `paddedWidth(d)`, f32 or packed f16,
 * normalised under cosine): a host Matrix is uploaded once, a GpuMatrix used in place or
 * re-packed, the sample of either gathered on the GPU; rows read from files are uploaded.
 */
export async function uploadTrainingRows(
  gpu: Gpu,
  data: KMeansData,
  sample: TrainingSample,
  o: { f16: boolean; spherical: boolean; weights: RowWeights | undefined },
  onLog?: (message: string) => void,
): Promise<TrainingRows> {
  const { n, d } = data;
  const { index, host } = sample;
  const { spherical, weights } = o;
  const dp = paddedWidth(d);
  const nTrain = index ? index.length : n;
  const dataRow = (i: number) => (index ? index[i]! : i);
  // Fixed-point scale for the update sums: the largest |value| maps to ≤ 2^30, at any scale
  // (l2 data in (0, 0.5) keeps its 30 bits; below 2^-51 squared distances underflow float32).
  let maxAbs = spherical ? 1 : data.kind === "gpu" ? data.maxAbs : 0;
  const scan = (m: Matrix) => {
    if (!spherical) { for (const v of m.data) maxAbs = Math.max(maxAbs, Math.abs(v)); }
  };
  scan(host);
  // The rows on the GPU in the kernels' layout: stride dp, f32 or packed f16, normalised
  // when spherical (a host Matrix uploaded once; a GpuMatrix used in place or re-packed).
  const layout = {
    stride: dp,
    dtype: o.f16 ? "f16" as const : "f32" as const,
    normalize: spherical,
  };
  const resident = data.kind === "matrix" ? data.matrix : data.kind === "gpu" ? data.gx : null;
  const fullLease: GpuMatrixLease | null = resident
    ? useGpuMatrix(gpu, resident, { ...layout, label: "x" })
    : null;
  const full = fullLease ? fullLease.matrix : null;
  // The training sample of a matrix: an exact GPU gather of the rows already laid out.
  const train = full && !index ? full : full
    ? repackMatrix(gpu, full, {
      stride: dp,
      dtype: layout.dtype,
      index: index!,
      label: "x_train",
    })
    : await uploadSourceRows(gpu, data, index, { ...layout, label: "x_train" }, scan, onLog);
  if (maxAbs > 0 && maxAbs < L2_MIN_SCALE) {
    if (train !== full) train.destroy();
    fullLease?.release();
    throw new RangeError(
      `Cannot use the rows for l2 k-means: their largest |value| is ${maxAbs}, below 2^-51 (${L2_MIN_SCALE}), where float32 squared distances underflow; scale the data up`,
    );
  }
  const scale = 2 ** (30 - Math.ceil(Math.log2(maxAbs || 1)));
  // Host rows for the initialisation, by data row: of a Matrix; of a GpuMatrix, read back;
  // of files, read again (only the rows asked for: the sample is not kept on the host).
  const fetchRows = async (rows: Uint32Array): Promise<Matrix> => {
    if (data.kind === "gpu") {
      const part = repackMatrix(gpu, data.gx, { index: rows, label: "x_init", align: 1 });
      try {
        return await downloadMatrix(gpu, part);
      } finally {
        part.destroy();
      }
    }
    if (data.kind === "source") return await readSourceRows(data.source, rows);
    const out = new Float32Array(rows.length * d);
    rows.forEach((r, i) => out.set(host.data.subarray(r * d, (r + 1) * d), i * d));
    return { data: out, rows: rows.length, cols: d };
  };
  const fullOut = full ? createAssignOutputs(gpu, full) : null;
  const trainOut = train === full ? fullOut! : createAssignOutputs(gpu, train);
  const gpuWeights = weights ? uploadWeights(gpu, train, weights, dataRow) : undefined;
  return {
    dataRows: n,
    rows: nTrain,
    cols: d,
    matrix: train,
    out: trainOut,
    everyRow: full
      ? { matrix: full, out: fullOut! }
      : index
      ? null
      : { matrix: train, out: trainOut },
    fetch: (rows) => fetchRows(rows.map(dataRow)),
    weight: weights ? (i) => weights.w[dataRow(i)]! : undefined,
    gpuWeights,
    scale,
    destroy() {
      if (train !== full) train.destroy();
      if (trainOut !== fullOut) trainOut.destroy();
      fullLease?.release();
      fullOut?.destroy();
      gpuWeights?.destroy();
    },
  };
}

/**
 * The sample rows of a source on the GPU, read batch by batch as they are uploaded (only one
 * staging block on the host at a time) and checked as they come, naming file and row.
 */
async function uploadSourceRows(
  gpu: Gpu,
  data: KMeansData,
  index: Uint32Array | undefined,
  layout: { stride: number; dtype: "f16" | "f32"; normalize: boolean; label: string },
  scan: (m: Matrix) => void,
  onLog: ((message: string) => void) | undefined,
): Promise<GpuMatrix> {
  if (data.kind !== "source") throw new Error("unreachable: only files are read here");
  const src = data.source;
  const want = index ?? Uint32Array.from({ length: data.n }, (_, i) => i);
  const t0 = performance.now();
  const g = await uploadMatrixBatches(gpu, want.length, data.d, async (start, count) => {
    const rows = want.subarray(start, start + count);
    const m = await gatherRows(src, rows);
    checkSourceRows(m, layout.normalize, layout.dtype === "f16", (r) => locateRow(src, rows[r]!));
    scan(m);
    return m;
  }, layout);
  onLog?.(
    `Read ${want.length} training rows from ${src.slices.length} file(s) in ${
      ((performance.now() - t0) / 1000).toFixed(1)
    }s`,
  );
  return g;
}

/** Data rows `rows` (any order, repeats allowed) of a source, read from its files. */
async function readSourceRows(src: RowSource, rows: Uint32Array): Promise<Matrix> {
  const order = Array.from(rows.keys()).sort((a, b) => rows[a]! - rows[b]!);
  const sorted = Uint32Array.from(order, (i) => rows[i]!);
  const got = await gatherRows(src, sorted);
  const d = src.cols, out = new Float32Array(rows.length * d);
  order.forEach((i, j) => out.set(got.data.subarray(j * d, (j + 1) * d), i * d));
  return { data: out, rows: rows.length, cols: d };
}
