import type { Gpu } from "../gpu/gpu.ts";
import { createStorage, readBack } from "../gpu/buffers.ts";
import { type GpuMatrix, isGpuMatrix, useGpuMatrix } from "../gpu/gpu_matrix.ts";
import { checkFinite, checkMatrix, type Matrix } from "../matrix/matrix.ts";
import { checkOptionsObject } from "../options/check_options_object.ts";
import type { CenterIndex } from "./center_index.ts";
import { checkRows, recordSearch, searchSizes } from "./_search.ts";

/** Largest `k` of {@linkcode ivfTopk}. */
export const IVF_TOPK_MAX_K = 64;

/**
 * Options of {@linkcode ivfTopk} and {@linkcode recordIvfTopk}.
 *
 * @example Usage
 * ```ts ignore
 * await ivfTopk(gpu, queries, index, { k: 8, nprobe: 32 });
 * ```
 */
export interface IvfTopkOptions {
  /** Centers per row, an integer in `[1, min(64, K)]`. */
  k: number;
  /**
   * Cells probed per row, in `[1, index.cells]` (`index.cells`: exact). Each probed cell
   * keeps its k best, and the nprobe·k candidates are merged per row.
   * @default {ivfDefaults({ k, cells }).nprobe: ⌈cells / 16⌉ within [8, 16], at most cells}
   */
  nprobe?: number;
  /** Rows per GPU batch (also bounded by the binding limit). @default {min(262144, 2^23 / (nprobe × k))} */
  batchRows?: number;
}

/**
 * Options of {@linkcode recordIvfTopk}.
 *
 * @example Usage
 * ```ts ignore
 * recordIvfTopk(gpu, x, index, { scores, indices }, { encoder, k: 8, nprobe: 32 });
 * ```
 */
export interface RecordIvfTopkOptions extends IvfTopkOptions {
  /** The encoder to record into (the caller submits it). */
  encoder: GPUCommandEncoder;
}

/** Per row chunk output lists of {@linkcode recordIvfTopk}: `rows × k` each. */
export interface IvfTopkOutputs {
  /** Scores, descending per row, one `f32` buffer per row chunk. */
  scores: GPUBuffer[];
  /** Center indices (ties by lower index; 0xffffffff when fewer than k were found). */
  indices: GPUBuffer[];
}

function checkK(index: CenterIndex, k: unknown): number {
  if (typeof k !== "number" || !Number.isInteger(k) || k < 1 || k > IVF_TOPK_MAX_K) {
    throw new RangeError(`Expected k to be an integer in [1, ${IVF_TOPK_MAX_K}] but found ${k}`);
  }
  if (k > index.k) {
    throw new RangeError(
      `Expected k to be at most the number of centers (${index.k}) but found ${k}`,
    );
  }
  if (index.metric === "l2") {
    throw new RangeError(`Expected an index with metric "cosine" or "ip" for top-k but found "l2"`);
  }
  return k;
}

/**
 * Records the approximate top-`k` centers of every row of `x` (the index's layout) into
 * `encoder`: per row, its `nprobe` best cells are scored exactly, each keeping its k best,
 * and the lists merged (score descending, then index ascending, as `topk` orders them).
 *
 * @param gpu The GPU context.
 * @param x Rows on the GPU with stride = padded width, the index's dtype, unit rows for cosine.
 * @param index The center index (metric "cosine" or "ip").
 * @param out `rows × k` score and index buffers per row chunk of `x`.
 * @param options The `encoder` to record into, `k`, `nprobe`, `batchRows`
 * ({@linkcode RecordIvfTopkOptions}).
 * @throws {TypeError} When `x` is not in the index's layout.
 * @throws {RangeError} For `k` or `nprobe` out of range, or an l2 index.
 *
 * @example Usage
 * ```ts ignore
 * recordIvfTopk(gpu, x, index, { scores, indices }, { encoder: enc, k: 8, nprobe: 32 });
 * ```
 */
export function recordIvfTopk(
  gpu: Gpu,
  x: GpuMatrix,
  index: CenterIndex,
  out: IvfTopkOutputs,
  options: RecordIvfTopkOptions,
): void {
  checkOptionsObject("recordIvfTopk", options, "{ encoder, k: 8 }");
  const k = checkK(index, options.k);
  checkRows(index, x, "queries");
  const sizes = searchSizes(gpu, index, options.nprobe, options.batchRows, k);
  recordSearch(gpu, index, x, k, sizes, { a: out.scores, b: out.indices }, options.encoder);
}

/**
 * Approximate top-`k` most similar centers of every query row through an IVF index (see
 * {@linkcode recordIvfTopk}): MLCD's labelling step (top-8 of K centers) at n·√K·d cost.
 *
 * @param gpu The GPU context.
 * @param queries `n × d` rows: a host Matrix or a GpuMatrix (re-packed on the GPU unless
 * already in the index's layout).
 * @param index The center index (metric "cosine" or "ip").
 * @param options `k`, `nprobe`, `batchRows` ({@linkcode IvfTopkOptions}).
 * @returns `n × k` indices and scores, row-major, each row best first.
 * @throws {TypeError} When the queries are malformed or their width differs.
 * @throws {RangeError} For NaN/±Infinity values, `k` or `nprobe` out of range.
 *
 * @example Usage
 * ```ts ignore
 * const index = buildCenterIndex(gpu, centers);
 * const { indices, scores } = await ivfTopk(gpu, queries, index, { k: 8, nprobe: 32 });
 * ```
 */
export async function ivfTopk(
  gpu: Gpu,
  queries: Matrix | GpuMatrix,
  index: CenterIndex,
  options: IvfTopkOptions,
): Promise<{ indices: Uint32Array; scores: Float32Array }> {
  checkOptionsObject("ivfTopk", options, "{ k: 8 }");
  const k = checkK(index, options.k);
  if (!isGpuMatrix(queries)) checkMatrix(queries, "queries");
  if (queries.cols !== index.cols) {
    throw new TypeError(
      `Expected queries to have ${index.cols} columns like the centers but found ${queries.cols}`,
    );
  }
  if (!isGpuMatrix(queries)) checkFinite(queries, "queries");
  const sizes = searchSizes(gpu, index, options.nprobe, options.batchRows, k);
  const n = queries.rows;
  if (n === 0) return { indices: new Uint32Array(0), scores: new Float32Array(0) };
  const lease = useGpuMatrix(gpu, queries, {
    label: "ivf.queries",
    stride: index.store.dp,
    dtype: index.f16 ? "f16" : "f32",
    normalize: index.metric === "cosine",
    maxRowsPerChunk: Math.max(1, Math.floor(gpu.maxBindingBytes / (k * 4))),
  });
  const x = lease.matrix;
  const scores = x.chunks.map((c) => createStorage(gpu, c.rows * k * 4, "ivf.topk_scores"));
  const indices = x.chunks.map((c) => createStorage(gpu, c.rows * k * 4, "ivf.topk_indices"));
  try {
    const enc = gpu.device.createCommandEncoder({ label: "ivf.topk" });
    recordSearch(gpu, index, x, k, sizes, { a: scores, b: indices }, enc);
    const parts = await readBack(gpu, [
      ...x.chunks.map((c, i) => ({ buffer: scores[i]!, bytes: c.rows * k * 4 })),
      ...x.chunks.map((c, i) => ({ buffer: indices[i]!, bytes: c.rows * k * 4 })),
    ], enc);
    const outS = new Float32Array(n * k);
    const outI = new Uint32Array(n * k);
    const nc = x.chunks.length;
    x.chunks.forEach((c, i) => {
      outS.set(new Float32Array(parts[i]!), c.rowStart * k);
      outI.set(new Uint32Array(parts[nc + i]!), c.rowStart * k);
    });
    return { indices: outI, scores: outS };
  } finally {
    lease.release();
    for (const b of [...scores, ...indices]) b.destroy();
  }
}
