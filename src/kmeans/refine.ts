/**
 * Refinement of given centers by Lloyd iterations over all rows, exact and order-independent,
 * so that it runs as distributed jobs with the result of one process. Each part of the rows
 * gives its per-center sums and counts for the current centers ({@linkcode partSums}: the
 * fixed-point sums of the k-means update, 64-bit integers Σ round(x · 2^30)); the parts' sums
 * are added exactly and the next centers computed as the update computes them
 * ({@linkcode reduceSums}); {@linkcode refineCentroids} does the passes in one process. One pass
 * from centers C gives exactly the centroids of one Lloyd iteration of `kmeans` started from C
 * on the same rows. It is what makes the merged centers of hierarchical k-means as good as
 * flat ones.
 *
 * @module
 */
import type { Gpu } from "../gpu/gpu.ts";
import type { Matrix } from "../matrix/matrix.ts";
import { partOf, type RowSource } from "../data/row_source.ts";
import { checkOptionsObject } from "../options/check_options_object.ts";
import { DEFAULT_KMEANS_OPTIONS, type KMeansMetric, type KMeansVariant } from "./kmeans_options.ts";
import { checkInput, checkInt, isCosine } from "./_validate.ts";
import { chooseKmeansKernel } from "./kernel_choice.ts";
import { exactAssignment } from "./_assign_programs.ts";
import { SumsTotal } from "./_refine_sums.ts";
import {
  finalizeCenters,
  maxAbsOf,
  paddedCenters,
  type RefineKernel,
  scanRows,
  sumsExponent,
} from "./_refine_gpu.ts";

/**
 * Options of a refinement step ({@linkcode partSums}, {@linkcode refineCentroids}): how rows
 * are scored against the centers, as in `kmeans`.
 *
 * @example Usage
 * ```ts
 * import type { RefineStepOptions } from "./refine.ts";
 * const options: RefineStepOptions = { metric: "cosine", batchRows: 65536 };
 * console.log(options.metric); // cosine
 * ```
 */
export interface RefineStepOptions {
  /** `"cosine"` (rows and centers L2-normalised) or `"l2"`. @default {"cosine"} */
  metric?: KMeansMetric;
  /** Store rows and centers as packed f16 (f32 accumulation), as `kmeans`. @default {false} */
  f16?: boolean;
  /** Assignment kernel, as `kmeans`. @default {"auto"} */
  variant?: KMeansVariant;
  /** Let `variant: "auto"` time its candidates, as `kmeans`. @default {true unless MLCD_AUTOTUNE=0} */
  autotune?: boolean;
  /** Rows per streamed batch (also bounded by the storage binding limit). @default {65536} */
  batchRows?: number;
  /** Informational messages (the kernel choice). @default {undefined} */
  onLog?: (message: string) => void;
  /** Called after every batch with the rows done and the rows of the part (awaited). @default {undefined} */
  onBatch?: (done: number, rows: number) => void | Promise<void>;
}

/**
 * One part's contribution to a refinement pass: for every center, the exact sum of its
 * members (each row L2-normalised under cosine, as stored on the GPU, times 2^`exponent` and
 * rounded to an integer) and their number; and the part's objective against the centers.
 *
 * @example Usage
 * ```ts ignore
 * const { sums, counts, exponent } = await partSums(gpu, part, centers);
 * const mean0 = Number(sums[0]) / 2 ** exponent / counts[0]; // column 0 of center 0's mean
 * ```
 */
export interface PartSums {
  /** `k × d` int64 sums, row-major: Σ round(x[j] · 2^exponent) over each center's members. */
  sums: BigInt64Array;
  /** Members of each center among the part's rows. */
  counts: Uint32Array;
  /** The fixed-point exponent: 30 under cosine; under l2 the largest |value| maps to ≤ 2^30. */
  exponent: number;
  /** Sum over the part's rows of the score against the nearest center (cosine or squared L2). */
  objective: number;
  /** The part's rows. */
  rows: number;
}

function checkCenters(centers: Matrix, d: number, spherical: boolean): void {
  checkInput(centers, "centers", spherical);
  if (centers.cols !== d) {
    throw new TypeError(
      `Expected centers to have ${d} columns like the rows but found ${centers.cols}`,
    );
  }
  if (centers.rows < 1) throw new RangeError("Expected at least 1 center but found 0");
}

/** Validates rows and options; resolves the kernel and the assignment step. */
async function refineKernel(
  gpu: Gpu,
  fn: string,
  rows: Matrix | RowSource,
  centers: Matrix,
  options: RefineStepOptions,
): Promise<RefineKernel> {
  checkOptionsObject(fn, options);
  const spherical = isCosine(fn, options);
  if ("data" in rows) checkInput(rows, "x", spherical);
  checkCenters(centers, rows.cols, spherical);
  const f16 = options.f16 ?? DEFAULT_KMEANS_OPTIONS.f16;
  const batchRows = checkInt("batchRows", options.batchRows ?? DEFAULT_KMEANS_OPTIONS.batchRows, 1);
  const kernel = await chooseKmeansKernel(gpu, options.variant, rows.cols, f16, {
    ...(options.autotune === undefined ? {} : { autotune: options.autotune }),
    ...(options.onLog ? { onLog: options.onLog } : {}),
  });
  // The assignment seam (assignment_step.ts): an approximate step plugs in here.
  return { spherical, f16, step: exactAssignment(kernel, spherical), batchRows };
}

async function exponentOf(rows: Matrix | RowSource, kern: RefineKernel): Promise<number> {
  return kern.spherical ? sumsExponent(1) : sumsExponent(await maxAbsOf(rows, kern.batchRows));
}

/**
 * One part's sums and counts for the current centers (a refinement pass's map step): every row
 * assigned to its nearest center, its values added in 64-bit fixed point to that center's sums
 * on the GPU (the k-means update's accumulate pass). Rows are streamed in batches; under l2
 * they are read twice (first for the largest |value|, which sets the exponent).
 *
 * @param gpu The GPU context.
 * @param rows The part's rows: a Matrix, or a row source such as `partOf(source, { index, count })`.
 * @param centers The current `k × d` centers (normalised under cosine as `kmeans` normalises a
 * given `init`).
 * @param options {@linkcode RefineStepOptions}.
 * @returns The part's sums, counts, exponent, objective and rows.
 * @throws {TypeError} When the widths differ or an input is malformed.
 * @throws {RangeError} For NaN/Inf values, zero rows under cosine, no centers or bad options.
 *
 * @example Usage
 * ```ts ignore
 * const source = await openRowSource(["embeddings/"]);
 * const part = partOf(source, { index: 0, count: 8 });
 * const { sums, counts, objective } = await partSums(gpu, part, centers);
 * ```
 */
export async function partSums(
  gpu: Gpu,
  rows: Matrix | RowSource,
  centers: Matrix,
  options: RefineStepOptions = {},
): Promise<PartSums> {
  const kern = await refineKernel(gpu, "partSums", rows, centers, options);
  const exponent = await exponentOf(rows, kern);
  const padded = { padded: paddedCenters(centers, kern.spherical), k: centers.rows, d: rows.cols };
  const r = await scanRows(gpu, rows, padded, kern, exponent, options.onBatch);
  return { sums: r.sums!, counts: r.counts, exponent, objective: r.objective, rows: r.rows };
}

/**
 * Options of {@linkcode reduceSums}.
 *
 * @example Usage
 * ```ts
 * import type { ReduceSumsOptions } from "./refine.ts";
 * const options: ReduceSumsOptions = { metric: "cosine" };
 * console.log(options.metric); // cosine
 * ```
 */
export interface ReduceSumsOptions {
  /** The metric the parts were made with. @default {"cosine"} */
  metric?: KMeansMetric;
}

/**
 * The next centers of a refinement pass ({@linkcode reduceSums}).
 *
 * @example Usage
 * ```ts ignore
 * const { centroids, objective, nsplit } = await reduceSums(gpu, centers, parts);
 * ```
 */
export interface ReducedCenters {
  /** The next `k × d` centers (unit rows under cosine). */
  centroids: Matrix;
  /** Members of each center over all rows, for the centers the sums were made for. */
  counts: Uint32Array;
  /** The objective over all rows of the centers the sums were made for (the parts' sum). */
  objective: number;
  /** All rows (the parts' sum). */
  rows: number;
  /** Empty centers re-seeded by splitting the largest (faiss's rule, as `kmeans`). */
  nsplit: number;
}

/**
 * Adds the parts' sums exactly (integer addition: any order or grouping of the parts gives the
 * same total) and computes the next centers as the k-means update does: each center with
 * members becomes its members' mean (sums / (2^exponent · count)), normalised under cosine;
 * an empty center is re-seeded by splitting the largest, deterministically as in `kmeans`.
 * Parts summed at different exponents (l2) are added exactly at the finest and rounded once.
 *
 * @param gpu The GPU context (the finalize runs the update's own kernel, bit for bit).
 * @param centers The `k × d` centers the sums were made for.
 * @param parts Every part's sums, in part order (an async iterable lets the caller read one
 * part at a time).
 * @param options {@linkcode ReduceSumsOptions}.
 * @returns The next centers, counts, objective, rows and splits.
 * @throws {RangeError} For no parts, a part of another shape, counts that do not add up to
 * its rows, or more than 2^33 − 1 rows (the 64-bit sums' range).
 *
 * @example Usage
 * ```ts ignore
 * const parts = [];
 * for (let i = 0; i < 4; i++) parts.push(await partSums(gpu, partOf(source, { index: i, count: 4 }), centers));
 * const { centroids } = await reduceSums(gpu, centers, parts);
 * ```
 */
export async function reduceSums(
  gpu: Gpu,
  centers: Matrix,
  parts: Iterable<PartSums> | AsyncIterable<PartSums>,
  options: ReduceSumsOptions = {},
): Promise<ReducedCenters> {
  checkOptionsObject("reduceSums", options);
  const spherical = isCosine("reduceSums", options);
  checkCenters(centers, centers.cols, spherical);
  const k = centers.rows, d = centers.cols;
  const total = new SumsTotal(k, d);
  let i = 0;
  for await (const p of parts) total.add(p, `part ${i++}`);
  const sum = total.result();
  const padded = { padded: paddedCenters(centers, spherical), k, d };
  const { centroids, nsplit } = await finalizeCenters(gpu, padded, sum, spherical);
  return { centroids, counts: sum.counts, objective: total.objective, rows: total.rows, nsplit };
}

/**
 * Statistics of one refinement pass.
 *
 * @example Usage
 * ```ts ignore
 * await refineCentroids(gpu, source, centers, { passes: 2, onPass: (s) => console.log(s.pass, s.objective) });
 * ```
 */
export interface RefinePassStats {
  /** The pass, from 1. */
  pass: number;
  /** The objective over all rows of the centers the pass started from. */
  objective: number;
  /** Empty centers re-seeded in this pass. */
  nsplit: number;
  /** Seconds of the pass. */
  seconds: number;
}

/**
 * Options of {@linkcode refineCentroids}.
 *
 * @example Usage
 * ```ts
 * import type { RefineCentroidsOptions } from "./refine.ts";
 * const options: RefineCentroidsOptions = { passes: 2, parts: 8 };
 * console.log(options.passes); // 2
 * ```
 */
export interface RefineCentroidsOptions extends RefineStepOptions {
  /** Lloyd passes over all rows (0: only score the centers). */
  passes: number;
  /**
   * Parts the rows are summed in, as the jobs split them (`partOf`). Under cosine the centers
   * do not depend on it; under l2 each part sums at the exponent of its own largest |value|.
   * @default {1}
   */
  parts?: number;
  /** Called after every pass. @default {undefined} */
  onPass?: (stats: RefinePassStats) => void;
}

/**
 * Result of {@linkcode refineCentroids}.
 *
 * @example Usage
 * ```ts ignore
 * const { centroids, objective, counts, passes } = await refineCentroids(gpu, x, centers, { passes: 2 });
 * ```
 */
export interface RefineResult {
  /** The refined `k × d` centers (the given ones, untouched, with `passes: 0`). */
  centroids: Matrix;
  /** The objective over all rows of `centroids` (one more scoring pass). */
  objective: number;
  /** Members of each of `centroids` over all rows. */
  counts: Uint32Array;
  /** Each pass's statistics. */
  passes: RefinePassStats[];
}

/** Part `index` of `count` of the rows, split as `partOf` splits a source. */
function rowPart(rows: Matrix | RowSource, index: number, count: number): Matrix | RowSource {
  if (!("data" in rows)) return partOf(rows, { index, count });
  const n = rows.rows, d = rows.cols;
  const start = Math.floor((index * n) / count), end = Math.floor(((index + 1) * n) / count);
  return { data: rows.data.subarray(start * d, end * d), rows: end - start, cols: d };
}

/**
 * Lloyd iterations over all rows from given centers, in one process: each pass is
 * {@linkcode partSums} of every part, then {@linkcode reduceSums}, so the centers equal those
 * of the `cluster --refine` / `--reduce` jobs over the same parts, byte for byte. A final
 * scoring pass gives the objective of the returned centers over all rows.
 *
 * @param gpu The GPU context.
 * @param rows All rows: a Matrix, or a row source over embedding files (streamed).
 * @param centers The `k × d` starting centers, e.g. merged ones.
 * @param options `passes`, `parts` and {@linkcode RefineStepOptions}.
 * @returns The refined centers, their objective and counts, and each pass's statistics.
 * @throws {TypeError} When the widths differ or an input is malformed.
 * @throws {RangeError} For NaN/Inf values, zero rows under cosine, or bad options.
 *
 * @example Usage
 * ```ts ignore
 * import { createGpu, hierarchicalKmeans, openRowSource, refineCentroids } from "../../mod.ts";
 * const gpu = await createGpu();
 * const source = await openRowSource(["embeddings/"]);
 * const merged = await hierarchicalKmeans(gpu, source, { parts: 8, k1: 1000, k: 1000 });
 * const { centroids, objective } = await refineCentroids(gpu, source, merged.centroids, { passes: 2 });
 * ```
 */
export async function refineCentroids(
  gpu: Gpu,
  rows: Matrix | RowSource,
  centers: Matrix,
  options: RefineCentroidsOptions,
): Promise<RefineResult> {
  checkOptionsObject("refineCentroids", options, "{ passes: 2 }");
  const { passes: count, parts: partCount = 1, onPass, ...step } = options;
  checkInt("passes", count, 0);
  checkInt("parts", partCount, 1);
  const kern = await refineKernel(gpu, "refineCentroids", rows, centers, step);
  const k = centers.rows, d = rows.cols;
  const parts = Array.from({ length: partCount }, (_, i) => rowPart(rows, i, partCount));
  const exponents: number[] = [];
  for (const part of parts) exponents.push(await exponentOf(part, kern));
  const passes: RefinePassStats[] = [];
  let current = centers;
  for (let pass = 1; pass <= count; pass++) {
    const t0 = performance.now();
    const padded = { padded: paddedCenters(current, kern.spherical), k, d };
    const total = new SumsTotal(k, d);
    for (const [i, part] of parts.entries()) {
      const r = await scanRows(gpu, part, padded, kern, exponents[i]!, step.onBatch);
      total.add({ ...r, sums: r.sums!, exponent: exponents[i]! }, `part ${i}`);
    }
    const next = await finalizeCenters(gpu, padded, total.result(), kern.spherical);
    const stats = {
      pass,
      objective: total.objective,
      nsplit: next.nsplit,
      seconds: (performance.now() - t0) / 1000,
    };
    passes.push(stats);
    onPass?.(stats);
    current = next.centroids;
  }
  const padded = { padded: paddedCenters(current, kern.spherical), k, d };
  const counts = new Uint32Array(k);
  let objective = 0;
  for (const part of parts) {
    const r = await scanRows(gpu, part, padded, kern, null, step.onBatch);
    objective += r.objective;
    r.counts.forEach((c, i) => counts[i]! += c);
  }
  return { centroids: current, objective, counts, passes };
}
