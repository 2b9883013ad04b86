// Private: the exact assignment of k-means, the fused nearest-centroid kernels (similarity
// GEMM + per-row argmax, never storing n × k) over row chunks (a GpuMatrix, stride =
// paddedWidth(d)) × centroid blocks, and the AssignmentStep built on them.
import registersCode from "../../kernels/kmeans_assign_registers.wgsl" with { type: "text" };
import tiledCode from "../../kernels/kmeans_assign_tiled.wgsl" with { type: "text" };
import type { Gpu } from "../gpu/gpu.ts";
import { specialize, uniformBlockRows } from "../gpu/template.ts";
import { type Binding, dispatch, foldDispatch, type Program } from "../gpu/program.ts";
import { uniformStruct } from "../gpu/uniforms.ts";
import type { GpuMatrix } from "../gpu/gpu_matrix.ts";
import { type CentroidStore, f32Binding, packedCentroidBlocks } from "./centroid_store.ts";
import type { AssignmentStep, AssignOutputs } from "./assignment_step.ts";
import {
  assignSlices,
  recordSliced,
  SLICED_ROWS,
  slicedFits,
  storageTags,
} from "./_assign_sliced.ts";

/** Resolved kernel design. */
export type Variant = "registers" | "tiled";

/**
 * A resolved assignment kernel: the design and, for "registers", the rows each
 * invocation holds (0: the default of {@linkcode registerRows}).
 */
export type AssignKernel = {
  /** Kernel design. */
  variant: Variant;
  /** Rows per invocation of the register kernel; 0 for the default (and for "tiled"). */
  rows: number;
};

/**
 * Rows per invocation of the registers kernel for padded width `dp`: R × dp/4 ≤ 128 (more
 * spills and compiles slowly on lavapipe), or ≤ 256 when it reads packed f16 centroids
 * (half the centroid loads per FMA, so the extra rows pay off). Rows walked in slices
 * (`sliced`, see {@linkcode assignSlices}) hold {@linkcode SLICED_ROWS} rows of one slice.
 */
export function registerRows(dp: number, f16: boolean, sliced = false): number {
  if (sliced) return SLICED_ROWS;
  const cap = packedCentroidBlocks(dp, f16) ? 256 : 128;
  return Math.max(1, Math.min(f16 ? 12 : 16, Math.floor(cap / (dp / 4))));
}

const ASSIGN_REGISTERS_PARAMS = uniformStruct({
  rows: "u32",
  k: "u32",
  kBase: "u32",
  flags: "u32",
  cnOff: "u32",
});
const ASSIGN_TILED_PARAMS = uniformStruct({
  rows: "u32",
  k: "u32",
  kBase: "u32",
  flags: "u32",
  cnOff: "u32",
  d4: "u32",
});

/** One dispatch of the fused assignment: a row chunk × one block of centroids. */
export interface AssignShape {
  /** Kernel design. */
  variant: Variant;
  /** Rows in the bound row chunk. */
  rows: number;
  /** Centroids in the bound block. */
  k: number;
  /** Global index of the block's first centroid. */
  kBase: number;
  /** Index of the block's first centroid in its chunk's 0.5‖c‖² buffer. */
  cnOff: number;
  /** Padded row width (a multiple of 4). */
  dp: number;
  /** Rows stored as packed f16 (and centroids too, where the kernel reads the packed copy). */
  f16: boolean;
  /** The first block for these rows: the running best starts afresh (else it is read back). */
  first: boolean;
  /** The last block: the final score is written (l2: the best turned into a distance). */
  last: boolean;
  /** Cosine (score = x·c) rather than l2. */
  spherical: boolean;
  /** Rows per invocation of the register kernel; 0 or absent: {@linkcode registerRows}. */
  rowsPerInvocation?: number;
}

/**
 * Program of one fused assignment pass over a row chunk × a block of centroids (bind rows,
 * centroids, their 0.5‖c‖², best indices, best scores). The shader key names every choice
 * baked into the code: the design, and for "registers" the rows per invocation (R), the
 * centroid units per row (D4: vec4s, or eight packed halves), the centroid units per block
 * (CU) and the storage of rows and centroids. Sizes and the first/last/metric flags are
 * uniforms (flags: bit 0 first block, bit 1 last block, bit 2 cosine).
 */
export function assignProgram(s: AssignShape): Program {
  const { rows, k, kBase, cnOff, dp, f16 } = s;
  const d4 = dp / 4;
  const flags = (s.first ? 1 : 0) | (s.last ? 2 : 0) | (s.spherical ? 4 : 0);
  if (s.variant === "registers") {
    const rpi = s.rowsPerInvocation ?? 0;
    const R = rpi > 0 ? rpi : registerRows(dp, f16);
    const packed = packedCentroidBlocks(dp, f16);
    const units = packed ? dp / 8 : d4;
    const CU = uniformBlockRows(dp, packed) * units;
    const tags = [...storageTags(dp, f16), "whole", "fin"];
    const storage = `rows=${f16 ? "f16" : "f32"}:centroids=${packed ? "f16" : "f32"}`;
    return {
      shaderKey: `kmeans_assign_registers:R${R}:D4=${units}:CU${CU}:${storage}`,
      code: () => specialize(registersCode, f16, { R, D4: units, CU }, tags),
      workgroupSize: 64, // R rows per invocation
      workgroups: foldDispatch(Math.ceil(rows / (64 * R))),
      uniformStruct: ASSIGN_REGISTERS_PARAMS,
      uniforms: ASSIGN_REGISTERS_PARAMS.pack({ rows, k, kBase, flags, cnOff }),
    };
  }
  const storage = f16 ? "f16" : "f32";
  return {
    shaderKey: `kmeans_assign_tiled:rows=${storage}:centroids=${storage}`,
    code: () => specialize(tiledCode, f16),
    workgroupSize: 64, // 32 rows per workgroup
    workgroups: foldDispatch(Math.ceil(rows / 32)),
    uniformStruct: ASSIGN_TILED_PARAMS,
    uniforms: ASSIGN_TILED_PARAMS.pack({ rows, k, kBase, flags, cnOff, d4 }),
  };
}

/**
 * Records the fused assignment of every row of `x` to its best centroid: one dispatch per
 * row chunk × centroid block (registers: 64 KiB uniform blocks; tiled: whole chunks), the
 * running best kept in `out` between blocks. Follows the contract of
 * {@linkcode AssignmentStep}.
 */
export function recordAssign(
  gpu: Gpu,
  kernel: Variant | AssignKernel,
  x: GpuMatrix,
  cents: CentroidStore,
  out: AssignOutputs,
  spherical: boolean,
  enc: GPUCommandEncoder,
): void {
  const packed = packedCentroidBlocks(x.stride, x.dtype === "f16");
  const kb = uniformBlockRows(x.stride, packed);
  const wanted = typeof kernel === "string" ? kernel : kernel.variant;
  const rowsPerInvocation = typeof kernel === "string" ? 0 : kernel.rows;
  const slices = wanted === "registers" ? assignSlices(gpu, x.stride, x.dtype === "f16") : null;
  if (slices && slicedFits(gpu, slices, rowsPerInvocation, spherical)) {
    recordSliced(gpu, slices, rowsPerInvocation, x, cents, out, spherical, enc);
    return;
  }
  const variant: Variant = wanted === "registers" && (kb < 1 || slices) ? "tiled" : wanted;
  const unitBytes = packed ? 2 : 4;
  const blocks: { c: Binding; cn: GPUBuffer; rows: number; kBase: number; cnOff: number }[] = [];
  for (const cc of cents.chunks) {
    if (variant === "registers") {
      for (let b = 0; b * kb < cc.rows; b++) {
        blocks.push({
          c: {
            buffer: packed ? cc.packed! : cc.f32,
            offset: b * kb * x.stride * unitBytes,
            size: kb * x.stride * unitBytes,
          },
          cn: cc.cn,
          rows: Math.min(kb, cc.rows - b * kb),
          kBase: cc.kBase + b * kb,
          cnOff: b * kb,
        });
      }
    } else {
      const c = x.dtype === "f16" ? cc.packed! : f32Binding(cc, x.stride);
      blocks.push({ c, cn: cc.cn, rows: cc.rows, kBase: cc.kBase, cnOff: 0 });
    }
  }
  x.chunks.forEach((xc, i) => {
    if (xc.rows === 0) return;
    blocks.forEach((blk, j) => {
      const program = assignProgram({
        variant,
        rows: xc.rows,
        k: blk.rows,
        kBase: blk.kBase,
        cnOff: blk.cnOff,
        dp: x.stride,
        f16: x.dtype === "f16",
        first: j === 0,
        last: j === blocks.length - 1,
        spherical,
        rowsPerInvocation,
      });
      dispatch(gpu, program, [xc.buffer, blk.c, blk.cn, out.idx[i]!, out.score[i]!], enc);
    });
  });
}

/**
 * The exact {@linkcode AssignmentStep}: the fused kernel `kernel` under the metric
 * (`spherical`: cosine), every row to its nearest centroid, ties to the lower index.
 */
export function exactAssignment(
  kernel: Variant | AssignKernel,
  spherical: boolean,
): AssignmentStep {
  return (gpu, rows, cents, out, enc) =>
    recordAssign(gpu, kernel, rows, cents, out, spherical, enc);
}
