/**
 * The defaults of an IVF center index and its searches, in one place for every caller
 * (library, k-means, CLI).
 *
 * @example Usage
 * ```ts
 * import { ivfDefaults } from "./ivf_options.ts";
 * console.log(ivfDefaults({ k: 20000 })); // { cells: 141, nprobe: 9, iterations: 10, samplePerCell: 64 }
 * ```
 */
export interface IvfDefaults {
  /** Cells C = round(√K), at least 1. */
  cells: number;
  /**
   * Cells probed per row: ⌈C / 16⌉ kept within [8, 16], at most C. The cap keeps the work per
   * row ∝ √K (C + nprobe·K/C centers scored) at any K. On the bench's nested mixture
   * (bench/ivf_bench.ts) 8 of 141 cells keep every exact assignment and 16 of 316 every
   * exact top-8; on 2M × 128 rows at K = 100000, 16 of 316 cells lost no objective against
   * exact search (bench/results/large_k.md); data without nested structure needs more (see
   * bench/results/ivf.md), which the k-means assignment check reports.
   */
  nprobe: number;
  /** Lloyd iterations over the centers that place the cells. */
  iterations: number;
  /** Lloyd trains on at most this many centers per cell (faiss-style subsample). */
  samplePerCell: number;
}

/**
 * The default cells, probes and Lloyd settings for an index over `k` centers (or `cells`
 * cells, when given).
 *
 * @param options `k`, the centers, and optionally `cells`, to get the nprobe for them.
 * @returns The defaults ({@linkcode IvfDefaults}).
 *
 * @example Usage
 * ```ts
 * import { ivfDefaults } from "./ivf_options.ts";
 * console.log(ivfDefaults({ k: 100000 }).nprobe); // 16
 * ```
 */
export function ivfDefaults(options: { k: number; cells?: number }): IvfDefaults {
  const { k } = options;
  const cells = options.cells ?? Math.max(1, Math.min(k, Math.round(Math.sqrt(k))));
  return {
    cells,
    nprobe: Math.min(cells, Math.min(16, Math.max(8, Math.ceil(cells / 16)))),
    iterations: 10,
    samplePerCell: 64,
  };
}
