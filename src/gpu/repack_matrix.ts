// New GpuMatrix layouts without a trip through the host: a GPU re-pack or gather of another
// GpuMatrix, a view of an existing buffer, and the lease a kernel takes of its input rows.
import type { Matrix } from "../matrix/matrix.ts";
import type { Gpu } from "./gpu.ts";
import { upload } from "./buffers.ts";
import { PACK, recordPackRows } from "./pack_rows.ts";
import { submit } from "./program.ts";
import {
  checkGpuMatrixLayout,
  createGpuMatrix,
  type GpuMatrix,
  type GpuMatrixDtype,
  isGpuMatrix,
} from "./create_gpu_matrix.ts";
import { checkRowIndex, uploadMatrix, type UploadMatrixOptions } from "./upload_matrix.ts";

/**
 * A new {@linkcode GpuMatrix} made from another on the GPU, without a trip through the host:
 * a row subset or permutation (`index`, a GPU gather), another stride, dtype or chunking, or
 * L2-normalised rows, by the same packing kernel as {@linkcode uploadMatrix}.
 *
 * @param gpu The GPU context.
 * @param g The source matrix (left unchanged).
 * @param options The new layout and an optional row index ({@linkcode UploadMatrixOptions}).
 * @returns The new matrix (`normalized` when `g` was or `normalize` is set).
 * @throws {RangeError} For an index out of range or a bad layout.
 *
 * @example Usage
 * ```ts ignore
 * const sample = repackMatrix(gpu, g, { index: new Uint32Array([0, 5, 9]), dtype: "f16" });
 * ```
 */
export function repackMatrix(
  gpu: Gpu,
  g: GpuMatrix,
  options: UploadMatrixOptions = {},
): GpuMatrix {
  const index = checkRowIndex(options.index, g.rows);
  const n = index ? index.length : g.rows;
  const out = createGpuMatrix(gpu, n, g.cols, options);
  const indexBuffer = index && n > 0 ? upload(gpu, index, "repack.index") : undefined;
  const enc = gpu.device.createCommandEncoder({ label: "repack" });
  const flags = (options.normalize ? PACK.normalize : 0) | (g.dtype === "f16" ? PACK.srcF16 : 0) |
    (out.dtype === "f16" ? PACK.dstF16 : 0) | (index ? PACK.gather : 0);
  const common = { cols: g.cols, srcStride: g.stride, dstStride: out.stride, flags };
  for (const dc of out.chunks) {
    for (const sc of g.chunks) {
      if (index) {
        recordPackRows(gpu, {
          ...common,
          rows: dc.rows,
          srcRow0: sc.rowStart,
          srcRows: sc.rows,
          dstRow0: 0,
          rowBase: dc.rowStart,
          indexOff: dc.rowStart,
          src: sc.buffer,
          dst: dc.buffer,
          index: indexBuffer!,
        }, enc);
        continue;
      }
      const lo = Math.max(dc.rowStart, sc.rowStart);
      const hi = Math.min(dc.rowStart + dc.rows, sc.rowStart + sc.rows);
      if (hi <= lo) continue;
      recordPackRows(gpu, {
        ...common,
        rows: hi - lo,
        srcRow0: lo - sc.rowStart,
        srcRows: sc.rows,
        dstRow0: lo - dc.rowStart,
        rowBase: lo,
        indexOff: 0,
        src: sc.buffer,
        dst: dc.buffer,
      }, enc);
    }
  }
  submit(gpu, enc);
  indexBuffer?.destroy(); // after the submit: the queue finishes the work first
  out.normalized = g.normalized || (options.normalize ?? false);
  return out;
}

/** Shape of a {@linkcode gpuMatrixView}: what the wrapped buffer holds. */
export interface GpuMatrixViewOptions {
  /** Rows. */
  rows: number;
  /** Logical columns. */
  cols: number;
  /** Values stored per row. @default {cols} */
  stride?: number;
  /** Element type. @default {"f32"} */
  dtype?: GpuMatrixDtype;
  /** Whether the rows are already L2-normalised. @default {false} */
  normalized?: boolean;
}

/**
 * Wraps one existing buffer (e.g. a tfjs tensor's) as a single-chunk {@linkcode GpuMatrix}
 * without copying it; `destroy()` of the view leaves the buffer alone.
 *
 * @param buffer A storage buffer holding `rows × stride` values.
 * @param options The shape: `rows`, logical `cols`, `stride` (default `cols`), `dtype`
 * (default `"f32"`) and whether the rows are `normalized` (default false).
 * @returns The view.
 *
 * @example Usage
 * ```ts ignore
 * const e = gpuMatrixView(tensorBuffer, { rows: 256, cols: 128 });
 * ```
 */
export function gpuMatrixView(buffer: GPUBuffer, options: GpuMatrixViewOptions): GpuMatrix {
  const { rows, cols } = options;
  const { stride, dtype } = checkGpuMatrixLayout(cols, {
    stride: options.stride ?? cols,
    ...(options.dtype ? { dtype: options.dtype } : {}),
  });
  return {
    rows,
    cols,
    stride,
    dtype,
    normalized: options.normalized ?? false,
    chunks: [{ buffer, rowStart: 0, rows }],
    destroy() {},
  };
}

/** A {@linkcode GpuMatrix} borrowed or made for one kernel by {@linkcode useGpuMatrix}. */
export interface GpuMatrixLease {
  /** The matrix in the layout asked for. */
  matrix: GpuMatrix;
  /** Whether `matrix` was made for this use (uploaded or re-packed) rather than borrowed. */
  owned: boolean;
  /** Frees `matrix` when it was made for this use; a borrowed one stays. */
  release(): void;
}

/**
 * The rows of `x` on the GPU in the layout a kernel needs: a host Matrix is uploaded; a
 * {@linkcode GpuMatrix} is used as it is when its stride is a multiple of `align`, its dtype
 * matches, it is normalised when `normalize` asks for it and its chunks are small enough,
 * and otherwise re-packed on the GPU (never copied through the host).
 *
 * @param gpu The GPU context.
 * @param x Host or GPU rows.
 * @param options The layout the kernel needs ({@linkcode UploadMatrixOptions}; `align`
 * defaults to 4).
 * @returns The matrix and whether to free it.
 *
 * @example Usage
 * ```ts ignore
 * const lease = useGpuMatrix(gpu, x, { normalize: true });
 * try { run(lease.matrix); } finally { lease.release(); }
 * ```
 */
export function useGpuMatrix(
  gpu: Gpu,
  x: Matrix | GpuMatrix,
  options: UploadMatrixOptions = {},
): GpuMatrixLease {
  const lease = (matrix: GpuMatrix, owned: boolean): GpuMatrixLease => ({
    matrix,
    owned,
    release() {
      if (owned) matrix.destroy();
    },
  });
  if (!isGpuMatrix(x)) return lease(uploadMatrix(gpu, x, options), true);
  const align = options.align ?? 4;
  const fits = options.index === undefined && x.stride % align === 0 &&
    (options.stride === undefined || x.stride === options.stride) &&
    x.dtype === (options.dtype ?? "f32") && (!options.normalize || x.normalized) &&
    x.chunks.every((c) => c.rows <= (options.maxRowsPerChunk ?? Infinity));
  return fits ? lease(x, false) : lease(repackMatrix(gpu, x, options), true);
}
