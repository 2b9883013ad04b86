// Walking wide rows in slices, for the rows-in-registers kernels (k-means assignment, top-k):
// the slice plan of a row width, the program that lays streamed rows (centroids, keys) out in
// 64 KiB uniform windows, one window per slice of a block of rows, and the partial sums'
// layout and WGSL.
//
// Why: those kernels unroll the row they hold, so their code and their registers grow with the
// width (a fully unrolled 512-wide kernel holds one row per invocation and runs 4× slower per
// flop on lavapipe than a sliced one). Sliced, an invocation holds a slice of R rows (R·width
// values), streams the matching slice of a block of up to 4096 / width rows from one window,
// and adds each partial dot product to a buffer (first slice: writes, middle slices: read and
// write, last slice: reads and finishes: argmax or top-k). Each row's sum runs over the same
// values in the same order as the unsliced kernel's, so the scores are the same bits.
// The partial sums of an invocation's R rows for one streamed row are ceil(R / 4) vec4s (two
// vec4 loads and stores for 8 rows, not 8 scalar ones: on lavapipe each storage access is a
// loop over the lanes, and the scalar layout took a third of the sliced kernel's time).
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

/** vec4s of partial sums per invocation and streamed row, for `rowsPerInvocation` rows. */
export function partialVec4s(rowsPerInvocation: number): number {
  return Math.ceil(rowsPerInvocation / 4);
}

/**
 * Bytes of the partial sums of one sliced dispatch: `rows` rows in invocations of
 * `rowsPerInvocation`, each with {@linkcode partialVec4s} vec4s per streamed row of a window.
 *
 * @param rows Rows of the dispatch.
 * @param rowsPerInvocation Rows per invocation.
 * @param rowsPerWindow Streamed rows per window (`RegisterSlices.rowsPerWindow`).
 * @returns The size in bytes.
 *
 * @example Usage
 * ```ts
 * import { partialSumsBytes } from "./register_slices.ts";
 * console.log(partialSumsBytes(100, 8, 256)); // 13 invocations × 256 × 2 vec4s = 106496
 * ```
 */
export function partialSumsBytes(
  rows: number,
  rowsPerInvocation: number,
  rowsPerWindow: number,
): number {
  return Math.ceil(rows / rowsPerInvocation) * rowsPerWindow * partialVec4s(rowsPerInvocation) * 16;
}

/**
 * Expands the partial-sum markers of a specialised sliced kernel: `PARTIAL_READ` becomes the
 * loads of the invocation's vec4s at `part[pv + cc × PH + h]` into `acc0 … acc{R-1}`, and
 * `PARTIAL_WRITE` the stores of those accumulators (unused lanes 0).
 *
 * @param code The kernel, specialised for R rows per invocation.
 * @param rowsPerInvocation R.
 * @returns The kernel with the markers replaced.
 *
 * @example Usage
 * ```ts
 * import { expandPartialSums } from "./register_slices.ts";
 * console.log(expandPartialSums("PARTIAL_READ", 2));
 * // let pq0 = part[pv + cc * 1u + 0u]; acc0 = pq0.x; acc1 = pq0.y;
 * ```
 */
export function expandPartialSums(code: string, rowsPerInvocation: number): string {
  const R = rowsPerInvocation, H = partialVec4s(R), lane = ["x", "y", "z", "w"];
  const at = (h: number) => `part[pv + cc * ${H}u + ${h}u]`;
  const rows = (h: number) => [0, 1, 2, 3].filter((i) => 4 * h + i < R);
  const groups = Array.from({ length: H }, (_, h) => h);
  const read = groups.map((h) =>
    [`let pq${h} = ${at(h)};`, ...rows(h).map((i) => `acc${4 * h + i} = pq${h}.${lane[i]};`)]
      .join(" ")
  ).join(" ");
  const write = groups.map((h) =>
    `${at(h)} = vec4<f32>(${
      [0, 1, 2, 3].map((i) => (4 * h + i < R ? `acc${4 * h + i}` : "0.0")).join(", ")
    });`
  ).join(" ");
  return code.replaceAll("PARTIAL_READ", read).replaceAll("PARTIAL_WRITE", write);
}
