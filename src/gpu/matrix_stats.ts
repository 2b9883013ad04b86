// Scans of a GpuMatrix on the GPU: its largest value, first all-zero and first non-finite
// row (one pass of the packing kernel), and the row checks built on them.
import type { Gpu } from "./gpu.ts";
import { readBack, upload } from "./buffers.ts";
import { PACK, recordPackRows } from "./_pack_rows.ts";
import type { GpuMatrix } from "./create_gpu_matrix.ts";

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
