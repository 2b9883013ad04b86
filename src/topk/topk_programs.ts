import registersCode from "../../kernels/topk_registers.wgsl" with { type: "text" };
import tiledCode from "../../kernels/topk_tiled.wgsl" with { type: "text" };
import mergeCode from "../../kernels/topk_merge.wgsl" with { type: "text" };
import { foldDispatch, type Program, workgroupsFor } from "../gpu/program.ts";
import { uniformStruct } from "../gpu/uniforms.ts";
import { specialize, uniformBlockRows } from "../gpu/template.ts";
import {
  expandPartialSums,
  partialVec4s,
  type RegisterSlices,
  registerSlices,
} from "../gpu/register_slices.ts";

/** Largest `k` the top-k kernels keep per row. */
export const TOPK_MAX_K = 64;

/** Capacity of the registers kernel's private query block, in vec4s (rows × d4). */
export const TOPK_REGISTER_VEC4S = 128;

/** Query rows one registers-kernel invocation keeps, at most. */
export const TOPK_MAX_ROWS_PER_INVOCATION = 8;

/** Partial lists the tiled kernel writes per row and split (one per subgroup of 64 lanes). */
export const TOPK_TILED_LISTS_PER_SPLIT = 4;

/** Query rows one tiled-kernel workgroup scores. */
export const TOPK_TILED_ROWS_PER_WORKGROUP = 64;

/** Shape of one top-k pass over a key chunk. */
export interface TopkPassShape {
  /** Query rows bound. */
  nq: number;
  /** Keys in the bound chunk. */
  nkeys: number;
  /** List length. */
  k: number;
  /** Global index of the chunk's first key. */
  keyBase: number;
  /** Keys per split. */
  span: number;
  /** Splits (workgroups along y), each writing its own partial lists. */
  splits: number;
  /** vec4s per (zero-padded) row. */
  d4: number;
  /** First key (within the chunk) of this pass's range. */
  first: number;
  /** Keys in this pass's range; `splits × span ≥ count`. */
  count: number;
}

/**
 * Rows one registers-kernel invocation keeps for rows of `d4` vec4s (0 when even one row
 * does not fit, and the tiled kernel must be used).
 *
 * @param d4 vec4s per row.
 * @returns Rows per invocation, 0..8.
 *
 * @example Usage
 * ```ts
 * import { topkRegisterRows } from "./topk_programs.ts";
 * console.log(topkRegisterRows(32)); // 4
 * ```
 */
export function topkRegisterRows(d4: number): number {
  return Math.min(TOPK_MAX_ROWS_PER_INVOCATION, Math.floor(TOPK_REGISTER_VEC4S / d4));
}

/** vec4s of a row slice the sliced registers kernel holds: 8 rows × 64 values. */
export const TOPK_SLICE_VEC4S = 16;

/**
 * How the registers kernel walks rows of `d4` vec4s: null when it holds whole rows (up to
 * `registersMaxDim` values, the adapter's quirk), else the slices of a row (at most
 * {@linkcode TOPK_SLICE_VEC4S} vec4s each), each streamed from its own key window with
 * {@linkcode TOPK_MAX_ROWS_PER_INVOCATION} rows per invocation.
 *
 * @param d4 vec4s per row.
 * @param registersMaxDim Widest row held whole (`gpu.quirks.registersMaxDim`).
 * @returns The slices, or null.
 *
 * @example Usage
 * ```ts
 * import { topkSlices } from "./topk_programs.ts";
 * console.log(topkSlices(32, 128)); // null: 128 values are held whole
 * console.log(topkSlices(128, 128)?.count); // 8 slices of 64 values
 * ```
 */
export function topkSlices(d4: number, registersMaxDim: number): RegisterSlices | null {
  return d4 * 4 <= registersMaxDim ? null : registerSlices(d4, TOPK_SLICE_VEC4S);
}

const TILED_PARAMS = uniformStruct({
  nq: "u32",
  nkeys: "u32",
  k: "u32",
  key_base: "u32",
  span: "u32",
  d4: "u32",
  first: "u32",
  count: "u32",
});

const REGISTERS_PARAMS = uniformStruct({
  rowBase: "u32",
  rowEnd: "u32",
  k: "u32",
  keyBase: "u32",
  nkeys: "u32",
  first: "u32",
  keyOff: "u32",
});

const SLICED_PARAMS = uniformStruct({
  rowBase: "u32",
  rowEnd: "u32",
  k: "u32",
  keyBase: "u32",
  nkeys: "u32",
  first: "u32",
  keyOff: "u32",
  sOff: "u32",
  dx: "u32",
});

const MERGE_PARAMS = uniformStruct({ nq: "u32", k: "u32", lists: "u32", has_state: "u32" });

/** One dispatch of the registers top-k kernel: a row range × one uniform block of keys. */
export interface TopkRegistersShape {
  /** First query row (within the bound query chunk). */
  rowBase: number;
  /** Rows in this dispatch. */
  rows: number;
  /** List length. */
  k: number;
  /** Global index of the block's first key. */
  keyBase: number;
  /** Keys this dispatch scores, from `keyOff` (within the block). */
  nkeys: number;
  /** First key within the bound block. */
  keyOff: number;
  /** vec4s per (zero-padded) row. */
  d4: number;
  /** First block of the search: the kernel clears the lists. */
  first: boolean;
  /**
   * Rows walked in slices ({@linkcode topkSlices}): the slices and which one this dispatch
   * scores (the last one updates the lists); absent or null: whole rows.
   */
  sliced?: { slices: RegisterSlices; slice: number } | null;
}

/**
 * Keys per 64 KiB uniform block of the registers kernel for rows of `d4` vec4s (block
 * bytes a multiple of 256, the uniform offset alignment); 0 when one key does not fit.
 *
 * @param d4 vec4s per row.
 * @returns Keys per block.
 *
 * @example Usage
 * ```ts
 * import { topkKeysPerBlock } from "./topk_programs.ts";
 * console.log(topkKeysPerBlock(32)); // 128
 * ```
 */
export function topkKeysPerBlock(d4: number): number {
  return uniformBlockRows(d4 * 4);
}

/**
 * Keys one registers-kernel dispatch may score so that its loop iterations stay far below
 * the adapter's silent cap per invocation (llvmpipe: 65535, all loops together): each key
 * costs one iteration plus, at worst, an insertion shifting k entries for each of the R rows.
 *
 * @param d4 vec4s per row.
 * @param k List length.
 * @param maxLoopIterations The adapter's cap (`gpu.quirks.maxLoopIterations`); `Infinity`:
 * no bound.
 * @param rowsPerInvocation Rows one invocation keeps (the sliced kernel keeps 8).
 * @returns Keys per dispatch, at least 1 (`Number.MAX_SAFE_INTEGER` without a cap).
 *
 * @example Usage
 * ```ts
 * import { topkKeysPerDispatch } from "./topk_programs.ts";
 * console.log(topkKeysPerDispatch(32, 8)); // 992
 * ```
 */
export function topkKeysPerDispatch(
  d4: number,
  k: number,
  maxLoopIterations = 65535,
  rowsPerInvocation: number = topkRegisterRows(d4),
): number {
  if (!Number.isFinite(maxLoopIterations)) return Number.MAX_SAFE_INTEGER;
  const budget = Math.ceil(maxLoopIterations / 2);
  const r = Math.max(1, rowsPerInvocation);
  return Math.max(1, Math.floor((budget - r * k) / (1 + r * k)));
}

/**
 * The rows-in-registers top-k pass over one block of keys (bind queries, the key block as
 * a uniform range, list scores, list indices): updates each row's running list in place.
 *
 * @param s The dispatch shape.
 * @returns The program.
 * @throws {RangeError} When a row is too wide for the kernel.
 *
 * @example Usage
 * ```ts ignore
 * dispatch(gpu, topkRegistersProgram(shape), [q, keyBlock, listS, listI], encoder);
 * ```
 */
export function topkRegistersProgram(s: TopkRegistersShape): Program {
  if (s.sliced) return topkSlicedProgram(s, s.sliced.slices, s.sliced.slice);
  const r = topkRegisterRows(s.d4);
  const kb = topkKeysPerBlock(s.d4);
  if (r < 1 || kb < 1) {
    throw new RangeError(
      `Expected rows of at most ${
        TOPK_REGISTER_VEC4S * 4
      } values for the registers top-k kernel but found ${s.d4 * 4}`,
    );
  }
  const CU = kb * s.d4;
  return {
    shaderKey: `topk_registers:R${r}:D${s.d4}:CU${CU}`,
    code: () => specialize(registersCode, false, { R: r, D4: s.d4, CU }, ["whole", "fin"]),
    workgroupSize: 64,
    workgroups: foldDispatch(Math.ceil(s.rows / (64 * r))),
    uniformStruct: REGISTERS_PARAMS,
    uniforms: REGISTERS_PARAMS.pack(registerUniforms(s)),
  };
}

/** The uniform fields the whole-row and the sliced registers kernels share. */
function registerUniforms(s: TopkRegistersShape) {
  return {
    rowBase: s.rowBase,
    rowEnd: s.rowBase + s.rows,
    k: s.k,
    keyBase: s.keyBase,
    nkeys: s.nkeys,
    first: s.first ? 1 : 0,
    keyOff: s.keyOff,
  };
}

/** One slice of the sliced registers kernel (bind queries, key window, partial sums[, lists]). */
function topkSlicedProgram(s: TopkRegistersShape, slices: RegisterSlices, slice: number): Program {
  const r = TOPK_MAX_ROWS_PER_INVOCATION;
  const isLast = slice === slices.count - 1;
  const width = isLast ? slices.lastWidth : slices.width;
  const role = slice === 0 ? ["wr"] : isLast ? ["rd", "fin", "last"] : ["rd", "wr"];
  const KB = slices.rowsPerWindow;
  return {
    shaderKey: `topk_registers:sliced:${role.join("+")}:R${r}:D${width}:KB${KB}`,
    code: () =>
      expandPartialSums(
        specialize(registersCode, false, { R: r, D4: width, KB, PH: partialVec4s(r) }, [
          "s",
          ...role,
        ]),
        r,
      ),
    workgroupSize: 64,
    workgroups: foldDispatch(Math.ceil(s.rows / (64 * r))),
    uniformStruct: SLICED_PARAMS,
    uniforms: SLICED_PARAMS.pack({
      ...registerUniforms(s),
      sOff: slice * slices.width,
      dx: s.d4,
    }),
  };
}

/**
 * The workgroup-memory tiled top-k pass (bind queries, keys, partial scores, partial
 * indices). Writes `TOPK_TILED_LISTS_PER_SPLIT × splits` partial lists per row.
 *
 * @param s The pass shape.
 * @returns The program.
 *
 * @example Usage
 * ```ts ignore
 * dispatch(gpu, topkTiledProgram(shape), [q, keys, partS, partI], encoder);
 * ```
 */
export function topkTiledProgram(s: TopkPassShape): Program {
  return {
    shaderKey: "topk_tiled",
    code: tiledCode,
    workgroupSize: 256, // 64 query rows per workgroup
    workgroups: [Math.ceil(s.nq / TOPK_TILED_ROWS_PER_WORKGROUP), s.splits, 1],
    uniformStruct: TILED_PARAMS,
    uniforms: TILED_PARAMS.pack({
      nq: s.nq,
      nkeys: s.nkeys,
      k: s.k,
      key_base: s.keyBase,
      span: s.span,
      d4: s.d4,
      first: s.first,
      count: s.count,
    }),
  };
}

/** One merge of partial lists into the running lists (see {@linkcode topkMergeProgram}). */
export interface TopkMergeShape {
  /** Rows. */
  nq: number;
  /** List length. */
  k: number;
  /** Partial lists per row. */
  lists: number;
  /** Whether the running lists already hold lists to merge with (false: the first pass). */
  hasState: boolean;
}

/**
 * Merges `lists` partial lists per row into the running state lists (bind partial scores,
 * partial indices, state scores, state indices).
 *
 * @param s The merge shape.
 * @returns The program.
 *
 * @example Usage
 * ```ts ignore
 * const merge = topkMergeProgram({ nq: 100, k: 8, lists: 4, hasState: false });
 * dispatch(gpu, merge, [partS, partI, stateS, stateI], encoder);
 * ```
 */
export function topkMergeProgram(s: TopkMergeShape): Program {
  return {
    shaderKey: "topk_merge",
    code: mergeCode,
    workgroupSize: 64,
    workgroups: workgroupsFor({ workgroupSize: 64 }, s.nq),
    uniformStruct: MERGE_PARAMS,
    uniforms: MERGE_PARAMS.pack({
      nq: s.nq,
      k: s.k,
      lists: s.lists,
      has_state: s.hasState ? 1 : 0,
    }),
  };
}
