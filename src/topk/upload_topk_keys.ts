// Keys resident on the GPU, searched batch after batch: the choice of kernel design (asked,
// heuristic, or timed on the first search) and the dispatch to one of the two search stages.
import type { Gpu } from "../gpu/gpu.ts";
import { autotune } from "../gpu/autotune.ts";
import {
  type GpuMatrix,
  type GpuMatrixLease,
  isGpuMatrix,
  repackMatrix,
  useGpuMatrix,
} from "../gpu/gpu_matrix.ts";
import { checkMatrix, type Matrix } from "../matrix/matrix.ts";
import { checkOptionsObject } from "../options/check_options_object.ts";
import { topkRegisterRows, topkSlices } from "./topk_programs.ts";
import {
  checkTopkK,
  checkTopkKeysOptions,
  checkTopkRows,
  type TopkKeys,
  type TopkKeysOptions,
  type TopkMetric,
  type TopkResult,
  type TopkSearchOptions,
  type TopkTuning,
} from "./topk_options.ts";
import { topkTiledSearch } from "./topk_tiled_search.ts";
import {
  type TopkKeyBlocks,
  topkRegistersSearch,
  uploadTopkKeyBlocks,
} from "./topk_registers_search.ts";

/**
 * The kernel design `"auto"` picks for `gpu` and rows of width `d`: `"registers"` on
 * fallback (CPU) adapters such as lavapipe, llvmpipe or SwiftShader, for every width (rows
 * wider than the adapter's `registersMaxDim`, 128 there, are walked in slices of 64 values),
 * `"tiled"` elsewhere.
 *
 * @param gpu The GPU context.
 * @param d Row width (omit for the adapter's choice at small widths).
 * @returns The variant.
 *
 * @example Usage
 * ```ts ignore
 * console.log(autoTopkVariant(gpu)); // "registers" on lavapipe
 * ```
 */
export function autoTopkVariant(gpu: Gpu, d = 0): "registers" | "tiled" {
  return gpu.quirks.preferRegisters && registersFit(gpu, d) ? "registers" : "tiled";
}

/** Whether the registers kernel takes rows of `d` values: whole, or walked in slices. */
function registersFit(gpu: Gpu, d: number): boolean {
  const d4 = Math.ceil(d / 4);
  return topkSlices(d4, gpu.quirks.registersMaxDim) !== null || topkRegisterRows(d4) >= 1;
}

/** Query rows of the first search that `"auto"` times the candidates on. */
const TUNE_QUERY_ROWS = 256;

type Design = "registers" | "tiled";

/**
 * The designs `"auto"` chooses among for rows of `d` values: the heuristic choice first,
 * then the other one. `"registers"` when a row fits its private block or is walked in
 * slices (on CPU adapters every row wider than 128 values).
 */
function topkCandidates(gpu: Gpu, d: number): Design[] {
  const registersOk = registersFit(gpu, d);
  const order: Design[] = autoTopkVariant(gpu, d) === "registers"
    ? ["registers", "tiled"]
    : ["tiled", "registers"];
  return order.filter((v) => v === "tiled" || registersOk);
}

/** The resident keys behind {@linkcode uploadTopkKeys}. */
class ResidentTopkKeys implements TopkKeys {
  readonly rows: number;
  readonly cols: number;
  readonly metric: TopkMetric;
  #variant: Design;
  #tuning: TopkTuning | undefined;
  /** The one tuning run; concurrent first searches all wait on it. */
  #tuningRun: Promise<void> | undefined;
  #destroyed = false;
  #blocks: TopkKeyBlocks | undefined;
  readonly #keys: GpuMatrixLease;
  readonly #candidates: Design[];
  readonly #gpu: Gpu;
  readonly #options: TopkKeysOptions;

  constructor(gpu: Gpu, keys: Matrix | GpuMatrix, options: TopkKeysOptions) {
    this.#gpu = gpu;
    this.#options = options;
    this.rows = keys.rows;
    this.cols = keys.cols;
    this.metric = options.metric ?? "cosine";
    const d4 = Math.ceil(this.cols / 4);
    const wanted = options.variant ?? "auto";
    // The design in use: the heuristic (or requested) one until tuning picks another.
    this.#variant = wanted === "auto" ? autoTopkVariant(gpu, this.cols) : wanted;
    if (this.#variant === "registers" && !registersFit(gpu, this.cols)) this.#variant = "tiled";
    this.#candidates = wanted === "auto" ? topkCandidates(gpu, this.cols) : [];
    if (wanted !== "auto") this.#tuning = { source: "requested", ms: null };
    else if (this.#candidates.length < 2 || options.autotune === false) {
      this.#tuning = { source: "default", ms: null };
    }
    this.#keys = useGpuMatrix(gpu, keys, {
      label: "topk.keys",
      stride: d4 * 4, // the kernels read queries and keys with one row stride
      normalize: this.metric === "cosine",
      ...(options.keysPerChunk ? { maxRowsPerChunk: options.keysPerChunk } : {}),
    });
  }

  get variant(): Design {
    return this.#variant;
  }

  get tuning(): TopkTuning | undefined {
    return this.#tuning;
  }

  search = async (
    queries: Matrix | GpuMatrix,
    options: TopkSearchOptions,
  ): Promise<TopkResult> => {
    this.#checkAlive();
    checkOptionsObject("search", options);
    const k = options.k;
    if (!isGpuMatrix(queries)) checkMatrix(queries, "queries");
    checkTopkK(k, this.rows);
    if (queries.cols !== this.cols) {
      throw new TypeError(
        `Expected queries to have ${this.cols} columns like the keys but found ${queries.cols}`,
      );
    }
    checkTopkRows(queries, "queries");
    if (queries.rows === 0) return { indices: new Uint32Array(0), scores: new Float32Array(0) };
    if (this.#tuning === undefined) {
      await (this.#tuningRun ??= this.#tune(queries, k));
      this.#checkAlive();
    }
    const onProgress = options.onProgress;
    let doneUnits = 0;
    const total = queries.rows * this.rows;
    const onDone = onProgress
      ? (u: number) => {
        doneUnits += u;
        onProgress(Math.min(1, doneUnits / total));
      }
      : undefined;
    return await this.#run(this.#variant, queries, k, onDone);
  };

  destroy = (): void => {
    this.#destroyed = true;
    this.#keys.release();
    this.#blocks?.destroy();
    this.#blocks = undefined;
  };

  #checkAlive(): void {
    if (this.#destroyed) throw new Error("Cannot search: the keys were destroyed");
  }

  /** The search itself with a given design (queries validated, n ≥ 1). */
  async #run(
    variant: Design,
    queries: Matrix | GpuMatrix,
    k: number,
    onDone?: (units: number) => void,
  ): Promise<TopkResult> {
    const input = { keys: this.#keys.matrix, queries, k, metric: this.metric, onDone };
    if (variant === "tiled") return await topkTiledSearch(this.#gpu, input);
    // The keys again as whole 64 KiB uniform blocks, built on the first registers search.
    this.#blocks ??= uploadTopkKeyBlocks(this.#gpu, this.#keys.matrix);
    return await topkRegistersSearch(this.#gpu, this.#blocks, input);
  }

  /** Times the candidates on the first rows of `queries` (validated, n ≥ 1). */
  async #tune(queries: Matrix | GpuMatrix, k: number): Promise<void> {
    const m = Math.min(queries.rows, TUNE_QUERY_ROWS);
    const d = this.cols;
    const sample: Matrix | GpuMatrix = isGpuMatrix(queries)
      ? (m === queries.rows ? queries : repackMatrix(this.#gpu, queries, {
        index: Uint32Array.from({ length: m }, (_, i) => i),
      }))
      : { data: queries.data.subarray(0, m * d), rows: m, cols: d };
    const kk = Math.min(k, this.rows);
    try {
      const result = await autotune<{ variant: Design }>(
        this.#gpu,
        `topk/d4=${Math.ceil(d / 4)}/${this.metric}`,
        this.#candidates.map((v) => ({ variant: v })),
        async (c) => {
          this.#checkAlive();
          const t0 = performance.now();
          await this.#run(c.variant, sample, kk);
          return performance.now() - t0;
        },
        this.#options.autotune === undefined ? {} : { enabled: this.#options.autotune },
      );
      this.#variant = result.config.variant;
      this.#tuning = { source: result.source, ms: result.ms };
    } catch {
      // Every candidate failed (or the tuner itself did): keep the heuristic choice.
      this.#tuning = { source: "default", ms: null };
    } finally {
      if (sample !== queries && isGpuMatrix(sample)) sample.destroy();
    }
  }
}

/**
 * Uploads (and for cosine, normalises) keys once so that many query batches can be
 * searched against them: the building block of `topk` and `assignLabels`.
 *
 * @param gpu The GPU context.
 * @param keys `C × d` keys with finite values, on the host or already on the GPU (a
 * `GpuMatrix` in the layout top-k reads, f32 with a stride that is a multiple of 4 and, for
 * cosine, normalised, is used in place and left alive by `destroy()`; otherwise it is
 * re-packed on the GPU).
 * @param options Metric, variant and chunking ({@linkcode TopkKeysOptions}).
 * @returns The resident keys; call `destroy()` when done.
 * @throws {RangeError} When a key row holds NaN or ±Infinity (the message names the row).
 *
 * @example Usage
 * ```ts ignore
 * const index = uploadTopkKeys(gpu, centers);
 * const { indices } = await index.search(batch, { k: 8 });
 * index.destroy();
 * ```
 */
export function uploadTopkKeys(
  gpu: Gpu,
  keys: Matrix | GpuMatrix,
  options: TopkKeysOptions = {},
): TopkKeys {
  if (!isGpuMatrix(keys)) checkMatrix(keys, "keys");
  checkTopkKeysOptions(options);
  checkTopkRows(keys, "keys");
  return new ResidentTopkKeys(gpu, keys, options);
}
