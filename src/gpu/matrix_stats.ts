// Scans of a GpuMatrix on the GPU: its largest value, first all-zero and first non-finite
// row (one pass of the packing kernel), and the row checks built on them.
import type { Gpu } from "./gpu.ts";
import { readBack, upload } from "./buffers.ts";
import { PACK, recordPackRows } from "./_pack_rows.ts";
import type { GpuMatrix } from "./create_gpu_matrix.ts";
import { ROW_LIMITS } from "../matrix/matrix.ts";

/** What {@linkcode matrixStats} finds in a {@linkcode GpuMatrix}. */
export interface GpuMatrixStats {
  /** Largest absolute value among the finite rows (0 for an empty matrix). */
  maxAbs: number;
  /** First all-zero row, or -1. */
  firstZeroRow: number;
  /** First row holding NaN or ±Infinity, or -1. */
  firstNonFiniteRow: number;
  /**
   * First row that is not all zeros but whose largest |value| is below
   * `ROW_LIMITS.minNormalizable` (2^-102; it counts as a zero row), or -1.
   */
  firstTinyRow: number;
  /** First finite row whose squared norm exceeds `ROW_LIMITS.l2SquaredNormMax`, or -1. */
  firstHugeNormRow: number;
  /** First finite row holding a value beyond float16 (|value| > 65504), or -1. */
  firstBeyondF16Row: number;
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
  const none = 0xffffffff;
  const stats = upload(
    gpu,
    new Uint32Array([0, none, none, none, none, none, 0, 0]),
    "matrix_stats",
  );
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
    const [raw] = await readBack(gpu, [{ buffer: stats, bytes: 32 }], enc);
    const u = new Uint32Array(raw!);
    const row = (v: number) => (v === none ? -1 : v);
    return {
      maxAbs: new Float32Array(u.buffer, 0, 1)[0]!,
      firstZeroRow: row(u[1]!),
      firstNonFiniteRow: row(u[2]!),
      firstTinyRow: row(u[3]!),
      firstHugeNormRow: row(u[4]!),
      firstBeyondF16Row: row(u[5]!),
    };
  } finally {
    stats.destroy();
  }
}

/**
 * The GPU counterpart of `checkRows` (matrix.ts), with its messages and its limits
 * (`ROW_LIMITS`): throws a RangeError naming the first row of `g` holding NaN/±Infinity or,
 * with `nonZero` (why the rows are normalised, e.g. `"cosine similarity"`), the first
 * all-zero or as good as zero row; with `f16`, the first row holding a value beyond float16;
 * with `l2`, the first row whose squared norm is beyond float32 distances. One scan on the GPU.
 *
 * @param gpu The GPU context.
 * @param g The matrix.
 * @param name What to call the matrix in the message.
 * @param options `nonZero`, `f16` and `l2`, as for `checkRows`.
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
  options: { nonZero?: string; f16?: string; l2?: string } = {},
): Promise<GpuMatrixStats> {
  const stats = await matrixStats(gpu, g);
  const { nonZero, f16, l2 } = options;
  if (stats.firstNonFiniteRow >= 0) {
    throw new RangeError(
      `Expected finite values in ${name} but found NaN or ±Infinity at row ${stats.firstNonFiniteRow}`,
    );
  }
  const zero = stats.firstZeroRow, tiny = stats.firstTinyRow;
  if (nonZero && (zero >= 0 || tiny >= 0)) {
    const row = tiny < 0 || (zero >= 0 && zero < tiny) ? zero : tiny;
    throw new RangeError(
      `Cannot L2-normalise ${name} for ${nonZero}: row ${row} is all zeros${
        row === tiny ? " or as good as (its largest |value| is below 2^-102)" : ""
      }`,
    );
  }
  if (f16 && stats.firstBeyondF16Row >= 0) {
    throw new RangeError(
      `Cannot store ${name} as float16 for ${f16}: row ${stats.firstBeyondF16Row} holds a value beyond float16's largest value 65504`,
    );
  }
  if (l2 && stats.firstHugeNormRow >= 0) {
    throw new RangeError(
      `Cannot use ${name} for ${l2}: row ${stats.firstHugeNormRow} has a squared norm beyond ${ROW_LIMITS.l2SquaredNormMax} where float32 squared distances overflow`,
    );
  }
  return stats;
}
