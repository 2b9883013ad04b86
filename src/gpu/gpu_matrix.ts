import type { Matrix } from "../matrix/matrix.ts";
import type { Gpu } from "./gpu.ts";
import { createStorage, readBack } from "./buffers.ts";

/** Rows `[rowStart, rowStart + rows)` of a {@linkcode GpuMatrix} in one buffer. */
export interface GpuMatrixChunk {
  /** Storage buffer holding `rows × cols` float32 values, row-major. */
  buffer: GPUBuffer;
  /** First row held by this chunk. */
  rowStart: number;
  /** Rows held by this chunk. */
  rows: number;
}

/**
 * A float32 matrix on the GPU, split into row chunks that each fit one storage binding
 * (`gpu.maxBindingBytes`), so matrices past the 128 MiB default and the 2 GiB wgpu cap
 * work. Kernels dispatch once per chunk.
 */
export interface GpuMatrix {
  /** Total rows. */
  rows: number;
  /** Columns. */
  cols: number;
  /** Row chunks in order; at least one (possibly of zero rows). */
  chunks: GpuMatrixChunk[];
  /** Frees every chunk's buffer. */
  destroy(): void;
}

/**
 * Largest number of rows of `cols` float32 values that fit one storage binding.
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
 * Allocates a chunked float32 matrix on the GPU (contents undefined).
 *
 * @param gpu The GPU context.
 * @param rows Rows.
 * @param cols Columns.
 * @param label Debug label.
 * @param maxRowsPerChunk Cap on rows per chunk (defaults to what fits one binding).
 * @returns The GPU matrix.
 *
 * @example Usage
 * ```ts ignore
 * const g = createGpuMatrix(gpu, 1000, 64);
 * ```
 */
export function createGpuMatrix(
  gpu: Gpu,
  rows: number,
  cols: number,
  label = "matrix",
  maxRowsPerChunk?: number,
): GpuMatrix {
  const per = Math.min(rowsPerBinding(gpu, cols), maxRowsPerChunk ?? Infinity);
  const chunks: GpuMatrixChunk[] = [];
  for (let start = 0; start < rows || chunks.length === 0; start += per) {
    const n = Math.min(per, rows - start);
    chunks.push({
      buffer: createStorage(gpu, n * cols * 4, `${label}[${start}..${start + n})`),
      rowStart: start,
      rows: n,
    });
    if (rows === 0) break;
  }
  return {
    rows,
    cols,
    chunks,
    destroy() {
      for (const c of chunks) c.buffer.destroy();
    },
  };
}

/**
 * Uploads a {@linkcode Matrix} to the GPU in binding-sized row chunks.
 *
 * @param gpu The GPU context.
 * @param m The matrix.
 * @param label Debug label.
 * @param maxRowsPerChunk Cap on rows per chunk.
 * @returns The GPU matrix.
 *
 * @example Usage
 * ```ts ignore
 * const g = uploadMatrix(gpu, { data: new Float32Array(6), rows: 3, cols: 2 });
 * ```
 */
export function uploadMatrix(
  gpu: Gpu,
  m: Matrix,
  label = "matrix",
  maxRowsPerChunk?: number,
): GpuMatrix {
  const g = createGpuMatrix(gpu, m.rows, m.cols, label, maxRowsPerChunk);
  for (const c of g.chunks) {
    if (c.rows === 0) continue;
    gpu.device.queue.writeBuffer(
      c.buffer,
      0,
      m.data as Float32Array<ArrayBuffer>,
      c.rowStart * m.cols,
      c.rows * m.cols,
    );
  }
  return g;
}

/**
 * Reads a {@linkcode GpuMatrix} back to the host in one round trip.
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
  const parts = await readBack(
    gpu,
    g.chunks.map((c) => ({ buffer: c.buffer, bytes: c.rows * g.cols * 4 })),
  );
  const data = new Float32Array(g.rows * g.cols);
  g.chunks.forEach((c, i) => data.set(new Float32Array(parts[i]!), c.rowStart * g.cols));
  return { data, rows: g.rows, cols: g.cols };
}
