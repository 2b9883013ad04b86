// The options, results and resident-keys interface of top-k, and their validation.
import { checkFinite, checkMatrix, type Matrix } from "../matrix/matrix.ts";
import { type GpuMatrix, isGpuMatrix } from "../gpu/gpu_matrix.ts";
import { TOPK_MAX_K } from "./topk_programs.ts";

/** Similarity used by {@linkcode topk}: cosine (both sides L2-normalised) or inner product. */
export type TopkMetric = "cosine" | "ip";

/**
 * Kernel design: `"registers"` keeps query rows in private memory and streams the keys
 * (fastest on CPU adapters such as lavapipe), `"tiled"` stages 64 × 64 tiles in workgroup
 * memory (the design for real GPUs), `"auto"` picks per adapter (timing both once per
 * adapter and row width, see {@linkcode TopkKeysOptions.autotune}).
 */
export type TopkVariant = "auto" | "registers" | "tiled";

/** Options of the resident keys: {@linkcode uploadTopkKeys} (and {@linkcode topk}). */
export interface TopkKeysOptions {
  /** Similarity; `"cosine"` L2-normalises queries and keys on the GPU. @default {"cosine"} */
  metric?: TopkMetric;
  /**
   * Kernel design; `"auto"` times the sensible designs on the first search (see
   * {@linkcode TopkKeysOptions.autotune}), or without tuning uses `"registers"` on
   * fallback/CPU adapters for rows up to 128 values and `"tiled"` elsewhere
   * (`"registers"` also falls back to `"tiled"` for rows over 512 values).
   * @default {"auto"}
   */
  variant?: TopkVariant;
  /**
   * For `variant: "auto"`: time the candidate designs on the first `search()` (its first
   * 256 query rows against all the keys) and keep the faster, caching the choice per
   * adapter, row width and metric (see `autotune` in `src/gpu/autotune.ts`; later
   * processes read it from the cache). When false, the heuristic
   * choice (`autoTopkVariant` in topk.ts) is used untimed and the cache is neither read nor written.
   * @default {true unless the environment sets MLCD_AUTOTUNE=0}
   */
  autotune?: boolean;
  /**
   * Cap on keys per GPU chunk (keys are also split wherever they exceed one storage
   * binding); each chunk's partial top-k is merged on the GPU. @default {undefined}
   */
  keysPerChunk?: number;
}

/** Options of one search: {@linkcode TopkKeys.search} (and {@linkcode topk}). */
export interface TopkSearchOptions {
  /** List length: neighbours per query row, an integer in `[1, min(64, keys)]`. */
  k: number;
  /**
   * Called with the fraction of the search done as the GPU finishes each range of keys (for
   * long searches; a first `"auto"` search's tuning is not counted). @default {undefined}
   */
  onProgress?: (fraction: number) => void;
}

/** Options for {@linkcode topk}: the list length `k`, metric, kernel design and chunking. */
export interface TopkOptions extends TopkKeysOptions, TopkSearchOptions {}

/** Result of {@linkcode topk}: `n × k` row-major, each row best first. */
export interface TopkResult {
  /** Key indices, row-major `n × k`. */
  indices: Uint32Array;
  /** Similarities of those keys, row-major `n × k`, descending per row. */
  scores: Float32Array;
}

/**
 * How a {@linkcode TopkKeys} kernel design was chosen.
 *
 * @example Usage
 * ```ts ignore
 * const index = uploadTopkKeys(gpu, centers);
 * await index.search(queries, { k: 8 });
 * console.log(index.variant, index.tuning?.source); // e.g. "registers" "cache"
 * ```
 */
export interface TopkTuning {
  /**
   * "requested": the caller named the variant; "tuned": timed on the first search;
   * "cache": a timing stored earlier for this adapter; "default": the heuristic choice,
   * untimed (autotuning disabled, a single sensible candidate, or tuning failed).
   */
  source: "requested" | "tuned" | "cache" | "default";
  /** Milliseconds of the chosen design on the tuning sample, or null when untimed. */
  ms: number | null;
}

/** Keys resident on the GPU, searched batch after batch without re-uploading. */
export interface TopkKeys {
  /** Number of keys. */
  rows: number;
  /** Dimension. */
  cols: number;
  /** Similarity used. */
  metric: TopkMetric;
  /**
   * The kernel design in use: for `"auto"` with autotuning, the heuristic choice until
   * the first search has tuned, then the chosen design.
   */
  readonly variant: "registers" | "tiled";
  /**
   * How {@linkcode TopkKeys.variant} was chosen; undefined while an `"auto"` choice
   * still waits for the first search to time the candidates.
   */
  readonly tuning?: TopkTuning | undefined;
  /**
   * Exact top-k of every query row against the keys.
   *
   * @param queries `n × cols` queries (finite values), on the host or already on the GPU (a
   * `GpuMatrix` is read in place when it is f32 with a stride that is a multiple of 4, and
   * normalised for cosine; otherwise it is re-packed on the GPU).
   * @param options `k`, the list length in `[1, min(64, rows)]`, and `onProgress`
   * ({@linkcode TopkSearchOptions}).
   * @returns Indices and scores, `n × k`.
   */
  search(queries: Matrix | GpuMatrix, options: TopkSearchOptions): Promise<TopkResult>;
  /** Frees the GPU buffers. */
  destroy(): void;
}

/**
 * Checks the options of the resident keys ({@linkcode TopkKeysOptions}).
 *
 * @param options The options.
 * @throws {RangeError} For a metric or variant outside its set or a bad `keysPerChunk`.
 * @throws {TypeError} When `autotune` is not a boolean.
 *
 * @example Usage
 * ```ts
 * import { checkTopkKeysOptions } from "./topk_options.ts";
 * checkTopkKeysOptions({ metric: "ip", variant: "tiled" }); // no error
 * ```
 */
export function checkTopkKeysOptions(options: TopkKeysOptions): void {
  const { metric, variant, keysPerChunk, autotune } = options;
  if (metric !== undefined && metric !== "cosine" && metric !== "ip") {
    throw new RangeError(`Expected metric to be "cosine" or "ip" but found ${metric}`);
  }
  if (
    variant !== undefined && variant !== "auto" && variant !== "registers" && variant !== "tiled"
  ) {
    throw new RangeError(
      `Expected variant to be "auto", "registers" or "tiled" but found ${variant}`,
    );
  }
  if (autotune !== undefined && typeof autotune !== "boolean") {
    throw new TypeError(`Expected autotune to be a boolean but found ${autotune}`);
  }
  if (keysPerChunk !== undefined && (!Number.isInteger(keysPerChunk) || keysPerChunk < 1)) {
    throw new RangeError(
      `Expected keysPerChunk to be a positive integer but found ${keysPerChunk}`,
    );
  }
}

/**
 * Checks a list length `k` against the kernels' cap and the number of keys.
 *
 * @param k The list length.
 * @param keys The number of keys.
 * @throws {RangeError} When `k` is not an integer in `[1, min(64, keys)]`.
 *
 * @example Usage
 * ```ts
 * import { checkTopkK } from "./topk_options.ts";
 * checkTopkK(8, 100); // no error
 * ```
 */
export function checkTopkK(k: number, keys: number): void {
  if (!Number.isInteger(k) || k < 1 || k > TOPK_MAX_K) {
    throw new RangeError(`Expected k to be an integer in [1, ${TOPK_MAX_K}] but found ${k}`);
  }
  if (k > keys) {
    throw new RangeError(`Expected k to be at most the number of keys (${keys}) but found ${k}`);
  }
}

/**
 * Checks a host Matrix (shape, finite values); a GpuMatrix was checked when it was uploaded.
 *
 * @param m The rows.
 * @param name What to call them in a message.
 * @throws {TypeError} When a host matrix is malformed.
 * @throws {RangeError} When a host matrix holds NaN or ±Infinity.
 *
 * @example Usage
 * ```ts
 * import { checkTopkRows } from "./topk_options.ts";
 * checkTopkRows({ data: new Float32Array(4), rows: 2, cols: 2 }, "queries"); // no error
 * ```
 */
export function checkTopkRows(m: Matrix | GpuMatrix, name: string): void {
  if (isGpuMatrix(m)) return;
  checkMatrix(m, name);
  checkFinite(m, name);
}
