// The one module importing hnswlib-node (lazily, so the exact GPU paths work without the
// native addon).
import { checkFinite, checkMatrix, type Matrix } from "../matrix/matrix.ts";
import { checkOptionsObject } from "../options/check_options_object.ts";
import type { TopkMetric, TopkResult } from "../topk/topk_options.ts";

/** The message thrown when hnswlib-node's native addon cannot be loaded. */
export const HNSW_MISSING_MESSAGE =
  "hnswlib-node's native addon is not built: run `deno task setup`";

/**
 * Default HNSW search breadth, for recall@8 ≥ 0.95 on 100k × 128 random unit centers with
 * M 16 / efConstruction 200 (measured: ef 512 → 0.83, ef 1024 → 0.93 for queries near
 * centers; see tests/ann_test.ts). Random high-dimensional data is HNSW's hard case.
 */
export const DEFAULT_HNSW_EF = 2048;

interface HnswNative {
  initIndex(maxElements: number, m?: number, efConstruction?: number, randomSeed?: number): void;
  addPoint(point: number[], label: number): void;
  setEf(ef: number): void;
  searchKnn(query: number[], k: number): { distances: number[]; neighbors: number[] };
  getCurrentCount(): number;
}

type HnswModule = {
  HierarchicalNSW: new (space: "ip" | "cosine" | "l2", dim: number) => HnswNative;
};

let loading: Promise<HnswModule> | undefined;

async function loadHnswlib(): Promise<HnswModule> {
  loading ??= (async () => {
    try {
      const mod = await import("npm:hnswlib-node@3.0.0");
      const m = ((mod as { default?: unknown }).default ?? mod) as HnswModule;
      if (typeof m.HierarchicalNSW !== "function") throw new Error("no HierarchicalNSW export");
      return m;
    } catch (e) {
      loading = undefined;
      throw new Error(HNSW_MISSING_MESSAGE, { cause: e });
    }
  })();
  return await loading;
}

/** Options for {@linkcode buildHnswIndex}. */
export interface HnswBuildOptions {
  /** Graph degree (links per node). @default {16} */
  M?: number;
  /** Candidate list size while inserting. @default {200} */
  efConstruction?: number;
  /** Similarity: `"cosine"` (normalised) or `"ip"` (inner product). @default {"cosine"} */
  metric?: TopkMetric;
  /** Seed of hnswlib's level generator. @default {100} */
  seed?: number;
}

/** An HNSW graph over a set of centers, from {@linkcode buildHnswIndex}. */
export interface HnswIndex {
  /** Number of indexed centers. */
  rows: number;
  /** Dimension. */
  cols: number;
  /** Similarity used. */
  metric: TopkMetric;
  /** Graph degree used. */
  M: number;
  /** Insertion candidate list size used. */
  efConstruction: number;
  /** Wall-clock seconds the build took. */
  buildSeconds: number;
  /** The hnswlib-node index (opaque). */
  native: unknown;
}

/**
 * Builds an HNSW index (hnswlib-node) over `centers` for approximate top-l search.
 *
 * @param centers `C × d` centers with finite values.
 * @param options Graph parameters ({@linkcode HnswBuildOptions}).
 * @returns The index.
 * @throws {Error} When hnswlib-node's native addon is not built (run `deno task setup`).
 *
 * @example Usage
 * ```ts ignore
 * const index = await buildHnswIndex(centers, { M: 16, efConstruction: 200 });
 * ```
 */
export async function buildHnswIndex(
  centers: Matrix,
  options: HnswBuildOptions = {},
): Promise<HnswIndex> {
  checkMatrix(centers, "centers");
  checkFinite(centers, "centers");
  const M = options.M ?? 16;
  const efConstruction = options.efConstruction ?? 200;
  const metric = options.metric ?? "cosine";
  if (!Number.isInteger(M) || M < 2) {
    throw new RangeError(`Expected M to be an integer of at least 2 but found ${M}`);
  }
  if (!Number.isInteger(efConstruction) || efConstruction < 1) {
    throw new RangeError(
      `Expected efConstruction to be a positive integer but found ${efConstruction}`,
    );
  }
  if (metric !== "cosine" && metric !== "ip") {
    throw new RangeError(`Expected metric to be "cosine" or "ip" but found ${metric}`);
  }
  const { HierarchicalNSW } = await loadHnswlib();
  const t0 = performance.now();
  const native = new HierarchicalNSW(metric, centers.cols);
  native.initIndex(Math.max(1, centers.rows), M, efConstruction, options.seed ?? 100);
  const { data, cols } = centers;
  for (let r = 0; r < centers.rows; r++) {
    native.addPoint(Array.from(data.subarray(r * cols, (r + 1) * cols)), r);
  }
  return {
    rows: centers.rows,
    cols,
    metric,
    M,
    efConstruction,
    buildSeconds: (performance.now() - t0) / 1000,
    native,
  };
}

/** Options for {@linkcode annTopk}. */
export interface AnnTopkOptions {
  /** List length: neighbours per query row, an integer in `[1, index.rows]`. */
  k: number;
  /** Search breadth (raised to `k` when smaller). @default {2048} */
  ef?: number;
}

/**
 * Approximate top-`k` centers per query row from an HNSW index, in the same layout as
 * `topk` (`n × k`, best first; scores are cosine or inner-product similarities).
 *
 * @param index From {@linkcode buildHnswIndex}.
 * @param queries `n × d` queries.
 * @param options `k`, the list length in `[1, index.rows]`, and the search breadth `ef`
 * ({@linkcode AnnTopkOptions}).
 * @returns Indices and scores, `n × k`.
 *
 * @example Usage
 * ```ts ignore
 * const approx = annTopk(index, queries, { k: 8, ef: 200 });
 * ```
 */
export function annTopk(
  index: HnswIndex,
  queries: Matrix,
  options: AnnTopkOptions,
): TopkResult {
  checkOptionsObject("annTopk", options);
  const { k } = options;
  checkMatrix(queries, "queries");
  if (!Number.isInteger(k) || k < 1 || k > index.rows) {
    throw new RangeError(`Expected k to be an integer in [1, ${index.rows}] but found ${k}`);
  }
  if (queries.cols !== index.cols) {
    throw new TypeError(
      `Expected queries to have ${index.cols} columns like the centers but found ${queries.cols}`,
    );
  }
  checkFinite(queries, "queries");
  const ef = options.ef ?? DEFAULT_HNSW_EF;
  if (!Number.isInteger(ef) || ef < 1) {
    throw new RangeError(`Expected ef to be a positive integer but found ${ef}`);
  }
  const native = index.native as HnswNative;
  native.setEf(Math.max(ef, k));
  const { data, cols, rows } = queries;
  const indices = new Uint32Array(rows * k);
  const scores = new Float32Array(rows * k);
  const order = new Array<number>(k);
  for (let r = 0; r < rows; r++) {
    const { distances, neighbors } = native.searchKnn(
      Array.from(data.subarray(r * cols, (r + 1) * cols)),
      k,
    );
    // hnswlib distances are 1 - similarity for both "ip" and "cosine".
    for (let t = 0; t < k; t++) order[t] = t;
    order.sort((a, b) => distances[a]! - distances[b]! || neighbors[a]! - neighbors[b]!);
    for (let t = 0; t < k; t++) {
      indices[r * k + t] = neighbors[order[t]!]!;
      scores[r * k + t] = 1 - distances[order[t]!]!;
    }
  }
  return { indices, scores };
}

/**
 * Recall@k of approximate lists against exact ones: the fraction of exact top-k indices
 * that the approximate top-k lists contain (order ignored).
 *
 * @param approx Approximate indices, `n × k`.
 * @param exact Exact indices, `n × k`.
 * @param options `k`, the list length (the rows are `exact.length / k`).
 * @returns Recall in `[0, 1]`.
 * @throws {RangeError} When `k` is not a positive integer.
 * @throws {TypeError} When the arrays' lengths differ or are not a multiple of `k`.
 *
 * @example Usage
 * ```ts
 * import { recallAtK } from "./hnsw.ts";
 * console.log(recallAtK(new Uint32Array([1, 2]), new Uint32Array([2, 3]), { k: 2 })); // 0.5
 * ```
 */
export function recallAtK(
  approx: Uint32Array,
  exact: Uint32Array,
  options: { k: number },
): number {
  checkOptionsObject("recallAtK", options);
  const { k } = options;
  if (!Number.isInteger(k) || k < 1) {
    throw new RangeError(`Expected k to be a positive integer but found ${k}`);
  }
  const n = Math.floor(exact.length / k);
  if (approx.length !== n * k || exact.length !== n * k) {
    throw new TypeError(
      `Expected both index arrays to hold n × k values (k = ${k}) of the same length but found ${approx.length} and ${exact.length}`,
    );
  }
  if (n === 0) return 1;
  let hit = 0;
  for (let r = 0; r < n; r++) {
    const want = new Set(exact.subarray(r * k, (r + 1) * k));
    for (let t = 0; t < k; t++) if (want.has(approx[r * k + t]!)) hit++;
  }
  return hit / (n * k);
}
