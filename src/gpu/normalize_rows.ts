import type { Gpu } from "./gpu.ts";
import type { GpuMatrix } from "./gpu_matrix.ts";
import { PACK, recordPackRows } from "./pack_rows.ts";
import { submit } from "./program.ts";

/**
 * L2-normalises every row of a {@linkcode GpuMatrix} in place on the GPU (zero rows stay
 * zero; f16 rows are normalised in f32 and stored back as halves), with the same packing
 * kernel {@linkcode uploadMatrix} uses, and marks it `normalized`.
 *
 * @param gpu The GPU context.
 * @param m The matrix.
 * @param encoder Encoder to record into (submitted at once when omitted).
 *
 * @example Usage
 * ```ts ignore
 * normalizeRowsGpu(gpu, uploadMatrix(gpu, x));
 * ```
 */
export function normalizeRowsGpu(gpu: Gpu, m: GpuMatrix, encoder?: GPUCommandEncoder): void {
  const enc = encoder ?? gpu.device.createCommandEncoder();
  const f16 = m.dtype === "f16" ? PACK.srcF16 | PACK.dstF16 : 0;
  for (const c of m.chunks) {
    recordPackRows(gpu, {
      rows: c.rows,
      cols: m.cols,
      srcStride: m.stride,
      dstStride: m.stride,
      srcRow0: 0,
      srcRows: c.rows,
      dstRow0: 0,
      rowBase: c.rowStart,
      indexOff: 0,
      flags: PACK.normalize | PACK.inPlace | f16,
      dst: c.buffer,
    }, enc);
  }
  if (!encoder) submit(gpu, enc);
  m.normalized = true;
}
