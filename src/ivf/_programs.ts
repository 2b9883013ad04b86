// Private programs of the IVF center index: sizes and WGSL specialisation (the indirect
// scoring pass, one dispatch per block slot sized on the GPU, is in _score_pass.ts).
import probeCode from "../../kernels/ivf_probe.wgsl" with { type: "text" };
import sortCode from "../../kernels/ivf_sort.wgsl" with { type: "text" };
import cellsCode from "../../kernels/ivf_cells.wgsl" with { type: "text" };
import layoutCode from "../../kernels/ivf_layout.wgsl" with { type: "text" };
import planCode from "../../kernels/ivf_plan.wgsl" with { type: "text" };
import reduceCode from "../../kernels/ivf_reduce.wgsl" with { type: "text" };
import { specialize, uniformBlockRows } from "../gpu/template.ts";
import { foldDispatch, type Program, workgroupsFor } from "../gpu/program.ts";
import { uniformStruct } from "../gpu/uniforms.ts";

/** u32 words (and 256-byte binding window) of one block slot's record. */
export const REC_WORDS = 64;

/** Loop iterations one invocation may spend inside its key loop (llvmpipe stops at 65535). */
const LOOP_BUDGET = 32768;

/** Padded row width: `d` rounded up to a multiple of 4 (the k-means row stride). */
export function paddedWidth(d: number): number {
  return Math.ceil(d / 4) * 4;
}

/**
 * How the scoring kernel reads rows and centers, as the exact k-means kernel does:
 * `"f32"`, `"v2"` (f16 rows, f32 centers) or `"v4"` (f16 rows and centers, eight halves per
 * vec4<u32>, when the padded width is a multiple of 8).
 */
export type ScoreMode = "f32" | "v2" | "v4";

/** The mode of rows of padded width `dp`, f16 or not (kmeans' packedCentroidBlocks rule). */
export function scoreMode(dp: number, f16: boolean): ScoreMode {
  if (!f16) return "f32";
  return dp % 8 === 0 && uniformBlockRows(dp, true) > 0 ? "v4" : "v2";
}

/** vec4 units per row the scoring kernel unrolls over. */
export function rowUnits(dp: number, mode: ScoreMode): number {
  return mode === "v4" ? dp / 8 : dp / 4;
}

/**
 * Centers per block slot: a 64 KiB uniform block at most, capped at 256 so that a top-k
 * pass stays within the loop cap, the block a multiple of 256 bytes.
 */
export function slotCenters(dp: number, mode: ScoreMode): number {
  const units = rowUnits(dp, mode);
  let kb = Math.min(uniformBlockRows(dp, mode === "v4"), 256);
  while (kb > 0 && (kb * units) % 16 !== 0) kb--;
  if (kb < 1) {
    throw new RangeError(
      `Expected rows of at most 16384 values for the IVF kernels but found ${dp}`,
    );
  }
  return kb;
}

/**
 * Rows per invocation of the register kernels: 8 while a row is at most 32 vec4 units, fewer
 * for wider rows (R × units ≤ 256). Measured on lavapipe (d = 32, 100, 128): 8 rows beat
 * k-means' 5 (d = 100) by 1.6–2× in the scoring pass and match its 4 at d = 128.
 */
export function registerRows(dp: number, mode: ScoreMode): number {
  return Math.max(1, Math.min(8, Math.floor(256 / rowUnits(dp, mode))));
}

// ---- probe: top-np cells of rows, rows in registers, cells from 64 KiB uniform blocks ----

const PROBE_PARAMS = uniformStruct({
  rowBase: "u32",
  rows: "u32",
  keyBase: "u32",
  nkeys: "u32",
  first: "u32",
  outBase: "u32",
  bits: "u32",
});

/** Probe values of one dispatch. */
export type ProbeShape = Parameters<typeof PROBE_PARAMS.pack>[0];

/** Cells per probe uniform block for rows of padded width `dp`. */
export function probeBlockCells(dp: number): number {
  return uniformBlockRows(dp);
}

/**
 * Rows per invocation of the probe kernel with lists of `np` keys kept in registers: the
 * rows' vec4s plus the lists within the register kernels' 128 vec4s, and at most 128 list
 * entries in all (the unrolled insertions' code size and compile time).
 */
export function probeRows(dp: number, f16: boolean, np: number): number {
  const fit = Math.min(Math.floor(128 / (dp / 4 + np / 4)), Math.floor(128 / np));
  return Math.max(1, Math.min(registerRows(dp, f16 ? "v2" : "f32"), fit));
}

/**
 * Expands the list templates of a kernel: lines ending in //@rp over r in [0, R) and t in
 * [0, NP) (r outer), each `<<...>>` of a code line over t, and `{L}` = NP − 1; the //@r, //@j
 * lines are left to `specialize`.
 */
export function expandLists(code: string, R: number, NP: number): string {
  const out: string[] = [];
  const overT = (body: string) =>
    Array.from({ length: NP }, (_, t) => body.replaceAll("{t}", String(t))).join(" ");
  for (let line of code.split("\n")) {
    if (!line.trimStart().startsWith("//")) {
      line = line.replace(/<<(.*?)>>/g, (_, body: string) => overT(body));
      line = line.replaceAll("{L}", String(NP - 1));
    }
    const m = /^(.*?)\s*\/\/@rp$/.exec(line);
    if (!m) {
      out.push(line);
      continue;
    }
    for (let r = 0; r < R; r++) {
      for (let t = 0; t < NP; t++) {
        out.push(m[1]!.replaceAll("{r}", String(r)).replaceAll("{t}", String(t)));
      }
    }
  }
  return out.join("\n");
}

/** The probe program with lists of `np` (bind rows, the cell block, biases, list scores, list cells). */
export function probeProgram(dp: number, f16: boolean, np: number, s: ProbeShape): Program {
  const R = probeRows(dp, f16, np), D4 = dp / 4, CU = probeBlockCells(dp) * D4;
  const tag = f16 ? "v2" : "f32";
  return {
    shaderKey: `ivf_probe:R${R}:D${D4}:CU${CU}:NP${np}:${tag}`,
    code: () => specialize(expandLists(probeCode, R, np), f16, { R, D4, CU, NP: np }, [tag]),
    workgroupSize: 64,
    workgroups: foldDispatch(Math.ceil(s.rows / (64 * R))),
    uniformStruct: PROBE_PARAMS,
    uniforms: PROBE_PARAMS.pack(s),
  };
}

// ---- counting sort ----

const SORT_PARAMS = uniformStruct({ m: "u32", nb: "u32", bsize: "u32", cells: "u32" });

/** Sort values. */
export type SortShape = Parameters<typeof SORT_PARAMS.pack>[0];

/** One pass of the counting sort. */
export function sortProgram(pass: "count" | "scan" | "prefix" | "scatter", s: SortShape): Program {
  const workgroupSize = pass === "prefix" ? 1 : 64;
  const count = pass === "scan" ? s.cells : s.nb;
  return {
    shaderKey: `ivf_sort:${pass}`,
    code: () => specialize(sortCode, false, {}, [pass]),
    workgroupSize,
    workgroups: pass === "prefix" ? [1, 1, 1] : workgroupsFor({ workgroupSize }, count),
    uniformStruct: SORT_PARAMS,
    uniforms: SORT_PARAMS.pack(s),
  };
}

// ---- cells: gather, Lloyd sums, finish ----

const CELLS_PARAMS = uniformStruct({
  count: "u32",
  d4: "u32",
  srcBase: "u32",
  srcRows: "u32",
  flags: "u32",
});

/** Cell pass values. */
export type CellsShape = Parameters<typeof CELLS_PARAMS.pack>[0];

/** Finish flags: normalise, l2 bias, +Inf bias for empty cells. */
export const FINISH = { normalize: 1, l2: 2, skipEmpty: 4 } as const;

/** One pass over cells (`gather` and `sum` run per vec4, `finish` and `norms` per row). */
export function cellsProgram(
  pass: "gather" | "sum" | "finish" | "norms",
  s: CellsShape,
): Program {
  const n = pass === "finish" || pass === "norms" ? s.count : s.count * s.d4;
  return {
    shaderKey: `ivf_cells:${pass}`,
    code: () => specialize(cellsCode, false, {}, [pass]),
    workgroupSize: 64,
    workgroups: workgroupsFor({ workgroupSize: 64 }, n),
    uniformStruct: CELLS_PARAMS,
    uniforms: CELLS_PARAMS.pack(s),
  };
}

// ---- layout of the block slots ----

const LAYOUT_PARAMS = uniformStruct({
  count: "u32",
  slots: "u32",
  kb: "u32",
  srcBase: "u32",
  srcRows: "u32",
  slotLo: "u32",
  slotHi: "u32",
  words: "u32",
});

/** Layout pass values. */
export type LayoutShape = Parameters<typeof LAYOUT_PARAMS.pack>[0];

/** The slot layout (one invocation) or the grouped gather (one invocation per center). */
export function layoutProgram(pass: "layout" | "gather", s: LayoutShape): Program {
  return {
    shaderKey: `ivf_layout:${pass}`,
    code: () => specialize(layoutCode, false, {}, [pass]),
    workgroupSize: pass === "layout" ? 1 : 64,
    workgroups: pass === "layout" ? [1, 1, 1] : workgroupsFor({ workgroupSize: 64 }, s.count),
    uniformStruct: LAYOUT_PARAMS,
    uniforms: LAYOUT_PARAMS.pack(s),
  };
}

// ---- plan, reduce (the scoring pass is in _score_pass.ts) ----

const PLAN_PARAMS = uniformStruct({
  slots: "u32",
  cells: "u32",
  tile: "u32",
  rowBase: "u32",
  np: "u32",
  k: "u32",
});

/** Plan values. */
export type PlanShape = Parameters<typeof PLAN_PARAMS.pack>[0];

/** The plan pass (bind the sorted pairs' cell offsets and the slot records). */
export function planProgram(s: PlanShape): Program {
  return {
    shaderKey: "ivf_plan",
    code: planCode,
    workgroupSize: 64,
    workgroups: workgroupsFor({ workgroupSize: 64 }, s.slots),
    uniformStruct: PLAN_PARAMS,
    uniforms: PLAN_PARAMS.pack(s),
  };
}

const REDUCE_PARAMS = uniformStruct({
  rows: "u32",
  rowBase: "u32",
  np: "u32",
  k: "u32",
  d4: "u32",
  l2: "u32",
  lo: "u32",
  hi: "u32",
  state: "u32",
  kBase: "u32",
  kRows: "u32",
});

/** Reduce values. */
export type ReduceShape = Parameters<typeof REDUCE_PARAMS.pack>[0];

/** Lists of k one top-k reduce pass may merge (an insertion at every entry fits the loop cap). */
export function reduceListsPerPass(k: number): number {
  return Math.max(1, Math.floor(LOOP_BUDGET / (1 + k * (k + 2))));
}

/**
 * The reduce passes: `prev` (bind rows, previous assignments, a center store chunk's rows
 * and 0.5‖c‖², previous scores, previous indices), `top1` (bind rows, probe cells, slot
 * scores, slot indices, output indices, output scores, previous scores, previous indices)
 * or `topk` (bind probe cells, slot lists, output scores, output indices).
 */
export function reduceProgram(
  mode: ScoreMode,
  pass: "prev" | "top1" | "topk",
  s: ReduceShape,
): Program {
  const tags = [mode, pass];
  return {
    shaderKey: `ivf_reduce:${tags.join(":")}`,
    code: () => specialize(reduceCode, mode !== "f32", {}, tags),
    workgroupSize: 64,
    workgroups: workgroupsFor({ workgroupSize: 64 }, s.rows),
    uniformStruct: REDUCE_PARAMS,
    uniforms: REDUCE_PARAMS.pack(s),
  };
}
