// Private: what the IVF searches need of an index beyond its public fields, and the search
// workspace (probe lists, pair sort, per-probe results), kept on the index and grown on demand.
import type { Gpu } from "../gpu/gpu.ts";
import { createStorage } from "../gpu/buffers.ts";
import type { ScoreMode } from "./_programs.ts";
import type { ScoreGroupCache } from "./_score_pass.ts";
import {
  createSortBuffers,
  destroySortBuffers,
  type ProbeCells,
  type SortBuffers,
} from "./_sort.ts";

/** The GPU state of a built index. */
export interface IndexInternals {
  gpu: Gpu;
  mode: ScoreMode;
  /** Centers per block slot. */
  kb: number;
  /** Block slots. */
  slots: number;
  /** Bytes of one slot's uniform block. */
  slotBytes: number;
  /** Slots per grouped buffer. */
  perBuffer: number;
  cells: ProbeCells;
  /** Per-cell probe bias (+Inf for empty cells). */
  probeBias: GPUBuffer;
  /** Slot records (indirect args + slot and batch fields). */
  rec: GPUBuffer;
  /** (0.5‖c‖², center index) per grouped position. */
  meta: GPUBuffer;
  /** The grouped centers, slots [slotLo, slotHi) per buffer. */
  grouped: { buffer: GPUBuffer; slotLo: number; slotHi: number }[];
}

/** Buffers of one batch: `pairs` (row, probe) pairs with lists of `k`. */
export interface Workspace {
  pairs: number;
  k: number;
  ls: GPUBuffer;
  li: GPUBuffer;
  sort: SortBuffers;
  bs: GPUBuffer;
  bi: GPUBuffer;
  /** Score and index of each row's previous center (`pairs` entries, at least the rows). */
  ps: GPUBuffer;
  pi: GPUBuffer;
}

/** Internals plus the workspace. */
export interface IndexState extends IndexInternals {
  /** The scoring passes' bind groups, kept between batches (see recordScores). */
  scoreGroups: ScoreGroupCache;
  /** Set once the index is destroyed. */
  destroyed: boolean;
  /** A workspace for at least `pairs` pairs with lists of `k`. */
  workspace(pairs: number, k: number): Workspace;
  /** Frees the workspaces. */
  destroy(): void;
}

const states = new WeakMap<object, IndexState>();

/** Attaches the internals to `index`; returns its state. */
export function setInternals(index: object, internals: IndexInternals): IndexState {
  // Workspaces that got too small stay alive until destroy(): work recorded into an encoder
  // not yet submitted may still use them.
  const all: Workspace[] = [];
  let current: Workspace | undefined;
  const state: IndexState = {
    ...internals,
    scoreGroups: { sets: [] },
    destroyed: false,
    workspace(pairs, k) {
      if (current && current.pairs >= pairs && current.k >= k) return current;
      const p = Math.max(pairs, current?.pairs ?? 0), kk = Math.max(k, current?.k ?? 0);
      const { gpu } = internals;
      current = {
        pairs: p,
        k: kk,
        ls: createStorage(gpu, p * 4, "ivf.probe_scores"),
        li: createStorage(gpu, p * 4, "ivf.probe_cells"),
        sort: createSortBuffers(gpu, p, internals.cells.count, "ivf.pair_sort"),
        bs: createStorage(gpu, p * kk * 4, "ivf.slot_scores"),
        bi: createStorage(gpu, p * kk * 4, "ivf.slot_indices"),
        ps: createStorage(gpu, p * 4, "ivf.previous_scores"),
        pi: createStorage(gpu, p * 4, "ivf.previous_indices"),
      };
      all.push(current);
      return current;
    },
    destroy() {
      state.destroyed = true;
      for (const w of all) {
        for (const b of [w.ls, w.li, w.bs, w.bi, w.ps, w.pi]) b.destroy();
        destroySortBuffers(w.sort);
      }
      all.length = 0;
      current = undefined;
      state.scoreGroups.sets.length = 0;
    },
  };
  states.set(index, state);
  return state;
}

/** The state of an index made by buildCenterIndex. */
export function internals(index: object): IndexState {
  const s = states.get(index);
  if (!s) throw new TypeError("Expected an index made by buildCenterIndex()");
  if (s.destroyed) throw new Error("Cannot use the index: it was destroyed");
  return s;
}
