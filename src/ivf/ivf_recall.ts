import type { Gpu } from "../gpu/gpu.ts";
import { checkMatrix, type Matrix } from "../matrix/matrix.ts";
import { mulberry32, sampleIndices } from "../random/mulberry32.ts";
import { topk } from "../topk/mod.ts";

/**
 * Options of {@linkcode measureAssignmentRecall} and {@linkcode measureTopkRecall}.
 *
 * @example Usage
 * ```ts ignore
 * const options: RecallCheckOptions = { metric: "cosine", sample: 2000, seed: 7 };
 * ```
 */
export interface RecallCheckOptions {
  /** The metric the approximate result used. @default {"cosine"} */
  metric?: "cosine" | "l2" | "ip";
  /** Rows checked (a seeded sample; all rows when fewer). @default {1000} */
  sample?: number;
  /** Seed of the sample. @default {1234} */
  seed?: number;
}

/**
 * How an approximate assignment compares with the exact one on a sample of rows.
 * Objectives are recomputed in float64 from the indices (never from the reported scores).
 *
 * @example Usage
 * ```ts ignore
 * const r = await measureAssignmentRecall(gpu, x, centers, found);
 * console.log(r.recall, r.objectiveLoss, r.inconsistent);
 * ```
 */
export interface AssignmentRecall {
  /** Rows checked. */
  rows: number;
  /** Fraction of them given their exact nearest center (a tie counts as found). */
  recall: number;
  /** 1 − recall: the fraction the probe missed. */
  missed: number;
  /**
   * Relative loss of the objective over the sample: for cosine / ip (sum of similarities)
   * (exact − found) / |exact|; for l2 (sum of squared distances) (found − exact) / exact.
   */
  objectiveLoss: number;
  /**
   * Distortion ratio: Σ(1 − cos) found / Σ(1 − cos) exact for cosine (faiss's distortion),
   * inertia found / inertia exact for l2, and for ip the similarity ratio exact / found.
   */
  distortionRatio: number;
  /** Largest |reported score − recomputed score of the reported center|. */
  scoreMismatch: number;
  /** Rows whose reported center is out of range or whose reported score is off by > 1e-3. */
  inconsistent: number;
}

/**
 * Checks an approximate nearest-center assignment (e.g. from {@linkcode ivfAssign}) against
 * the exact one (the fused exact top-1 through `topk`; for l2, the inner product of rows
 * `[x, 1]` with centers `[c, −½‖c‖²]`) on a seeded sample of rows:
 * the fraction missed, the objective lost, and whether each reported score is the true
 * score of the reported center (a broken index shows there).
 *
 * @param gpu The GPU context.
 * @param x All `n × d` rows (host).
 * @param centers `K × d` centers (host), the ones the assignment indexes.
 * @param found The assignment to check: `assignments` and `scores` per row of `x`.
 * @param options Metric, sample size and seed ({@linkcode RecallCheckOptions}).
 * @returns The measures ({@linkcode AssignmentRecall}).
 * @throws {TypeError} When the shapes disagree.
 *
 * @example Usage
 * ```ts ignore
 * const found = await ivfAssign(gpu, x, index, { nprobe: 8 });
 * const { recall, objectiveLoss } = await measureAssignmentRecall(gpu, x, centers, found);
 * ```
 */
export async function measureAssignmentRecall(
  gpu: Gpu,
  x: Matrix,
  centers: Matrix,
  found: { assignments: Uint32Array; scores: Float32Array },
  options: RecallCheckOptions = {},
): Promise<AssignmentRecall> {
  const metric = options.metric ?? "cosine";
  const { rows, sample } = sampleOf(x, centers, found.assignments.length, options);
  const exact = await exactNearest(gpu, sample, centers, metric);
  const score = scorer(x, centers, metric);
  let hit = 0, objExact = 0, objFound = 0, distExact = 0, distFound = 0, mismatch = 0, bad = 0;
  rows.forEach((r, i) => {
    const e = exact[i]!, f = found.assignments[r]!;
    const se = score(r, e);
    const sf = f < centers.rows ? score(r, f) : metric === "l2" ? Infinity : -Infinity;
    const better = metric === "l2" ? sf <= se : sf >= se;
    if (f === e || (better && Number.isFinite(sf))) hit++;
    objExact += se;
    objFound += sf;
    distExact += metric === "cosine" ? 1 - se : se;
    distFound += metric === "cosine" ? 1 - sf : sf;
    const off = Math.abs(found.scores[r]! - sf);
    if (!(off <= 1e-3 * Math.max(1, Math.abs(sf)))) bad++;
    if (Number.isFinite(off)) mismatch = Math.max(mismatch, off);
    else mismatch = Infinity;
  });
  const n = rows.length;
  return {
    rows: n,
    recall: n ? hit / n : 1,
    missed: n ? 1 - hit / n : 0,
    objectiveLoss: metric === "l2"
      ? (objFound - objExact) / objExact
      : (objExact - objFound) / Math.abs(objExact),
    distortionRatio: metric === "ip" ? objExact / objFound : distFound / distExact,
    scoreMismatch: mismatch,
    inconsistent: bad,
  };
}

/**
 * Top-k recall of an approximate result against exact top-k on a sample of rows.
 *
 * @example Usage
 * ```ts ignore
 * const { recall } = await measureTopkRecall(gpu, queries, centers, found, { k: 8 });
 * ```
 */
export interface TopkRecall {
  /** Rows checked. */
  rows: number;
  /** Mean over rows of |found ∩ exact| / k (recall@k). */
  recall: number;
  /** Largest |reported score − recomputed score of the reported center|. */
  scoreMismatch: number;
  /** Rows with an index out of range, a repeated index or a score off by > 1e-3. */
  inconsistent: number;
}

/**
 * Checks approximate top-k lists (e.g. from {@linkcode ivfTopk}) against exact top-k (the
 * fused exact kernel through `topk`) on a seeded sample of rows: recall@k, and whether the
 * reported scores are the true scores of the reported centers.
 *
 * @param gpu The GPU context.
 * @param queries All `n × d` query rows (host).
 * @param centers `K × d` centers (host).
 * @param found `n × k` `indices` and `scores`, row-major.
 * @param options `k` plus metric ("cosine" or "ip"), sample size and seed.
 * @returns The measures ({@linkcode TopkRecall}).
 * @throws {TypeError} When the shapes disagree.
 *
 * @example Usage
 * ```ts ignore
 * const found = await ivfTopk(gpu, queries, index, { k: 8 });
 * const { recall } = await measureTopkRecall(gpu, queries, centers, found, { k: 8 });
 * ```
 */
export async function measureTopkRecall(
  gpu: Gpu,
  queries: Matrix,
  centers: Matrix,
  found: { indices: Uint32Array; scores: Float32Array },
  options: RecallCheckOptions & { k: number },
): Promise<TopkRecall> {
  const { k } = options;
  const metric = options.metric === "ip" ? "ip" : "cosine";
  if (!Number.isInteger(k) || k < 1 || found.indices.length !== queries.rows * k) {
    throw new TypeError(
      `Expected ${queries.rows} × k = ${k} found indices but found ${found.indices.length}`,
    );
  }
  const { rows, sample } = sampleOf(queries, centers, queries.rows, options);
  const exact = await topk(gpu, sample, centers, { k, metric, autotune: false });
  const score = scorer(queries, centers, metric);
  let hits = 0, mismatch = 0, bad = 0;
  rows.forEach((r, i) => {
    const want = new Set(exact.indices.subarray(i * k, (i + 1) * k));
    const seen = new Set<number>();
    let ok = true;
    for (let t = 0; t < k; t++) {
      const f = found.indices[r * k + t]!;
      if (f >= centers.rows || seen.has(f)) {
        ok = false;
        continue;
      }
      seen.add(f);
      if (want.has(f)) hits++;
      const off = Math.abs(found.scores[r * k + t]! - score(r, f));
      mismatch = Math.max(mismatch, off);
      if (!(off <= 1e-3)) ok = false;
    }
    if (!ok) bad++;
  });
  return {
    rows: rows.length,
    recall: rows.length ? hits / (rows.length * k) : 1,
    scoreMismatch: mismatch,
    inconsistent: bad,
  };
}

/**
 * The exact nearest center of each row of `x` by the exact top-1 kernel (k-means is not
 * imported: it uses this folder): cosine and ip as they are, l2 as the largest
 * x·c − ½‖c‖², the inner product of `[x, 1]` with `[c, −½‖c‖²]`.
 */
async function exactNearest(
  gpu: Gpu,
  x: Matrix,
  centers: Matrix,
  metric: "cosine" | "l2" | "ip",
): Promise<Uint32Array> {
  if (metric !== "l2") {
    return (await topk(gpu, x, centers, { k: 1, metric, autotune: false })).indices;
  }
  const d = x.cols, w = d + 1;
  const q = new Float32Array(x.rows * w), c = new Float32Array(centers.rows * w);
  for (let i = 0; i < x.rows; i++) {
    q.set(x.data.subarray(i * d, (i + 1) * d), i * w);
    q[i * w + d] = 1;
  }
  for (let j = 0; j < centers.rows; j++) {
    let s = 0;
    for (let t = 0; t < d; t++) s += centers.data[j * d + t]! ** 2;
    c.set(centers.data.subarray(j * d, (j + 1) * d), j * w);
    c[j * w + d] = -0.5 * s;
  }
  const r = await topk(gpu, { data: q, rows: x.rows, cols: w }, {
    data: c,
    rows: centers.rows,
    cols: w,
  }, {
    k: 1,
    metric: "ip",
    autotune: false,
  });
  return r.indices;
}

/** The seeded sample of rows (ascending) and the sampled rows as a Matrix. */
function sampleOf(
  x: Matrix,
  centers: Matrix,
  found: number,
  options: RecallCheckOptions,
): { rows: Uint32Array; sample: Matrix } {
  checkMatrix(x, "x");
  checkMatrix(centers, "centers");
  if (centers.cols !== x.cols) {
    throw new TypeError(`Expected centers to have ${x.cols} columns but found ${centers.cols}`);
  }
  if (found !== x.rows) {
    throw new TypeError(`Expected a result for each of the ${x.rows} rows but found ${found}`);
  }
  const m = Math.min(x.rows, options.sample ?? 1000);
  const rows = sampleIndices(x.rows, m, mulberry32(options.seed ?? 1234)).sort();
  const d = x.cols;
  const data = new Float32Array(m * d);
  rows.forEach((r, i) => data.set(x.data.subarray(r * d, (r + 1) * d), i * d));
  return { rows, sample: { data, rows: m, cols: d } };
}

/** float64 score of row r against center c: cosine, squared L2 distance or dot. */
function scorer(x: Matrix, c: Matrix, metric: string): (r: number, j: number) => number {
  const d = x.cols;
  const norm = (m: Matrix, i: number) => {
    let s = 0;
    for (let t = 0; t < d; t++) s += m.data[i * d + t]! ** 2;
    return Math.sqrt(s);
  };
  return (r, j) => {
    let s = 0;
    for (let t = 0; t < d; t++) {
      const a = x.data[r * d + t]!, b = c.data[j * d + t]!;
      s += metric === "l2" ? (a - b) ** 2 : a * b;
    }
    return metric === "cosine" ? s / (norm(x, r) * norm(c, j)) : s;
  };
}
