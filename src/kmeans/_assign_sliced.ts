// Private: the sliced registers assignment, for rows wider than the adapter's registersMaxDim:
// each invocation holds 8 rows' slice of 64 values, the centroids' slices stream from slice
// windows (src/gpu/register_slices.ts), partial dot products wait in a buffer between the
// slices, and the last slice keeps the running argmax. Same sums, same bits, as the kernel
// that holds whole rows (kernels/kmeans_assign_registers.wgsl, tag `s`).
import registersCode from "../../kernels/kmeans_assign_registers.wgsl" with { type: "text" };
import type { Gpu } from "../gpu/gpu.ts";
import { specialize } from "../gpu/template.ts";
import { type Binding, dispatch, foldDispatch, type Program } from "../gpu/program.ts";
import { uniformStruct } from "../gpu/uniforms.ts";
import { createStorage } from "../gpu/buffers.ts";
import type { GpuMatrix } from "../gpu/gpu_matrix.ts";
import {
  expandPartialSums,
  partialSumsBytes,
  partialVec4s,
  type RegisterSlices,
  registerSlices,
  SLICE_WINDOW_BYTES,
  sliceWindowsProgram,
} from "../gpu/register_slices.ts";
import { type CentroidStore, packedCentroidBlocks } from "./centroid_store.ts";
import type { AssignOutputs } from "./assignment_step.ts";

/** Rows per invocation of the sliced registers kernel: 8 rows × 64 values in registers. */
export const SLICED_ROWS = 8;

/** Values of a row slice the sliced registers kernel holds (16 f32 vec4s, 8 packed units). */
export const ASSIGN_SLICE_VALUES = 64;

/**
 * How the registers kernel walks rows of padded width `dp`: null when it holds whole rows
 * (`dp` up to the adapter's `registersMaxDim`), else the slices of a row in the units the
 * kernel reads (vec4s, or eight packed halves when it reads packed f16 centroids).
 */
export function assignSlices(gpu: Gpu, dp: number, f16: boolean): RegisterSlices | null {
  if (dp <= gpu.quirks.registersMaxDim) return null;
  const per = packedCentroidBlocks(dp, f16) ? 8 : 4;
  return registerSlices(dp / per, ASSIGN_SLICE_VALUES / per);
}

const ASSIGN_SLICED_PARAMS = uniformStruct({
  rowBase: "u32",
  rowEnd: "u32",
  k: "u32",
  kBase: "u32",
  flags: "u32",
  cnOff: "u32",
  sOff: "u32",
  dx: "u32",
});
/** The template tags of the rows' and centroids' storage (see the kernel's header). */
export function storageTags(dp: number, f16: boolean): string[] {
  return packedCentroidBlocks(dp, f16) ? ["v4"] : f16 ? ["v2", "f"] : ["f32", "f"];
}

/** One dispatch of the sliced registers kernel: a row range × one slice of a centroid block. */
export interface SlicedAssignShape {
  /** The slices of a row ({@linkcode assignSlices}). */
  slices: RegisterSlices;
  /** Which slice, in [0, slices.count). */
  slice: number;
  /** First row (within the bound row chunk). */
  rowBase: number;
  /** Rows of this dispatch. */
  rows: number;
  /** Centroids in the block (at most `slices.rowsPerWindow`). */
  k: number;
  /** Global index of the block's first centroid. */
  kBase: number;
  /** Index of the block's first centroid in its chunk's 0.5‖c‖² buffer. */
  cnOff: number;
  /** Padded row width. */
  dp: number;
  /** Rows stored as packed f16. */
  f16: boolean;
  /** The first block for these rows (the running best starts afresh). */
  first: boolean;
  /** The last block (the final score is written). */
  last: boolean;
  /** Cosine (score = x·c) rather than l2. */
  spherical: boolean;
  /** Rows per invocation; 0 or absent: {@linkcode SLICED_ROWS}. */
  rowsPerInvocation?: number;
}

/**
 * Program of one slice of the sliced registers kernel (bind the row chunk, the slice's window
 * of the block's centroids, the partial sums; the last slice also the chunk's 0.5‖c‖², best
 * indices and best scores). The first slice writes the partial dot products, middle slices
 * add theirs, the last one finishes the sums and keeps the running argmax; see
 * kernels/kmeans_assign_registers.wgsl.
 */
export function slicedAssignProgram(s: SlicedAssignShape): Program {
  const { slices, slice, rowBase, rows, k, kBase, cnOff, dp, f16 } = s;
  const rpi = s.rowsPerInvocation ?? 0;
  const R = rpi > 0 ? rpi : SLICED_ROWS;
  const isLast = slice === slices.count - 1;
  const width = isLast ? slices.lastWidth : slices.width;
  const role = slice === 0 ? ["wr"] : isLast ? ["rd", "fin", "last"] : ["rd", "wr"];
  const packed = packedCentroidBlocks(dp, f16);
  const storage = `rows=${f16 ? "f16" : "f32"}:centroids=${packed ? "f16" : "f32"}`;
  const KB = slices.rowsPerWindow;
  const flags = (s.first ? 1 : 0) | (s.last ? 2 : 0) | (s.spherical ? 4 : 0);
  return {
    shaderKey: `kmeans_assign_registers:sliced:${
      role.join("+")
    }:R${R}:D4=${width}:KB${KB}:${storage}`,
    code: () =>
      expandPartialSums(
        specialize(registersCode, f16, { R, D4: width, KB, PH: partialVec4s(R) }, [
          ...storageTags(dp, f16),
          "s",
          ...role,
        ]),
        R,
      ),
    workgroupSize: 64,
    workgroups: foldDispatch(Math.ceil(rows / (64 * R))),
    uniformStruct: ASSIGN_SLICED_PARAMS,
    uniforms: ASSIGN_SLICED_PARAMS.pack({
      rowBase,
      rowEnd: rowBase + rows,
      k,
      kBase,
      flags,
      cnOff,
      sOff: slice * slices.width,
      dx: slices.units,
    }),
  };
}

/**
 * Whether the sliced kernel stays under the adapter's loop-iteration cap per invocation
 * (llvmpipe: 65535, all loops together, then it silently stops): its last slice loops over
 * the block's centroids and, for l2, over the whole of each of its rows for ‖x‖² (R × units
 * iterations, about 49k for 12 rows of 16384 values). Kept under half the cap; rows too wide
 * for that go to the tiled kernel.
 */
export function slicedFits(
  gpu: Gpu,
  slices: RegisterSlices,
  rowsPerInvocation: number,
  spherical: boolean,
): boolean {
  const R = rowsPerInvocation > 0 ? rowsPerInvocation : SLICED_ROWS;
  const loops = slices.rowsPerWindow + (spherical ? 0 : R * slices.units);
  return loops <= gpu.quirks.maxLoopIterations / 2;
}

/** Bytes of the sliced kernel's partial sums per dispatch, at most. */
const SLICED_PART_BYTES = 8 << 20;

/** The slice windows and partial sums of the sliced kernel, one set per device. */
const scratchOf = new WeakMap<GPUDevice, { windows: GPUBuffer; part: GPUBuffer }>();

/**
 * The device's scratch for the sliced kernel, grown to at least the given sizes. Every use
 * records its writes before its reads into one encoder, and the queue runs encoders one after
 * the other, so one set serves every run on the device. Grown buffers replace the old ones
 * without destroying them (an encoder not yet submitted may still bind them).
 */
function slicedScratch(gpu: Gpu, windowBytes: number, partBytes: number) {
  const old = scratchOf.get(gpu.device);
  if (old && old.windows.size >= windowBytes && old.part.size >= partBytes) return old;
  const scratch = {
    windows: old && old.windows.size >= windowBytes ? old.windows : gpu.device.createBuffer({
      label: "kmeans_assign.slice_windows",
      size: windowBytes,
      usage: GPUBufferUsage.STORAGE | GPUBufferUsage.UNIFORM,
    }),
    part: old && old.part.size >= partBytes
      ? old.part
      : createStorage(gpu, partBytes, "kmeans_assign.partial_sums"),
  };
  scratchOf.set(gpu.device, scratch);
  return scratch;
}

/**
 * Records the sliced assignment: per centroid block, its slices laid out in the windows, then
 * per row chunk and range of rows, one dispatch per slice (see {@linkcode recordAssign}).
 */
export function recordSliced(
  gpu: Gpu,
  slices: RegisterSlices,
  rowsPerInvocation: number,
  x: GpuMatrix,
  cents: CentroidStore,
  out: AssignOutputs,
  spherical: boolean,
  enc: GPUCommandEncoder,
): void {
  const f16 = x.dtype === "f16";
  const packed = packedCentroidBlocks(x.stride, f16);
  const kb = slices.rowsPerWindow;
  const values = slices.width * (packed ? 8 : 4);
  const R = rowsPerInvocation > 0 ? rowsPerInvocation : SLICED_ROWS;
  // Rows per dispatch: whole invocations whose partial sums fit the budget (and a binding),
  // and multiply-adds under the adapter's cap per dispatch.
  const budget = Math.min(SLICED_PART_BYTES, gpu.maxBindingBytes);
  const invocations = Math.floor(budget / (kb * partialVec4s(R) * 16));
  const macs = Math.min(gpu.quirks.maxMacsPerDispatch, 2 ** 31);
  const range = Math.max(1, Math.min(invocations * R, Math.floor(macs / (kb * values))));
  const partBytes = partialSumsBytes(range, R, kb);
  const scratch = slicedScratch(gpu, slices.count * SLICE_WINDOW_BYTES, partBytes);
  const blocks: { chunk: CentroidStore["chunks"][number]; b: number; rows: number }[] = [];
  for (const chunk of cents.chunks) {
    for (let b = 0; b * kb < chunk.rows; b++) {
      blocks.push({ chunk, b, rows: Math.min(kb, chunk.rows - b * kb) });
    }
  }
  blocks.forEach((blk, j) => {
    const src = packed ? blk.chunk.packed! : blk.chunk.f32;
    dispatch(
      gpu,
      sliceWindowsProgram({ slices, rows: blk.rows, srcRow0: blk.b * kb, window0: 0 }),
      [
        { buffer: src, size: blk.chunk.rows * slices.units * 16 },
        scratch.windows,
      ],
      enc,
    );
    x.chunks.forEach((xc, i) => {
      for (let rowBase = 0; rowBase < xc.rows; rowBase += range) {
        for (let slice = 0; slice < slices.count; slice++) {
          const program = slicedAssignProgram({
            slices,
            slice,
            rowBase,
            rows: Math.min(range, xc.rows - rowBase),
            k: blk.rows,
            kBase: blk.chunk.kBase + blk.b * kb,
            cnOff: blk.b * kb,
            dp: x.stride,
            f16,
            first: j === 0,
            last: j === blocks.length - 1,
            spherical,
            rowsPerInvocation,
          });
          const window = {
            buffer: scratch.windows,
            offset: slice * SLICE_WINDOW_BYTES,
            size: SLICE_WINDOW_BYTES,
          };
          const bindings: Binding[] = [xc.buffer, window, scratch.part];
          if (slice === slices.count - 1) bindings.push(blk.chunk.cn, out.idx[i]!, out.score[i]!);
          dispatch(gpu, program, bindings, enc);
        }
      }
    });
  });
}
