// Private: the IVF search pass shared by ivfAssign (top-1) and ivfTopk (top-k), recorded into
// one encoder per call, batch by batch: probe → sort pairs by cell → plan → score each block
// slot (indirect) → reduce each row's probes.
import type { Gpu } from "../gpu/gpu.ts";
import type { GpuMatrix } from "../gpu/gpu_matrix.ts";
import { dispatch } from "../gpu/program.ts";
import {
  planProgram,
  reduceListsPerPass,
  reduceProgram,
  registerRows,
  rowUnits,
} from "./_programs.ts";
import { recordScores, type ScoreKernel, scoreTile, topkScoreRows } from "./_score_pass.ts";
import { recordProbe, recordSort } from "./_sort.ts";
import { internals } from "./_state.ts";
import type { CenterIndex } from "./center_index.ts";
import { ivfDefaults } from "./ivf_options.ts";

/** Rows per batch by default (also bounded by the binding limit). */
export const DEFAULT_BATCH_ROWS = 1 << 18;

/** Per row chunk of the rows: the top-1 outputs (idx, score) or the top-k lists (scores, indices). */
export type SearchOutputs = { a: GPUBuffer[]; b: GPUBuffer[] };

/** Checks the shared options; returns nprobe and the batch size for lists of `k`. */
export function searchSizes(
  gpu: Gpu,
  index: CenterIndex,
  nprobe: unknown,
  batchRows: unknown,
  k: number,
): { nprobe: number; batchRows: number } {
  internals(index); // an index made by buildCenterIndex and not destroyed
  const np = nprobe ?? ivfDefaults({ k: index.k, cells: index.cells }).nprobe;
  if (typeof np !== "number" || !Number.isInteger(np) || np < 1 || np > index.cells) {
    throw new RangeError(
      `Expected nprobe to be an integer in [1, ${index.cells}] (the cells) but found ${np}`,
    );
  }
  const br = batchRows ?? DEFAULT_BATCH_ROWS;
  if (typeof br !== "number" || !Number.isInteger(br) || br < 1) {
    throw new RangeError(`Expected batchRows to be a positive integer but found ${br}`);
  }
  const fit = Math.floor(gpu.maxBindingBytes / (np * k * 4));
  if (fit < 1) {
    throw new RangeError(
      `Cannot bind the lists of one row (nprobe ${np} × k ${k}): the storage binding limit is ${gpu.maxBindingBytes} bytes`,
    );
  }
  // At most 2^23 list entries per batch on CPU adapters (32 MiB per workspace buffer), 2^26 on
  // GPUs (256 MiB): every batch records one scoring dispatch per block slot (C + K/kb of them,
  // ≈ 16,600 at K = 1M, d = 512), so a GPU takes fewer, larger batches. Unless asked.
  const entries = gpu.quirks.profile === "cpu" ? 2 ** 23 : 2 ** 26;
  const cap = batchRows === undefined ? Math.max(1024, Math.floor(entries / (np * k))) : br;
  return { nprobe: np, batchRows: Math.min(br, cap, fit, 65535 * 64) };
}

/** Checks that `x` is in the layout the index's kernels read. */
export function checkRows(index: CenterIndex, x: GpuMatrix, name: string): void {
  const { dp } = index.store;
  if (x.cols !== index.cols) {
    throw new TypeError(
      `Expected ${name} to have ${index.cols} columns like the centers but found ${x.cols}`,
    );
  }
  const dtype = index.f16 ? "f16" : "f32";
  if (x.stride !== dp || x.dtype !== dtype) {
    throw new TypeError(
      `Expected ${name} on the GPU with stride ${dp} and dtype ${dtype} (the index's layout) but found stride ${x.stride} and dtype ${x.dtype}`,
    );
  }
  if (index.metric === "cosine" && !x.normalized) {
    throw new TypeError(`Expected ${name} to be L2-normalised for a cosine index`);
  }
}

/**
 * Records the search of every row of `x` (checked) for its `k` best centers (k = 1: the
 * assignment, with the exact kernel's scores) within its `nprobe` best cells.
 */
export function recordSearch(
  gpu: Gpu,
  index: CenterIndex,
  x: GpuMatrix,
  k: number,
  sizes: { nprobe: number; batchRows: number },
  out: SearchOutputs,
  enc: GPUCommandEncoder,
  previous = false,
): void {
  const st = internals(index);
  const { dp } = index.store;
  const topk = k > 1;
  const l2 = index.metric === "l2";
  const kernel: ScoreKernel = {
    mode: st.mode,
    dp,
    kb: st.kb,
    rows: topk ? topkScoreRows(dp, st.mode, k) : registerRows(dp, st.mode),
    l2,
    k: topk ? k : 0,
  };
  const tile = scoreTile(kernel);
  const np = sizes.nprobe;
  x.chunks.forEach((chunk, i) => {
    for (let rowBase = 0; rowBase < chunk.rows; rowBase += sizes.batchRows) {
      const rows = Math.min(sizes.batchRows, chunk.rows - rowBase);
      const pairs = rows * np;
      const ws = st.workspace(pairs, k);
      const f16 = x.dtype === "f16";
      recordProbe(gpu, st.cells, { buffer: chunk.buffer, rowBase, rows, f16 }, np, st.probeBias, {
        ls: ws.ls,
        li: ws.li,
        outBase: 0,
      }, enc);
      recordSort(gpu, ws.li, pairs, index.cells, ws.sort, enc);
      const plan = planProgram({ slots: st.slots, cells: index.cells, tile, rowBase, np, k });
      dispatch(gpu, plan, [ws.sort.off, st.rec], enc);
      recordScores(
        gpu,
        kernel,
        {
          rec: st.rec,
          x: chunk.buffer,
          grouped: st.grouped,
          slotBytes: st.slotBytes,
          meta: st.meta,
          order: ws.sort.order,
          bs: ws.bs,
          bi: ws.bi,
        },
        st.scoreGroups,
        enc,
      );
      const shape = {
        rows,
        rowBase,
        np,
        k,
        d4: rowUnits(dp, st.mode),
        l2: l2 ? 1 : 0,
        lo: 0,
        hi: np,
        state: 0,
        kBase: 0,
        kRows: 0,
      };
      if (!topk) {
        if (previous) {
          index.store.chunks.forEach((c, j) => {
            const s = { ...shape, state: j, kBase: c.kBase, kRows: c.rows };
            const cents = st.mode === "v4" ? c.packed! : c.f32;
            dispatch(gpu, reduceProgram(st.mode, "prev", s), [
              chunk.buffer,
              out.a[i]!,
              cents,
              c.cn,
              ws.ps,
              ws.pi,
            ], enc);
          });
        }
        const s = { ...shape, state: previous ? 1 : 0 };
        dispatch(gpu, reduceProgram(st.mode, "top1", s), [
          chunk.buffer,
          ws.li,
          ws.bs,
          ws.bi,
          out.a[i]!,
          out.b[i]!,
          ws.ps,
          ws.pi,
        ], enc);
        continue;
      }
      const per = reduceListsPerPass(k);
      for (let lo = 0; lo < np; lo += per) {
        const s = { ...shape, lo, hi: Math.min(np, lo + per), state: lo > 0 ? 1 : 0 };
        dispatch(
          gpu,
          reduceProgram(st.mode, "topk", s),
          [ws.li, ws.bs, ws.bi, out.a[i]!, out.b[i]!, st.meta],
          enc,
        );
      }
    }
  });
}
