// The GpuMatrix type and its allocation: the one row store every kernel reads, its layout
// (stride, dtype, chunks that each fit one storage binding) and the checks of that layout.
import type { Gpu } from "./gpu.ts";
import { createStorage } from "./buffers.ts";

/** How a {@linkcode GpuMatrix} stores its values: float32, or IEEE halves packed in pairs. */
export type GpuMatrixDtype = "f32" | "f16";

/** Rows `[rowStart, rowStart + rows)` of a {@linkcode GpuMatrix} in one buffer. */
export interface GpuMatrixChunk {
  /** Storage buffer holding `rows × stride` values of the matrix's dtype, row-major. */
  buffer: GPUBuffer;
  /** First row held by this chunk. */
  rowStart: number;
  /** Rows held by this chunk. */
  rows: number;
}

/**
 * A matrix resident on the GPU, the one row store every kernel of the toolkit reads (k-means,
 * top-k, label assignment, the loss): `rows × cols` values stored `stride` values per row
 * (zero-padded past `cols`, e.g. to a multiple of 4 for vec4 loads), as float32 or packed f16,
 * optionally L2-normalised, and split into row chunks that each fit one storage binding
 * (`gpu.maxBindingBytes`), so matrices past lavapipe's 128 MiB and wgpu's 2 GiB caps work.
 * Kernels dispatch once per chunk. Make one with {@linkcode uploadMatrix}.
 *
 * @example Usage
 * ```ts ignore
 * const g = uploadMatrix(gpu, features, { normalize: true });
 * console.log(g.rows, g.cols, g.stride, g.dtype, g.normalized, g.chunks.length);
 * g.destroy();
 * ```
 */
export interface GpuMatrix {
  /** Total rows. */
  readonly rows: number;
  /** Logical columns. */
  readonly cols: number;
  /** Stored values per row (≥ cols; the values past `cols` are zero; even for f16). */
  readonly stride: number;
  /** Storage type of the values. */
  readonly dtype: GpuMatrixDtype;
  /** Whether every non-zero row has unit L2 norm (all-zero rows stay zero). */
  normalized: boolean;
  /** Row chunks in order; at least one (possibly of zero rows). */
  readonly chunks: GpuMatrixChunk[];
  /** Frees every chunk's buffer. */
  destroy(): void;
}

/** Layout of a {@linkcode GpuMatrix} to create (see {@linkcode uploadMatrix}). */
export interface GpuMatrixLayout {
  /** Debug label of the buffers. @default {"matrix"} */
  label?: string;
  /** Cap on rows per chunk (chunks also never exceed one binding). @default {undefined} */
  maxRowsPerChunk?: number;
  /** Stored values per row, at least `cols` (even for f16). @default {cols rounded up to `align`} */
  stride?: number;
  /** The default stride is `cols` rounded up to a multiple of this. @default {4} */
  align?: number;
  /** Storage type. @default {"f32"} */
  dtype?: GpuMatrixDtype;
  /** L2-normalise every row on the GPU (all-zero rows stay zero). @default {false} */
  normalize?: boolean;
}

/**
 * Bytes one stored value takes.
 *
 * @param dtype The storage type.
 * @returns 2 for f16, 4 for f32.
 *
 * @example Usage
 * ```ts
 * import { gpuMatrixBytesPer } from "./create_gpu_matrix.ts";
 * console.log(gpuMatrixBytesPer("f16")); // 2
 * ```
 */
export function gpuMatrixBytesPer(dtype: GpuMatrixDtype): number {
  return dtype === "f16" ? 2 : 4;
}

/**
 * Largest number of rows of `cols` float32 values (or of `bytesPerRow` bytes) that fit one
 * storage binding.
 *
 * @param gpu The GPU context.
 * @param cols Columns per row.
 * @param bytesPerRow Bytes one row takes (default `cols × 4`).
 * @returns Rows per chunk, at least 1.
 * @throws {RangeError} When a single row does not fit one binding.
 *
 * @example Usage
 * ```ts ignore
 * const rows = rowsPerBinding(gpu, 768);
 * ```
 */
export function rowsPerBinding(gpu: Gpu, cols: number, bytesPerRow: number = cols * 4): number {
  const rows = Math.floor(gpu.maxBindingBytes / bytesPerRow);
  if (rows < 1) {
    throw new RangeError(
      `Cannot bind a row of ${cols} columns (${bytesPerRow} bytes): the storage binding limit is ${gpu.maxBindingBytes} bytes`,
    );
  }
  return rows;
}

/**
 * Resolves and checks a layout for rows of `cols` values: the stride (default `cols` rounded
 * up to `align`, even for f16), the dtype and the cap on rows per chunk.
 *
 * @param cols Logical columns.
 * @param o The layout asked for.
 * @returns The stride, dtype and rows-per-chunk cap (`Infinity` without one).
 * @throws {TypeError} For an unknown dtype.
 * @throws {RangeError} For a bad `align`, `stride` or `maxRowsPerChunk`.
 *
 * @example Usage
 * ```ts
 * import { checkGpuMatrixLayout } from "./create_gpu_matrix.ts";
 * console.log(checkGpuMatrixLayout(5, { dtype: "f16" })); // { stride: 8, dtype: "f16", per: Infinity }
 * ```
 */
export function checkGpuMatrixLayout(
  cols: number,
  o: GpuMatrixLayout,
): { stride: number; dtype: GpuMatrixDtype; per: number } {
  const dtype = o.dtype ?? "f32";
  if (dtype !== "f32" && dtype !== "f16") {
    throw new TypeError(`Expected dtype to be "f32" or "f16" but found ${JSON.stringify(dtype)}`);
  }
  const align = o.align ?? 4;
  if (!Number.isInteger(align) || align < 1) {
    throw new RangeError(`Expected align to be a positive integer but found ${align}`);
  }
  let stride = o.stride ?? Math.ceil(cols / align) * align;
  if (o.stride === undefined && dtype === "f16") stride += stride % 2;
  if (!Number.isInteger(stride) || stride < cols || (dtype === "f16" && stride % 2 !== 0)) {
    throw new RangeError(
      `Expected stride to be an integer ≥ cols = ${cols}${
        dtype === "f16" ? " and even for f16" : ""
      } but found ${stride}`,
    );
  }
  const per = o.maxRowsPerChunk ?? Infinity;
  if (per !== Infinity && (!Number.isInteger(per) || per < 1)) {
    throw new RangeError(`Expected maxRowsPerChunk to be a positive integer but found ${per}`);
  }
  return { stride, dtype, per };
}

/**
 * Allocates a chunked {@linkcode GpuMatrix} (contents undefined; `normalized` false).
 *
 * @param gpu The GPU context.
 * @param rows Rows.
 * @param cols Logical columns.
 * @param options Stride, dtype, chunking and label ({@linkcode GpuMatrixLayout}; `normalize`
 * is ignored).
 * @returns The GPU matrix.
 * @throws {RangeError} When the stride is below `cols` (or odd for f16), or one row does not
 * fit a binding.
 *
 * @example Usage
 * ```ts ignore
 * const g = createGpuMatrix(gpu, 1000, 64, { dtype: "f16" });
 * ```
 */
export function createGpuMatrix(
  gpu: Gpu,
  rows: number,
  cols: number,
  options: GpuMatrixLayout = {},
): GpuMatrix {
  const { stride, dtype, per: cap } = checkGpuMatrixLayout(cols, options);
  const label = options.label ?? "matrix";
  const rowBytes = stride * gpuMatrixBytesPer(dtype);
  const per = Math.min(rowsPerBinding(gpu, cols, rowBytes), cap);
  const chunks: GpuMatrixChunk[] = [];
  for (let start = 0; start < rows || chunks.length === 0; start += per) {
    const n = Math.min(per, rows - start);
    chunks.push({
      buffer: createStorage(gpu, n * rowBytes, `${label}[${start}..${start + n})`),
      rowStart: start,
      rows: n,
    });
    if (rows === 0) break;
  }
  return {
    rows,
    cols,
    stride,
    dtype,
    normalized: false,
    chunks,
    destroy() {
      for (const c of chunks) c.buffer.destroy();
    },
  };
}

/**
 * Whether `x` is a {@linkcode GpuMatrix} (rather than a host `Matrix`).
 *
 * @param x A value.
 * @returns True for a GPU matrix.
 *
 * @example Usage
 * ```ts ignore
 * if (isGpuMatrix(x)) console.log(x.chunks.length);
 * ```
 */
export function isGpuMatrix(x: unknown): x is GpuMatrix {
  return x !== null && typeof x === "object" && Array.isArray((x as GpuMatrix).chunks) &&
    typeof (x as GpuMatrix).stride === "number" && typeof (x as GpuMatrix).dtype === "string";
}
