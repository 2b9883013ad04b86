/**
 * The distribution of cluster sizes after a k-means run (see {@linkcode clusterSizeStats}).
 *
 * @example Usage
 * ```ts ignore
 * const s: ClusterSizeStats = clusterSizeStats(result.counts);
 * console.log(s.empty, s.median, s.max);
 * ```
 */
export interface ClusterSizeStats {
  /** Number of clusters. */
  k: number;
  /** Total size (rows, or summed weights). */
  total: number;
  /** Clusters of size 0. */
  empty: number;
  /** Smallest size. */
  min: number;
  /** 10th percentile (linear interpolation, as numpy's default). */
  p10: number;
  /** Median (linear interpolation). */
  median: number;
  /** 90th percentile (linear interpolation). */
  p90: number;
  /** Largest size. */
  max: number;
  /** Mean size, `total / k`. */
  mean: number;
  /** faiss's imbalance factor `k · Σ size² / total²`: 1 when perfectly balanced. */
  imbalanceFactor: number;
}

/**
 * Summarises cluster sizes (e.g. `KMeansResult.counts`): min, percentiles, median, max, mean,
 * the number of empty clusters and faiss's imbalance factor. Sizes may be counts or summed
 * weights.
 *
 * @param counts One size per cluster (finite, ≥ 0), at least one.
 * @returns The statistics.
 * @throws {TypeError} When `counts` is not an array or typed array.
 * @throws {RangeError} When it is empty or holds a negative or non-finite size.
 *
 * @example Usage
 * ```ts
 * import { clusterSizeStats } from "./cluster_size_stats.ts";
 * const s = clusterSizeStats(new Uint32Array([0, 4, 4, 12]));
 * console.log(s.empty, s.median, s.max, s.imbalanceFactor); // 1 4 12 1.76
 * ```
 */
export function clusterSizeStats(counts: ArrayLike<number>): ClusterSizeStats {
  if (counts === null || typeof counts !== "object" || typeof counts.length !== "number") {
    throw new TypeError(`Expected counts to be an array of cluster sizes but found ${counts}`);
  }
  const k = counts.length;
  if (k === 0) {
    throw new RangeError("Expected counts to hold at least one cluster size but found none");
  }
  const sorted = new Float64Array(k);
  let total = 0, sq = 0, empty = 0;
  for (let i = 0; i < k; i++) {
    const c = counts[i]!;
    if (typeof c !== "number" || !Number.isFinite(c) || c < 0) {
      throw new RangeError(`Expected counts[${i}] to be a finite size ≥ 0 but found ${c}`);
    }
    sorted[i] = c;
    total += c;
    sq += c * c;
    if (c === 0) empty++;
  }
  sorted.sort();
  const q = (p: number) => {
    const at = p * (k - 1), lo = Math.floor(at), hi = Math.min(k - 1, lo + 1);
    return sorted[lo]! + (at - lo) * (sorted[hi]! - sorted[lo]!);
  };
  return {
    k,
    total,
    empty,
    min: sorted[0]!,
    p10: q(0.1),
    median: q(0.5),
    p90: q(0.9),
    max: sorted[k - 1]!,
    mean: total / k,
    imbalanceFactor: total > 0 ? (k * sq) / (total * total) : NaN,
  };
}

/**
 * One line for the logs: `cluster sizes: min 0, p10 3, median 17, p90 40, max 96, 3 empty of
 * 1000, imbalance 1.21`.
 *
 * @param s Statistics from {@linkcode clusterSizeStats}.
 * @returns The line.
 *
 * @example Usage
 * ```ts
 * import { clusterSizeStats, formatClusterSizes } from "./cluster_size_stats.ts";
 * console.log(formatClusterSizes(clusterSizeStats([0, 4, 4, 12])));
 * ```
 */
export function formatClusterSizes(s: ClusterSizeStats): string {
  const f = (v: number) => (Number.isInteger(v) ? String(v) : v.toFixed(1));
  return `cluster sizes: min ${f(s.min)}, p10 ${f(s.p10)}, median ${f(s.median)}, p90 ${
    f(s.p90)
  }, max ${f(s.max)}, ${s.empty} empty of ${s.k}, imbalance ${s.imbalanceFactor.toFixed(2)}`;
}
