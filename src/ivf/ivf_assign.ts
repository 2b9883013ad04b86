import type { Gpu } from "../gpu/gpu.ts";
import { createStorage } from "../gpu/buffers.ts";
import { type GpuMatrix, isGpuMatrix, uploadMatrix } from "../gpu/gpu_matrix.ts";
import { checkFinite, checkMatrix, type Matrix } from "../matrix/matrix.ts";
import { checkOptionsObject } from "../options/check_options_object.ts";
import { readAssignOutputs } from "../gpu/assign_outputs.ts";
import type { CenterIndex } from "./center_index.ts";
import { checkRows, recordSearch, searchSizes } from "./_search.ts";

/**
 * Options of {@linkcode ivfAssign}.
 *
 * @example Usage
 * ```ts ignore
 * await ivfAssign(gpu, x, index, { nprobe: 16 });
 * ```
 */
export interface IvfAssignOptions {
  /**
   * Cells probed per row, in `[1, index.cells]`; `index.cells` scores every center (the
   * exact assignment, bit for bit).
   * @default {ivfDefaults({ k, cells }).nprobe: ⌈cells / 16⌉ within [8, 16], at most cells}
   */
  nprobe?: number;
  /** Rows per GPU batch (also bounded by the binding limit). @default {min(262144, 2^23 / (nprobe × k))} */
  batchRows?: number;
  /**
   * A center per row to score as well, e.g. its previous assignment (see
   * {@linkcode RecordIvfAssignOptions.withPrevious}); indices ≥ K are skipped.
   * @default {undefined}
   */
  previous?: Uint32Array;
}

/**
 * Options of {@linkcode recordIvfAssign}.
 *
 * @example Usage
 * ```ts ignore
 * recordIvfAssign(gpu, x, index, { idx, score }, { encoder, nprobe: 16, withPrevious: true });
 * ```
 */
export interface RecordIvfAssignOptions extends Omit<IvfAssignOptions, "previous"> {
  /** The encoder to record into (the caller submits it). */
  encoder: GPUCommandEncoder;
  /**
   * `out.idx` already holds a previous assignment (k-means: the last iteration's), and each
   * row also scores that center (an index ≥ K is skipped). A row then never ends worse off
   * than staying, so Lloyd's objective still never gets worse from one iteration to the
   * next, and a miss of the probe costs at most what the centers' move costs.
   * @default {false}
   */
  withPrevious?: boolean;
}

/** Per row chunk output buffers of an assignment, as k-means' AssignOutputs holds them. */
export interface IvfAssignOutputs {
  /** Best center per row, one `u32` buffer per row chunk of `x`. */
  idx: GPUBuffer[];
  /** Its score per row (cosine / inner product, or squared L2 distance), one `f32` buffer per chunk. */
  score: GPUBuffer[];
}

/**
 * Records the approximate nearest-center assignment of every row of `x` into `encoder`:
 * a drop-in for k-means' fused assignment pass (`recordAssign` in src/kmeans/_assign_programs.ts).
 * Same rows (the GpuMatrix chunks, stride = padded width, f32 or f16 as the index, unit
 * rows for cosine), same outputs (per row chunk: the index and the score of the best center,
 * ties to the lower index; the score is the dot product for cosine / ip, the squared L2
 * distance max(0, ‖x‖² − 2(x·c − 0.5‖c‖²)) for l2, computed as the exact registers kernel
 * does). Each row scores only the centers of its `nprobe` best cells; `nprobe = cells`
 * gives the exact assignment bit for bit.
 *
 * @param gpu The GPU context.
 * @param x Rows on the GPU in the index's layout.
 * @param index The center index (rebuilt after its centers change: `index.rebuild(encoder)`).
 * @param out One idx and one score buffer per row chunk of `x`.
 * @param options The `encoder` to record into, `nprobe`, `batchRows` and `withPrevious`
 * ({@linkcode RecordIvfAssignOptions}).
 * @throws {TypeError} When `x` is not in the index's layout.
 * @throws {RangeError} For `nprobe` out of range.
 *
 * @example Usage
 * ```ts ignore
 * index.rebuild(enc);
 * recordIvfAssign(gpu, x, index, { idx, score }, { encoder: enc, nprobe: 16 });
 * ```
 */
export function recordIvfAssign(
  gpu: Gpu,
  x: GpuMatrix,
  index: CenterIndex,
  out: IvfAssignOutputs,
  options: RecordIvfAssignOptions,
): void {
  checkOptionsObject("recordIvfAssign", options, "{ encoder, nprobe: 16 }");
  checkRows(index, x, "x");
  if (out.idx.length !== x.chunks.length || out.score.length !== x.chunks.length) {
    throw new TypeError(
      `Expected one idx and one score buffer per row chunk (${x.chunks.length}) but found ${out.idx.length} and ${out.score.length}`,
    );
  }
  const sizes = searchSizes(gpu, index, options.nprobe, options.batchRows, 1);
  const previous = options.withPrevious ?? false;
  const { encoder } = options;
  recordSearch(gpu, index, x, 1, sizes, { a: out.idx, b: out.score }, encoder, previous);
}

/**
 * Approximate nearest center of every row (see {@linkcode recordIvfAssign}), read back.
 *
 * @param gpu The GPU context.
 * @param x `n × d` rows: a host Matrix (uploaded as the index needs: padded, f16 when the
 * index is, normalised for cosine) or a GpuMatrix in the index's layout.
 * @param index The center index.
 * @param options `nprobe`, `batchRows` and `previous` ({@linkcode IvfAssignOptions}).
 * @returns For each row the best center found and its score, as `assignNearest` returns them.
 * @throws {TypeError} When `x` is malformed or its width differs from the centers'.
 * @throws {RangeError} For NaN/±Infinity values or `nprobe` out of range.
 *
 * @example Usage
 * ```ts ignore
 * const index = buildCenterIndex(gpu, centers);
 * const { assignments, scores } = await ivfAssign(gpu, x, index, { nprobe: 16 });
 * ```
 */
export async function ivfAssign(
  gpu: Gpu,
  x: Matrix | GpuMatrix,
  index: CenterIndex,
  options: IvfAssignOptions = {},
): Promise<{ assignments: Uint32Array; scores: Float32Array }> {
  checkOptionsObject("ivfAssign", options, "{ nprobe: 16 }");
  if (!isGpuMatrix(x)) {
    checkMatrix(x, "x");
    if (x.cols !== index.cols) {
      throw new TypeError(
        `Expected x to have ${index.cols} columns like the centers but found ${x.cols}`,
      );
    }
    checkFinite(x, "x");
  }
  const sizes = searchSizes(gpu, index, options.nprobe, options.batchRows, 1);
  const { previous } = options;
  if (
    previous !== undefined && (!(previous instanceof Uint32Array) || previous.length !== x.rows)
  ) {
    throw new TypeError(`Expected previous to be a Uint32Array of ${x.rows} centers`);
  }
  if (x.rows === 0) return { assignments: new Uint32Array(0), scores: new Float32Array(0) };
  const rows = isGpuMatrix(x) ? x : uploadMatrix(gpu, x, {
    label: "ivf.x",
    stride: index.store.dp,
    dtype: index.f16 ? "f16" : "f32",
    normalize: index.metric === "cosine",
  });
  const idx = rows.chunks.map((c) => createStorage(gpu, c.rows * 4, "ivf.assign"));
  const score = rows.chunks.map((c) => createStorage(gpu, c.rows * 4, "ivf.score"));
  try {
    checkRows(index, rows, "x");
    if (previous) {
      rows.chunks.forEach((c, i) => {
        const part = previous.slice(c.rowStart, c.rowStart + c.rows);
        if (c.rows) gpu.device.queue.writeBuffer(idx[i]!, 0, part);
      });
    }
    const enc = gpu.device.createCommandEncoder({ label: "ivf.assign" });
    recordSearch(gpu, index, rows, 1, sizes, { a: idx, b: score }, enc, previous !== undefined);
    return await readAssignOutputs(gpu, rows, { idx, score }, enc);
  } finally {
    if (rows !== x) rows.destroy();
    for (const b of [...idx, ...score]) b.destroy();
  }
}
