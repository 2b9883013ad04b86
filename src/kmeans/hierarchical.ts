/**
 * Hierarchical k-means, MLCD's way of clustering more rows than one k-means can hold: the rows
 * are split into parts, each part is clustered into `k1` centroids ({@linkcode clusterPart}),
 * and the parts' centroids are clustered into `k` centers, each weighted by the rows it stands
 * for ({@linkcode mergeCentroids}). {@linkcode hierarchicalKmeans} does both in one process,
 * then optionally refines the merged centers over all rows (`refineCentroids`); the
 * `cluster --shard`/`--merge`/`--refine`/`--reduce` jobs run the same steps as separate tasks
 * and get the same centers.
 *
 * @module
 */
import type { Gpu } from "../gpu/gpu.ts";
import type { Matrix } from "../matrix/matrix.ts";
import { partOf, type RowSource } from "../data/row_source.ts";
import { kmeans } from "./kmeans.ts";
import type { KMeansAssignment, KMeansIterationStats, KMeansOptions } from "./kmeans_options.ts";
import { refineCentroids, type RefinePassStats, type RefineStepOptions } from "./refine.ts";

/**
 * The k-means options that the parts and the merge share (see {@linkcode KMeansOptions}).
 *
 * @example Usage
 * ```ts
 * import type { StageKMeansOptions } from "./hierarchical.ts";
 * const shared: StageKMeansOptions = { niter: 25, seed: 1234, metric: "cosine" };
 * console.log(shared.niter); // 25
 * ```
 */
export type StageKMeansOptions = Pick<
  KMeansOptions,
  | "niter"
  | "nredo"
  | "metric"
  | "seed"
  | "init"
  | "maxPointsPerCentroid"
  | "tolerance"
  | "f16"
  | "variant"
  | "assign"
  | "nprobe"
  | "autotune"
  | "batchRows"
  | "onIteration"
  | "onLog"
  | "checkpoint"
  | "resume"
>;

/**
 * The centroids of one part and the number of its rows each stands for.
 *
 * @example Usage
 * ```ts ignore
 * const { centroids, counts } = await clusterPart(gpu, part, { k1: 1000 });
 * ```
 */
export interface PartCentroids {
  /** `min(k1, rows) × d` centroids (`0 × d` for a part without rows). */
  centroids: Matrix;
  /** Member count of each centroid over all the part's rows (`KMeansResult.counts`). */
  counts: Uint32Array;
  /** The part's k-means objective (0 without rows). */
  objective: number;
  /** The assignment step the part's k-means used; null for a part without rows. */
  assignment: KMeansAssignment | null;
}

/**
 * Options of {@linkcode clusterPart}.
 *
 * @example Usage
 * ```ts
 * import type { ClusterPartOptions } from "./hierarchical.ts";
 * const options: ClusterPartOptions = { k1: 1000, niter: 25 };
 * console.log(options.k1); // 1000
 * ```
 */
export interface ClusterPartOptions extends StageKMeansOptions {
  /** Centroids per part; a part with fewer rows keeps each row as a centroid. */
  k1: number;
}

/** Drops the keys whose value is undefined (the options objects are exact). */
function defined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

/**
 * Clusters the rows of one part into `min(k1, rows)` centroids and gives each its member
 * count (the weight it carries into {@linkcode mergeCentroids}). A part without rows gives no
 * centroids; one with fewer rows than `k1` keeps each row as a centroid (both said through
 * `onLog`). No per-row assignments are kept.
 *
 * @param gpu The GPU context.
 * @param part The part's rows, e.g. `partOf(await openRowSource(files), { index, count })`.
 * @param options `k1` and the k-means options (see {@linkcode StageKMeansOptions}).
 * @returns The part's centroids, counts and objective.
 *
 * @example Usage
 * ```ts ignore
 * const source = await openRowSource(["embeddings/"]);
 * const part = partOf(source, { index: 0, count: 4 });
 * const { centroids, counts } = await clusterPart(gpu, part, { k1: 1000 });
 * ```
 */
export async function clusterPart(
  gpu: Gpu,
  part: RowSource,
  options: ClusterPartOptions,
): Promise<PartCentroids> {
  const { k1, ...rest } = options;
  if (part.rows === 0) {
    options.onLog?.("no rows, writing 0 centroids");
    return {
      centroids: { data: new Float32Array(0), rows: 0, cols: part.cols },
      counts: new Uint32Array(0),
      objective: 0,
      assignment: null,
    };
  }
  const k = Math.min(k1, part.rows);
  if (k < k1) options.onLog?.(`${part.rows} rows < k = ${k1}, keeping each row as a centroid`);
  const r = await kmeans(gpu, part, { ...defined(rest), k, keepAssignments: false });
  return {
    centroids: r.centroids,
    counts: r.counts,
    objective: r.objective,
    assignment: r.assignment,
  };
}

/**
 * How many part centroids have members (the points {@linkcode mergeCentroids} clusters) and
 * how many rows they stand for.
 *
 * @param parts The parts' member counts.
 * @returns `points` and `members`.
 *
 * @example Usage
 * ```ts
 * import { countMergePoints } from "./hierarchical.ts";
 * const parts = [{ counts: new Uint32Array([3, 0, 2]) }, { counts: new Uint32Array([5]) }];
 * console.log(countMergePoints(parts)); // { points: 3, members: 10 }
 * ```
 */
export function countMergePoints(
  parts: readonly { counts: Uint32Array }[],
): { points: number; members: number } {
  let points = 0, members = 0;
  for (const part of parts) for (const c of part.counts) if (c > 0) points++, members += c;
  return { points, members };
}

/**
 * Options of {@linkcode mergeCentroids}.
 *
 * @example Usage
 * ```ts
 * import type { MergeCentroidsOptions } from "./hierarchical.ts";
 * const options: MergeCentroidsOptions = { k: 1000, metric: "cosine" };
 * console.log(options.k); // 1000
 * ```
 */
export interface MergeCentroidsOptions extends StageKMeansOptions {
  /** Final centers, at most the number of part centroids with members. */
  k: number;
}

/**
 * Result of {@linkcode mergeCentroids} and {@linkcode hierarchicalKmeans}.
 *
 * @example Usage
 * ```ts ignore
 * const { centroids, objective, points, members } = await mergeCentroids(gpu, parts, { k });
 * ```
 */
export interface MergeResult {
  /** The `k × d` centers. */
  centroids: Matrix;
  /** The weighted k-means objective over the part centroids. */
  objective: number;
  /** Part centroids with members, the points clustered. */
  points: number;
  /** Rows they stand for (the sum of the weights). */
  members: number;
  /** The assignment step the merge's k-means used. */
  assignment: KMeansAssignment;
  /** Rows each center stands for: the counts of the part centroids assigned to it. */
  sizes: Float64Array;
}

/**
 * Weighted k-means of the parts' centroids (weight = member count) into `k` centers.
 * Centroids without members are left out; the points keep the parts' order, so the jobs and
 * {@linkcode hierarchicalKmeans} give the same centers.
 *
 * @param gpu The GPU context.
 * @param parts Every part's centroids and counts, in part order.
 * @param options `k` and the k-means options (see {@linkcode StageKMeansOptions}).
 * @returns The centers, objective and sizes.
 * @throws {RangeError} When `k` exceeds the part centroids with members, or the parts'
 * widths differ.
 *
 * @example Usage
 * ```ts ignore
 * const parts = [await clusterPart(gpu, p0, { k1 }), await clusterPart(gpu, p1, { k1 })];
 * const { centroids } = await mergeCentroids(gpu, parts, { k: 1000 });
 * ```
 */
export async function mergeCentroids(
  gpu: Gpu,
  parts: readonly { centroids: Matrix; counts: Uint32Array }[],
  options: MergeCentroidsOptions,
): Promise<MergeResult> {
  const { k, ...rest } = options;
  if (parts.length === 0) throw new RangeError("Expected at least one part but found none");
  const d = parts[0]!.centroids.cols;
  for (const [i, part] of parts.entries()) {
    if (part.centroids.cols !== d || part.counts.length !== part.centroids.rows) {
      throw new RangeError(
        `Expected part ${i} to hold ${d}-column centroids with one count each but found ${part.centroids.rows} × ${part.centroids.cols} centroids and ${part.counts.length} counts`,
      );
    }
  }
  const { points, members } = countMergePoints(parts);
  if (!Number.isInteger(k) || k < 1 || k > points) {
    throw new RangeError(
      `Expected k to be at most the number of part centroids with members (${points}) but found ${k}`,
    );
  }
  const data = new Float32Array(points * d);
  const weights = new Float32Array(points);
  let at = 0;
  for (const part of parts) {
    part.counts.forEach((c, i) => {
      if (c === 0) return;
      data.set(part.centroids.data.subarray(i * d, (i + 1) * d), at * d);
      weights[at++] = c;
    });
  }
  options.onLog?.(`${points} part centroids standing for ${members} rows → k = ${k}`);
  const r = await kmeans(gpu, { data, rows: points, cols: d }, { ...defined(rest), k, weights });
  const sizes = new Float64Array(k);
  r.assignments.forEach((c, i) => sizes[c] = sizes[c]! + weights[i]!);
  return {
    centroids: r.centroids,
    objective: r.objective,
    points,
    members,
    assignment: r.assignment,
    sizes,
  };
}

/**
 * Options of {@linkcode hierarchicalKmeans}. `onLog` and `onIteration` are given the stage
 * (`"part 0/4"` … `"merge"`, `"refine"`) as well; no checkpoints.
 *
 * @example Usage
 * ```ts
 * import type { HierarchicalKMeansOptions } from "./hierarchical.ts";
 * const options: HierarchicalKMeansOptions = { parts: 4, k1: 1000, k: 1000 };
 * console.log(options.parts); // 4
 * ```
 */
export interface HierarchicalKMeansOptions
  extends Omit<StageKMeansOptions, "onLog" | "onIteration" | "checkpoint" | "resume"> {
  /** Parts the rows are split into (contiguous, as `partOf`). */
  parts: number;
  /** Centroids per part. */
  k1: number;
  /** Final centers, at most `min(rows, parts × k1)`. */
  k: number;
  /** Informational messages of each stage. */
  onLog?: (message: string, stage: string) => void;
  /** Every k-means iteration of each stage. */
  onIteration?: (stats: KMeansIterationStats, stage: string) => void;
  /** Called when part `index` is clustered, before the next one starts. */
  onPart?: (index: number, result: PartCentroids) => void;
  /**
   * Lloyd passes over all rows from the merged centers (`refineCentroids`, the rows summed in
   * the same `parts`), which bring the centers to flat k-means' quality. @default {0}
   */
  refine?: number;
  /** Called after every refinement pass. */
  onPass?: (stats: RefinePassStats) => void;
}

/**
 * Result of {@linkcode hierarchicalKmeans}: the centers with their objective over all rows,
 * the merge's own objective, and every part's centroids.
 *
 * @example Usage
 * ```ts ignore
 * const { centroids, objective, mergeObjective } = await hierarchicalKmeans(gpu, source, { parts: 4, k1, k });
 * ```
 */
export interface HierarchicalKMeansResult {
  /** The `k × d` centers (merged, then refined when `refine` > 0). */
  centroids: Matrix;
  /**
   * The objective of `centroids` over all rows (sum of cosine similarities, or the inertia
   * under l2): comparable with flat k-means' objective.
   */
  objective: number;
  /** The merge's weighted k-means objective over the part centroids (not over the rows). */
  mergeObjective: number;
  /** Members of each center over all rows. */
  counts: Uint32Array;
  /** Part centroids with members, the points merged. */
  points: number;
  /** Rows they stand for. */
  members: number;
  /** Each part's centroids and counts, in part order. */
  parts: PartCentroids[];
  /** Each refinement pass's statistics (empty without `refine`). */
  passes: RefinePassStats[];
  /** The assignment step the merge's k-means used (exact or IVF). */
  assignment: KMeansAssignment;
}

/**
 * Hierarchical k-means in one process: the rows split into `parts` contiguous parts, each
 * clustered into `k1` centroids ({@linkcode clusterPart}), then the count-weighted merge of
 * all part centroids into `k` centers ({@linkcode mergeCentroids}), then `refine` Lloyd passes
 * over all rows. The centers equal those of `cluster --shard i/N` jobs followed by
 * `cluster --merge` (and `refine` × `--refine`/`--reduce`). One more pass over the rows
 * scores the centers: `objective` is over the rows, `mergeObjective` over the part centroids.
 *
 * @param gpu The GPU context.
 * @param source The rows, e.g. `await openRowSource(["embeddings/"])`.
 * @param options `parts`, `k1`, `k` and the k-means options.
 * @returns The centers, their objective over the rows, the merge's, and each part's centroids.
 * @throws {RangeError} For `k` above `min(rows, parts × k1)`, or bad counts.
 *
 * @example Usage
 * ```ts ignore
 * import { createGpu, hierarchicalKmeans, openRowSource } from "../../mod.ts";
 * const gpu = await createGpu();
 * const source = await openRowSource(["embeddings/"]);
 * const { centroids } = await hierarchicalKmeans(gpu, source, { parts: 4, k1: 1000, k: 1000 });
 * ```
 */
export async function hierarchicalKmeans(
  gpu: Gpu,
  source: RowSource,
  options: HierarchicalKMeansOptions,
): Promise<HierarchicalKMeansResult> {
  const { parts: count, k1, k, onLog, onIteration, onPart, refine = 0, onPass, ...shared } =
    options;
  for (const [name, v] of [["parts", count], ["k1", k1], ["k", k]] as const) {
    if (!Number.isInteger(v) || v < 1) {
      throw new RangeError(`Expected ${name} to be an integer ≥ 1 but found ${v}`);
    }
  }
  if (!Number.isInteger(refine) || refine < 0) {
    throw new RangeError(`Expected refine to be an integer ≥ 0 but found ${refine}`);
  }
  if (k > Math.min(source.rows, count * k1)) {
    throw new RangeError(
      `Expected k to be at most min(rows, parts × k1) = ${
        Math.min(source.rows, count * k1)
      } but found ${k}`,
    );
  }
  const stage = (name: string): Pick<StageKMeansOptions, "onLog" | "onIteration"> => ({
    ...(onLog ? { onLog: (m: string) => onLog(m, name) } : {}),
    ...(onIteration ? { onIteration: (s: KMeansIterationStats) => onIteration(s, name) } : {}),
  });
  const parts: PartCentroids[] = [];
  for (let i = 0; i < count; i++) {
    const part = partOf(source, { index: i, count });
    const r = await clusterPart(gpu, part, { ...shared, k1, ...stage(`part ${i}/${count}`) });
    parts.push(r);
    onPart?.(i, r);
  }
  const merged = await mergeCentroids(gpu, parts, { ...shared, k, ...stage("merge") });
  const { metric, f16, variant, autotune, batchRows } = shared;
  const r = await refineCentroids(gpu, source, merged.centroids, {
    ...(defined({ metric, f16, variant, autotune, batchRows }) as RefineStepOptions),
    passes: refine,
    parts: count,
    ...(onLog ? { onLog: (m: string) => onLog(m, "refine") } : {}),
    ...(onPass ? { onPass } : {}),
  });
  return {
    centroids: r.centroids,
    objective: r.objective,
    mergeObjective: merged.objective,
    counts: r.counts,
    points: merged.points,
    members: merged.members,
    parts,
    passes: r.passes,
    assignment: merged.assignment,
  };
}
