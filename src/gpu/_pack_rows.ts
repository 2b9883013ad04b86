// The one row-packing kernel behind GpuMatrix: gather, L2-normalise, pad, convert f32/f16.
import code from "../../kernels/pack_rows.wgsl" with { type: "text" };
import type { Gpu } from "./gpu.ts";
import { dispatch, type Program, workgroupsFor } from "./program.ts";
import { uniformStruct } from "./uniforms.ts";

const PARAMS = uniformStruct({
  rows: "u32",
  cols: "u32",
  srcStride: "u32",
  dstStride: "u32",
  srcRow0: "u32",
  srcRows: "u32",
  dstRow0: "u32",
  rowBase: "u32",
  indexOff: "u32",
  flags: "u32",
});

/** Flag bits of the kernel (see kernels/pack_rows.wgsl). */
export const PACK = {
  normalize: 1,
  srcF16: 2,
  dstF16: 4,
  gather: 8,
  invNorm: 16,
  inPlace: 32,
  stats: 64,
  noWrite: 128,
} as const;

/** One dispatch of the packing kernel. */
export interface PackRowsPass {
  /** Output rows (invocations). */
  rows: number;
  /** Logical columns. */
  cols: number;
  /** Values per source row. */
  srcStride: number;
  /** Values per destination row (even for f16). */
  dstStride: number;
  /** Without gather: first source row in `src`; with gather: global row of `src`'s first row. */
  srcRow0: number;
  /** Rows held by `src` (gather: rows outside it are skipped). */
  srcRows: number;
  /** First destination row in `dst` (also indexes `invNorm`). */
  dstRow0: number;
  /** Global number of the first output row (for the statistics). */
  rowBase: number;
  /** First index entry (gather). */
  indexOff: number;
  /** {@linkcode PACK} bits. */
  flags: number;
  /** Source rows (f32, or f16 pairs with `srcF16`); unused in place. */
  src?: GPUBuffer;
  /** Destination rows (f32, or f16 pairs with `dstF16`); unused with `noWrite`. */
  dst?: GPUBuffer;
  /** Source row per output row (`gather`). */
  index?: GPUBuffer;
  /** One f32 per destination row (`invNorm`). */
  invNorm?: GPUBuffer;
  /**
   * Eight u32 (`stats`): max |value| bits, first zero row, first non-finite row, first row too
   * small to normalise, first row whose squared norm is beyond L2 distances, first row holding
   * a value beyond float16, two unused.
   */
  stats?: GPUBuffer;
}

const dummies = new WeakMap<GPUDevice, GPUBuffer[]>();

/** Four distinct 32-byte placeholders for unused bindings (writable ones must not alias). */
function placeholders(gpu: Gpu): GPUBuffer[] {
  let list = dummies.get(gpu.device);
  if (!list) {
    list = [0, 1, 2, 3].map((i) =>
      gpu.device.createBuffer({
        label: `pack_rows.unused${i}`,
        size: 32,
        usage: GPUBufferUsage.STORAGE,
      })
    );
    dummies.set(gpu.device, list);
  }
  return list;
}

/**
 * Records one dispatch of the row-packing kernel into `enc`.
 *
 * @param gpu The GPU context.
 * @param pass What to pack, and the buffers.
 * @param enc The encoder.
 */
export function recordPackRows(gpu: Gpu, pass: PackRowsPass, enc: GPUCommandEncoder): void {
  if (pass.rows === 0) return;
  const workgroupSize = 64;
  const program: Program = {
    shaderKey: "pack_rows",
    code,
    workgroupSize,
    workgroups: workgroupsFor({ workgroupSize }, pass.rows),
    uniformStruct: PARAMS,
    uniforms: PARAMS.pack(pass),
  };
  const [readOnly, dst, inv, stats] = placeholders(gpu) as [
    GPUBuffer,
    GPUBuffer,
    GPUBuffer,
    GPUBuffer,
  ];
  dispatch(gpu, program, [
    pass.src ?? readOnly,
    pass.dst ?? dst,
    pass.index ?? readOnly,
    pass.invNorm ?? inv,
    pass.stats ?? stats,
  ], enc);
}
