import { checkMatrix, type Matrix } from "../matrix/matrix.ts";
import type { Gpu } from "./gpu.ts";
import { createStorage, readBack, upload } from "./buffers.ts";
import { PACK, recordPackRows } from "./_pack_rows.ts";
import { submit } from "./program.ts";

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

/** Options of {@linkcode uploadMatrix} and {@linkcode repackMatrix}. */
export interface UploadMatrixOptions extends GpuMatrixLayout {
  /** Take only these rows, in this order (e.g. a subsample). @default {undefined} */
  index?: Uint32Array;
}

/** Host staging per upload step, in bytes. */
const STAGING_BYTES = 16 << 20;

function bytesOf(dtype: GpuMatrixDtype): number {
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

function checkLayout(
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
  const { stride, dtype, per: cap } = checkLayout(cols, options);
  const label = options.label ?? "matrix";
  const rowBytes = stride * bytesOf(dtype);
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

function checkIndex(index: unknown, rows: number): Uint32Array | undefined {
  if (index === undefined) return undefined;
  if (!(index instanceof Uint32Array)) {
    throw new TypeError(
      `Expected index to be a Uint32Array but found ${
        (index as object)?.constructor?.name ?? index
      }`,
    );
  }
  for (let i = 0; i < index.length; i++) {
    if (index[i]! >= rows) {
      throw new RangeError(
        `Expected index[${i}] to be a row in [0, ${rows - 1}] but found ${index[i]}`,
      );
    }
  }
  return index;
}

/**
 * Uploads a host {@linkcode Matrix} (all rows, or those listed in `index`) to the GPU once:
 * zero-padded to the stride, in binding-sized chunks, and, when asked, converted to packed
 * f16 and L2-normalised on the GPU by the one row-packing kernel (host staging stays under
 * 16 MiB at a time). The values are checked finite on the way.
 *
 * @param gpu The GPU context.
 * @param m The matrix.
 * @param options Label, chunking, stride, dtype, normalisation and row index
 * ({@linkcode UploadMatrixOptions}).
 * @returns The GPU matrix; call `destroy()` when done.
 * @throws {TypeError} When `m` is not a well-formed Matrix or `index` not a Uint32Array.
 * @throws {RangeError} For a NaN/±Infinity value (naming the row and column), an index out
 * of range or a bad layout.
 *
 * @example Usage
 * ```ts ignore
 * const g = uploadMatrix(gpu, { data: new Float32Array(6), rows: 3, cols: 2 }, { normalize: true });
 * ```
 */
export function uploadMatrix(gpu: Gpu, m: Matrix, options: UploadMatrixOptions = {}): GpuMatrix {
  checkMatrix(m, options.label ?? "the matrix");
  const index = checkIndex(options.index, m.rows);
  const d = m.cols;
  const n = index ? index.length : m.rows;
  const g = createGpuMatrix(gpu, n, d, options);
  const direct = g.dtype === "f32" && !options.normalize;
  // Direct: rows padded to the stride on the host, written in place. Otherwise raw rows go
  // through a GPU staging buffer into the packing kernel.
  const width = direct ? g.stride : d;
  const perChunk = Math.max(...g.chunks.map((c) => c.rows), 1);
  const block = Math.max(
    1,
    Math.min(perChunk, Math.floor(STAGING_BYTES / (width * 4)), rowsPerBinding(gpu, width)),
  );
  const host = new Float32Array(Math.min(block, Math.max(n, 1)) * width);
  const staging = direct || n === 0 ? null : createStorage(gpu, host.byteLength, "upload.staging");
  try {
    for (const c of g.chunks) {
      for (let b = 0; b < c.rows; b += block) {
        const rows = Math.min(block, c.rows - b);
        const part = host.subarray(0, rows * width);
        for (let r = 0; r < rows; r++) {
          const at = c.rowStart + b + r;
          const row = index ? index[at]! : at;
          const src = row * d;
          for (let j = 0; j < d; j++) {
            const v = m.data[src + j]!;
            if (!Number.isFinite(v)) {
              throw new RangeError(
                `Expected finite values in ${
                  options.label ?? "the matrix"
                } but found ${v} at row ${row}, column ${j}`,
              );
            }
            part[r * width + j] = v;
          }
          if (width > d) part.fill(0, r * width + d, (r + 1) * width);
        }
        if (!staging) {
          gpu.device.queue.writeBuffer(c.buffer, b * g.stride * 4, part);
          continue;
        }
        gpu.device.queue.writeBuffer(staging, 0, part);
        const enc = gpu.device.createCommandEncoder({ label: "upload" });
        recordPackRows(gpu, {
          rows,
          cols: d,
          srcStride: d,
          dstStride: g.stride,
          srcRow0: 0,
          srcRows: rows,
          dstRow0: b,
          rowBase: c.rowStart + b,
          indexOff: 0,
          flags: (options.normalize ? PACK.normalize : 0) |
            (g.dtype === "f16" ? PACK.dstF16 : 0),
          src: staging,
          dst: c.buffer,
        }, enc);
        submit(gpu, enc);
      }
    }
  } catch (e) {
    g.destroy();
    throw e;
  } finally {
    staging?.destroy();
  }
  g.normalized = options.normalize ?? false;
  return g;
}

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
  const index = checkIndex(options.index, g.rows);
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

/** What {@linkcode matrixStats} finds in a {@linkcode GpuMatrix}. */
export interface GpuMatrixStats {
  /** Largest absolute value among the finite rows (0 for an empty matrix). */
  maxAbs: number;
  /** First all-zero row, or -1. */
  firstZeroRow: number;
  /** First row holding NaN or ±Infinity, or -1. */
  firstNonFiniteRow: number;
}

/**
 * Scans a {@linkcode GpuMatrix} on the GPU (one pass of the packing kernel, 16 bytes read
 * back): its largest absolute value, first all-zero row and first non-finite row.
 *
 * @param gpu The GPU context.
 * @param g The matrix.
 * @returns The statistics.
 *
 * @example Usage
 * ```ts ignore
 * const { maxAbs, firstZeroRow } = await matrixStats(gpu, g);
 * ```
 */
export async function matrixStats(gpu: Gpu, g: GpuMatrix): Promise<GpuMatrixStats> {
  const stats = upload(gpu, new Uint32Array([0, 0xffffffff, 0xffffffff, 0]), "matrix_stats");
  try {
    const enc = gpu.device.createCommandEncoder({ label: "matrix_stats" });
    for (const c of g.chunks) {
      recordPackRows(gpu, {
        rows: c.rows,
        cols: g.cols,
        srcStride: g.stride,
        dstStride: g.stride,
        srcRow0: 0,
        srcRows: c.rows,
        dstRow0: 0,
        rowBase: c.rowStart,
        indexOff: 0,
        flags: PACK.stats | PACK.noWrite | (g.dtype === "f16" ? PACK.srcF16 : 0),
        src: c.buffer,
        stats,
      }, enc);
    }
    const [raw] = await readBack(gpu, [{ buffer: stats, bytes: 16 }], enc);
    const u = new Uint32Array(raw!);
    const row = (v: number) => (v === 0xffffffff ? -1 : v);
    return {
      maxAbs: new Float32Array(u.buffer, 0, 1)[0]!,
      firstZeroRow: row(u[1]!),
      firstNonFiniteRow: row(u[2]!),
    };
  } finally {
    stats.destroy();
  }
}

/**
 * The GPU counterpart of `checkRows` (matrix.ts), with its messages: throws a RangeError
 * naming the first row of `g` holding NaN/±Infinity or, with `nonZero` (why the rows are
 * normalised, e.g. `"cosine similarity"`), the first all-zero row. One scan on the GPU.
 *
 * @param gpu The GPU context.
 * @param g The matrix.
 * @param name What to call the matrix in the message.
 * @param options `nonZero`, as for `checkRows`.
 * @returns The scan's statistics (e.g. `maxAbs`).
 *
 * @example Usage
 * ```ts ignore
 * const { maxAbs } = await checkGpuRows(gpu, g, "x", { nonZero: "cosine k-means" });
 * ```
 */
export async function checkGpuRows(
  gpu: Gpu,
  g: GpuMatrix,
  name: string,
  options: { nonZero?: string } = {},
): Promise<GpuMatrixStats> {
  const stats = await matrixStats(gpu, g);
  if (stats.firstNonFiniteRow >= 0) {
    throw new RangeError(
      `Expected finite values in ${name} but found NaN or ±Infinity at row ${stats.firstNonFiniteRow}`,
    );
  }
  if (options.nonZero && stats.firstZeroRow >= 0) {
    throw new RangeError(
      `Cannot L2-normalise ${name} for ${options.nonZero}: row ${stats.firstZeroRow} is all zeros`,
    );
  }
  return stats;
}

/**
 * Reads a {@linkcode GpuMatrix} back to the host in one round trip (`rows × cols` float32,
 * the padding dropped, f16 widened).
 *
 * @param gpu The GPU context.
 * @param g The GPU matrix.
 * @returns The matrix.
 *
 * @example Usage
 * ```ts ignore
 * const m = await downloadMatrix(gpu, g);
 * ```
 */
export async function downloadMatrix(gpu: Gpu, g: GpuMatrix): Promise<Matrix> {
  const unit = bytesOf(g.dtype);
  const parts = await readBack(
    gpu,
    g.chunks.map((c) => ({ buffer: c.buffer, bytes: c.rows * g.stride * unit })),
  );
  const data = new Float32Array(g.rows * g.cols);
  g.chunks.forEach((c, i) => {
    const raw = parts[i]!;
    const v: ArrayLike<number> = g.dtype === "f16" ? halves(raw) : new Float32Array(raw);
    for (let r = 0; r < c.rows; r++) {
      const o = (c.rowStart + r) * g.cols;
      for (let j = 0; j < g.cols; j++) data[o + j] = v[r * g.stride + j]!;
    }
  });
  return { data, rows: g.rows, cols: g.cols };
}

function halves(raw: ArrayBuffer): ArrayLike<number> {
  const F16 = (globalThis as { Float16Array?: new (b: ArrayBuffer) => ArrayLike<number> })
    .Float16Array;
  if (!F16) throw new Error("Float16Array is not available in this runtime");
  return new F16(raw);
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
  const { stride, dtype } = checkLayout(cols, {
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
