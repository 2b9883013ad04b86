// A GpuMatrix back to the host in one round trip.
import type { Matrix } from "../matrix/matrix.ts";
import type { Gpu } from "./gpu.ts";
import { readBack } from "./buffers.ts";
import { type GpuMatrix, gpuMatrixBytesPer } from "./create_gpu_matrix.ts";

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
  const unit = gpuMatrixBytesPer(g.dtype);
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
