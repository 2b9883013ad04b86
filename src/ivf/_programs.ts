// Private programs of the IVF center index: sizes, WGSL specialisation and the one indirect
// dispatch (the scoring pass, one per block slot, sized on the GPU).
import probeCode from "../../kernels/ivf_probe.wgsl" with { type: "text" };
import sortCode from "../../kernels/ivf_sort.wgsl" with { type: "text" };
import cellsCode from "../../kernels/ivf_cells.wgsl" with { type: "text" };
import layoutCode from "../../kernels/ivf_layout.wgsl" with { type: "text" };
import planCode from "../../kernels/ivf_plan.wgsl" with { type: "text" };
import scoreCode from "../../kernels/ivf_score.wgsl" with { type: "text" };
import reduceCode from "../../kernels/ivf_reduce.wgsl" with { type: "text" };
import type { Gpu } from "../gpu/gpu.ts";
import { specialize, uniformBlockRows } from "../gpu/_template.ts";
import { assertUsable } from "../gpu/gpu.ts";
import { getPipeline } from "../gpu/pipeline_cache.ts";
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

// ---- plan, score, reduce ----

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

/** Shape of the scoring kernel: baked into its WGSL. */
export interface ScoreKernel {
  mode: ScoreMode;
  dp: number;
  /** Centers per slot. */
  kb: number;
  /** Rows (pairs) per invocation. */
  rows: number;
  l2: boolean;
  /** List length of the top-k kernel; 0 for top-1. */
  k: number;
}

/** Pairs one scoring workgroup takes. */
export function scoreTile(s: ScoreKernel): number {
  return 64 * s.rows;
}

/** Rows per invocation of the top-k scoring kernel: at most 64 list entries in registers. */
export function topkScoreRows(dp: number, mode: ScoreMode, k: number): number {
  return Math.max(1, Math.min(registerRows(dp, mode), Math.floor(64 / k)));
}

function scoreKey(s: ScoreKernel): { key: string; code: () => string } {
  const units = rowUnits(s.dp, s.mode), CU = s.kb * units;
  const tags = [
    s.mode,
    ...(s.mode === "v4" ? [] : ["f"]),
    s.l2 ? "l2" : "dot",
    s.k > 0 ? "topk" : "top1",
  ];
  const K = Math.max(1, s.k);
  return {
    key: `ivf_score:R${s.rows}:U${units}:KB${s.kb}:K${s.k}:${tags.join(":")}`,
    code: () =>
      specialize(expandLists(scoreCode, s.rows, K), s.mode !== "f32", {
        R: s.rows,
        D4: units,
        CU,
        KB: s.kb,
        K,
      }, tags),
  };
}

/** The buffers of the scoring passes of one batch (the slot's block and record by slot). */
export interface ScoreBindings {
  /** Slot records (indirect args first). */
  rec: GPUBuffer;
  /** The rows' chunk. */
  x: GPUBuffer;
  /** The grouped centers, slots [slotLo, slotHi) per buffer. */
  grouped: readonly { buffer: GPUBuffer; slotLo: number; slotHi: number }[];
  /** Bytes of one slot's block. */
  slotBytes: number;
  meta: GPUBuffer;
  order: GPUBuffer;
  bs: GPUBuffer;
  bi: GPUBuffer;
}

/**
 * The bind groups of the last scoring passes recorded, kept while the kernel and the buffers
 * stay the same (the rows of a k-means run, batch after batch and iteration after iteration).
 */
export interface ScoreGroupCache {
  /** The last few sets, most recent first (one per row chunk of a run's rows). */
  sets: { key: string; b: ScoreBindings; groups: GPUBindGroup[] }[];
}

/** Sets of bind groups a cache keeps (row chunks searched in turn, e.g. k-means' rows). */
const CACHED_SETS = 8;

function sameBindings(a: ScoreBindings, b: ScoreBindings): boolean {
  return a.rec === b.rec && a.x === b.x && a.grouped === b.grouped && a.meta === b.meta &&
    a.order === b.order && a.bs === b.bs && a.bi === b.bi;
}

/**
 * Records the scoring passes of every block slot, in one compute pass: per slot an indirect
 * dispatch whose size the plan pass wrote at the start of the slot's record (no uniform
 * buffer: the record is bound as a 256-byte storage window), the slot's centers bound as its
 * 64 KiB uniform block. One bind group per slot, kept in `cache` for the next batch.
 */
export function recordScores(
  gpu: Gpu,
  s: ScoreKernel,
  b: ScoreBindings,
  cache: ScoreGroupCache,
  enc: GPUCommandEncoder,
): void {
  assertUsable(gpu);
  const { key, code } = scoreKey(s);
  const pipeline = getPipeline(gpu.device, key, code);
  const at = cache.sets.findIndex((e) => e.key === key && sameBindings(e.b, b));
  let groups = at >= 0 ? cache.sets[at]!.groups : null;
  if (at > 0) cache.sets.unshift(...cache.sets.splice(at, 1));
  if (!groups) {
    const layout = pipeline.getBindGroupLayout(0);
    groups = [];
    for (const g of b.grouped) {
      for (let slot = g.slotLo; slot < g.slotHi; slot++) {
        groups.push(gpu.device.createBindGroup({
          label: key,
          layout,
          entries: [
            { binding: 0, resource: { buffer: b.rec, offset: slot * REC_WORDS * 4, size: 256 } },
            { binding: 1, resource: { buffer: b.x } },
            {
              binding: 2,
              resource: {
                buffer: g.buffer,
                offset: (slot - g.slotLo) * b.slotBytes,
                size: b.slotBytes,
              },
            },
            { binding: 3, resource: { buffer: b.meta } },
            { binding: 4, resource: { buffer: b.order } },
            { binding: 5, resource: { buffer: b.bs } },
            { binding: 6, resource: { buffer: b.bi } },
          ].filter((e) => e.binding !== 3 || s.l2 || s.k === 0), // top-k without l2 reads no info
        }));
      }
    }
    cache.sets.unshift({ key, b, groups });
    cache.sets.length = Math.min(cache.sets.length, CACHED_SETS);
  }
  const pass = enc.beginComputePass({ label: key });
  pass.setPipeline(pipeline);
  groups.forEach((group, slot) => {
    pass.setBindGroup(0, group);
    pass.dispatchWorkgroupsIndirect(b.rec, slot * REC_WORDS * 4);
  });
  pass.end();
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
