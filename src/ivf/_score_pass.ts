// Private: the IVF scoring pass: per block slot of centers, an indirect dispatch (sized on the
// GPU by the plan pass) that scores the rows probing the slot's cell against its centers, all
// slots of a batch in one compute pass, their bind groups kept between batches.
import scoreCode from "../../kernels/ivf_score.wgsl" with { type: "text" };
import type { Gpu } from "../gpu/gpu.ts";
import { assertUsable } from "../gpu/gpu.ts";
import { specialize } from "../gpu/template.ts";
import { getPipeline } from "../gpu/pipeline_cache.ts";
import { expandLists, REC_WORDS, registerRows, rowUnits, type ScoreMode } from "./_programs.ts";

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
