import code from "../../kernels/normalize_rows.wgsl" with { type: "text" };
import type { Gpu } from "./gpu.ts";
import type { GpuMatrix } from "./gpu_matrix.ts";
import { dispatch, type Program, submit, workgroupsFor } from "./program.ts";
import { uniformStruct } from "./uniforms.ts";

const PARAMS = uniformStruct({ rows: "u32", d: "u32" });

/**
 * Program that scales `rows` rows of width `d` to unit L2 norm in place.
 *
 * @param rows Rows in the bound buffer.
 * @param d Row width.
 * @returns The program (bind the matrix buffer as its only storage binding).
 *
 * @example Usage
 * ```ts ignore
 * dispatch(gpu, normalizeRowsProgram(100, 64), [buffer]);
 * ```
 */
export function normalizeRowsProgram(rows: number, d: number): Program {
  const workgroupSize = 64;
  return {
    shaderKey: "normalize_rows",
    code,
    workgroupSize,
    workgroups: workgroupsFor({ workgroupSize }, rows),
    uniformStruct: PARAMS,
    uniforms: PARAMS.pack({ rows, d }),
  };
}

/**
 * L2-normalises every row of a {@linkcode GpuMatrix} in place on the GPU (zero rows
 * stay zero).
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
  for (const c of m.chunks) {
    if (c.rows > 0) dispatch(gpu, normalizeRowsProgram(c.rows, m.cols), [c.buffer], enc);
  }
  if (!encoder) submit(gpu, enc);
}
