// Private: the GPU counting sort of the IVF index (centers by cell, (row, probe) pairs by
// cell) and the probe that produces its keys, both recorded into an encoder.
import type { Gpu } from "../gpu/gpu.ts";
import { createStorage } from "../gpu/buffers.ts";
import { type Binding, dispatch } from "../gpu/program.ts";
import { probeBlockCells, probeProgram, sortProgram, type SortShape } from "./_programs.ts";

/** Counter entries (cells × blocks) a sort may use: 16 MiB. */
const MAX_COUNTERS = 1 << 22;

/** Elements per block for sorting `m` elements into `cells` keys. */
export function sortBlock(m: number, cells: number): number {
  const blocks = Math.max(1, Math.min(65535, Math.floor(MAX_COUNTERS / cells)));
  return Math.max(256, Math.ceil(m / blocks));
}

/** Buffers of one sort: counters, key offsets (cells + 1) and the sorted element ids. */
export interface SortBuffers {
  cnt: GPUBuffer;
  off: GPUBuffer;
  order: GPUBuffer;
}

/** Allocates the buffers to sort `m` elements into `cells` keys. */
export function createSortBuffers(gpu: Gpu, m: number, cells: number, label: string): SortBuffers {
  const nb = Math.ceil(m / sortBlock(m, cells));
  return {
    cnt: createStorage(gpu, cells * nb * 4, `${label}.counters`),
    off: createStorage(gpu, (cells + 1) * 4, `${label}.offsets`),
    order: createStorage(gpu, m * 4, `${label}.order`),
  };
}

/** Frees sort buffers. */
export function destroySortBuffers(s: SortBuffers): void {
  s.cnt.destroy();
  s.off.destroy();
  s.order.destroy();
}

/**
 * Records a stable counting sort of elements `0..m-1` by `keys[e]` (keys ≥ cells dropped):
 * `off[c]..off[c+1]` are then the positions in `order` of the elements with key c, in
 * increasing element order.
 */
export function recordSort(
  gpu: Gpu,
  keys: GPUBuffer,
  m: number,
  cells: number,
  s: SortBuffers,
  enc: GPUCommandEncoder,
): void {
  const bsize = sortBlock(m, cells);
  const shape: SortShape = { m, nb: Math.ceil(m / bsize), bsize, cells };
  enc.clearBuffer(s.cnt, 0, Math.max(4, cells * shape.nb * 4));
  if (m > 0) dispatch(gpu, sortProgram("count", shape), [keys, s.cnt], enc);
  dispatch(gpu, sortProgram("scan", shape), [s.cnt, s.off], enc);
  dispatch(gpu, sortProgram("prefix", shape), [s.off], enc);
  if (m > 0) dispatch(gpu, sortProgram("scatter", shape), [keys, s.cnt, s.off, s.order], enc);
}

/** Cell centers as the probe reads them: 64 KiB uniform blocks of f32 rows, and biases. */
export interface ProbeCells {
  /** Cells. */
  count: number;
  /** Padded width. */
  dp: number;
  /** `ceil(count / blockCells) × blockCells` rows of `dp` f32 values (STORAGE | UNIFORM). */
  buffer: GPUBuffer;
}

/** Rows to probe: `rows` rows from `rowBase` of `buffer` (stride `dp`, f32 or packed f16). */
export interface ProbeRows {
  buffer: GPUBuffer;
  rowBase: number;
  rows: number;
  f16: boolean;
}

/**
 * Records the probe: for each row, its `np` best cells by dot − bias (sorted lists written
 * at `ls/li[(outBase + i) * np + t]`). One dispatch per 64 KiB block of cells.
 */
export function recordProbe(
  gpu: Gpu,
  cells: ProbeCells,
  rows: ProbeRows,
  np: number,
  bias: GPUBuffer,
  lists: { ls: GPUBuffer; li: GPUBuffer; outBase: number },
  enc: GPUCommandEncoder,
): void {
  if (rows.rows === 0) return;
  const { dp } = cells;
  const kb = probeBlockCells(dp);
  const blockBytes = kb * dp * 4;
  for (let keyBase = 0; keyBase < cells.count; keyBase += kb) {
    const block: Binding = { buffer: cells.buffer, offset: keyBase * dp * 4, size: blockBytes };
    const program = probeProgram(dp, rows.f16, np, {
      rowBase: rows.rowBase,
      rows: rows.rows,
      keyBase,
      nkeys: Math.min(kb, cells.count - keyBase),
      first: keyBase === 0 ? 1 : 0,
      outBase: lists.outBase,
      bits: Math.max(1, Math.ceil(Math.log2(cells.count))),
    });
    dispatch(gpu, program, [rows.buffer, block, bias, lists.ls, lists.li], enc);
  }
}
