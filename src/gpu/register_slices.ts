// Walking wide rows in slices, for the rows-in-registers kernels (k-means assignment, top-k):
// the slice plan of a row width and the program that lays streamed rows (centroids, keys) out
// in 64 KiB uniform windows, one window per slice of a block of rows.
//
// Why: those kernels unroll the row they hold, so their code and their registers grow with the
// width (a fully unrolled 512-wide kernel holds one row per invocation and runs 4× slower per
// flop on lavapipe than a sliced one). Sliced, an invocation holds a slice of R rows (R·width
// values), streams the matching slice of a block of up to 4096 / width rows from one window,
// and adds each partial dot product to a buffer (first slice: writes, middle slices: read and
// write, last slice: reads and finishes: argmax or top-k). Each row's sum runs over the same
// values in the same order as the unsliced kernel's, so the scores are the same bits.
import sliceCode from "../../kernels/slice_windows.wgsl" with { type: "text" };
import { type Program, workgroupsFor } from "./program.ts";
import { uniformStruct } from "./uniforms.ts";

/** 16-byte units in one 64 KiB uniform window (the most one uniform binding may hold). */
export const SLICE_WINDOW_UNITS = 4096;

/** Bytes of one slice window. */
export const SLICE_WINDOW_BYTES: number = SLICE_WINDOW_UNITS * 16;

/**
 * How a row of `units` 16-byte units is cut: `count` slices of `width` units, the last one
 * `lastWidth` (at most `width`), and how many rows one window holds at that width.
 */
export interface RegisterSlices {
  /** Units per row. */
  units: number;
  /** Slices per row (1: the row is not cut). */
  count: number;
  /** Units in each slice but the last. */
  width: number;
  /** Units in the last slice (`width` when the slices are even). */
  lastWidth: number;
  /** Rows one 64 KiB window holds at `width` units per row. */
  rowsPerWindow: number;
}

/**
 * The slices of a row of `units` 16-byte units for a kernel that holds at most `maxWidth`
 * units of a row: as few slices as fit, as even as possible (the last one never wider).
 *
 * @param units Units per (padded) row, at least 1.
 * @param maxWidth Most units per slice, at least 1.
 * @returns The plan.
 * @throws {RangeError} When a count is not a positive integer.
 *
 * @example Usage
 * ```ts
 * import { registerSlices } from "./register_slices.ts";
 * console.log(registerSlices(50, 16)); // 4 slices: 13, 13, 13 and 11 units
 * ```
 */
export function registerSlices(units: number, maxWidth: number): RegisterSlices {
  for (const [name, v] of [["units", units], ["maxWidth", maxWidth]] as const) {
    if (!Number.isInteger(v) || v < 1) {
      throw new RangeError(`Expected ${name} to be a positive integer but found ${v}`);
    }
  }
  const count = Math.ceil(units / maxWidth);
  let width = Math.ceil(units / count);
  if ((count - 1) * width >= units) width = maxWidth; // keeps the last slice non-empty
  const lastWidth = units - (count - 1) * width;
  return {
    units,
    count,
    width,
    lastWidth,
    rowsPerWindow: Math.floor(SLICE_WINDOW_UNITS / width),
  };
}

const SLICE_PARAMS = uniformStruct({
  rows: "u32",
  stride: "u32",
  srcRow0: "u32",
  window0: "u32",
  width: "u32",
  count: "u32",
});

/** One layout pass of {@linkcode sliceWindowsProgram}. */
export interface SliceWindowsShape {
  /** The slice plan of the rows' width (`units` is the source row stride). */
  slices: RegisterSlices;
  /** Rows to lay out, at most `slices.rowsPerWindow`. */
  rows: number;
  /** First source row. */
  srcRow0: number;
  /** Window (of the destination buffer) that receives slice 0; slice t goes to window0 + t. */
  window0: number;
}

/**
 * Lays `rows` source rows out in slice windows (bind the source rows as 16-byte units, the
 * destination windows): unit j of slice t of row c goes to unit `c·width_t + j` of window
 * `window0 + t`. Copies raw bits, so f32 rows and packed f16 rows alike.
 *
 * @param s The pass shape.
 * @returns The program.
 * @throws {RangeError} When the rows do not fit one window.
 *
 * @example Usage
 * ```ts ignore
 * const slices = registerSlices(192, 16);
 * const pass = sliceWindowsProgram({ slices, rows: 256, srcRow0: 0, window0: 0 });
 * dispatch(gpu, pass, [centroids, windows], encoder);
 * ```
 */
export function sliceWindowsProgram(s: SliceWindowsShape): Program {
  const { slices, rows } = s;
  if (rows > slices.rowsPerWindow) {
    throw new RangeError(
      `Expected at most ${slices.rowsPerWindow} rows per slice window but found ${rows}`,
    );
  }
  const program: Program = {
    shaderKey: "slice_windows",
    code: sliceCode,
    workgroupSize: 64,
    workgroups: [0, 0, 0],
    uniformStruct: SLICE_PARAMS,
    uniforms: SLICE_PARAMS.pack({
      rows,
      stride: slices.units,
      srcRow0: s.srcRow0,
      window0: s.window0,
      width: slices.width,
      count: slices.count,
    }),
  };
  program.workgroups = workgroupsFor(program, rows * slices.units);
  return program;
}
