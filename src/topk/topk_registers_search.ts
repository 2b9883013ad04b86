// The registers top-k stage: the keys copied once into 64 KiB uniform blocks, then one
// dispatch per row range × block (or part of one), each updating the rows' running lists in
// place (no partial lists, no merge). Rows wider than the adapter's registersMaxDim are walked
// in slices: the keys are laid out once in slice windows, and each range × block × part gets
// one dispatch per slice, the partial dot products kept in a buffer between them. Sizing is a
// pure plan, run by one loop.
import type { Gpu } from "../gpu/gpu.ts";
import type { GpuMatrix } from "../gpu/gpu_matrix.ts";
import { createStorage } from "../gpu/buffers.ts";
import type { GpuQuirks } from "../gpu/quirks.ts";
import { dispatch, submit } from "../gpu/program.ts";
import {
  partialSumsBytes,
  partialVec4s,
  type RegisterSlices,
  SLICE_WINDOW_BYTES,
  sliceWindowsProgram,
} from "../gpu/register_slices.ts";
import {
  TOPK_MAX_ROWS_PER_INVOCATION,
  topkKeysPerBlock,
  topkKeysPerDispatch,
  topkRegisterRows,
  topkRegistersProgram,
  type TopkRegistersShape,
  topkSlices,
} from "./topk_programs.ts";
import {
  createLists,
  destroyLists,
  type ListState,
  passBatch,
  queryRows,
  readLists,
  type TopkStageInput,
} from "./_topk_lists.ts";
import type { TopkResult } from "./topk_options.ts";

/** One uniform block of keys: a byte range of one of {@linkcode TopkKeyBlocks}' buffers. */
export interface TopkKeyBlock {
  /** The uniform buffer holding the block. */
  buffer: GPUBuffer;
  /** Global index of the block's first key. */
  keyBase: number;
  /** Keys in the block. */
  keys: number;
  /** Byte offset of the block in `buffer`. */
  offset: number;
}

/** The keys as whole uniform blocks for the registers kernel; see {@linkcode uploadTopkKeyBlocks}. */
export interface TopkKeyBlocks {
  /** The blocks, in key order. */
  blocks: TopkKeyBlock[];
  /** Bytes of one (zero-padded) block; sliced: of one slice window. */
  blockBytes: number;
  /**
   * Rows walked in slices: the slices of a row, and each block is `count` windows from its
   * offset (slice t at `offset + t × blockBytes`); null: whole rows.
   */
  slices: RegisterSlices | null;
  /** Frees the uniform buffers. */
  destroy(): void;
}

/**
 * Copies keys already on the GPU (f32, stride a multiple of 4) into uniform buffers of whole
 * 64 KiB blocks (one buffer per key chunk), the layout the registers kernel reads; rows wider
 * than the adapter's `registersMaxDim` are laid out in slice windows instead (one window per
 * slice of each block).
 *
 * @param gpu The GPU context.
 * @param keys The keys in the kernels' layout.
 * @returns The blocks; call `destroy()` when done.
 *
 * @example Usage
 * ```ts ignore
 * const kb = uploadTopkKeyBlocks(gpu, keys);
 * console.log(kb.blocks.length);
 * kb.destroy();
 * ```
 */
export function uploadTopkKeyBlocks(gpu: Gpu, keys: GpuMatrix): TopkKeyBlocks {
  const d4 = keys.stride / 4;
  const slices = topkSlices(d4, gpu.quirks.registersMaxDim);
  const kb = slices ? slices.rowsPerWindow : topkKeysPerBlock(d4);
  const blockBytes = slices ? SLICE_WINDOW_BYTES : kb * d4 * 16;
  const perBlock = slices ? slices.count : 1;
  const enc = gpu.device.createCommandEncoder({ label: "topk.key_blocks" });
  const blocks: TopkKeyBlock[] = [];
  const buffers: GPUBuffer[] = [];
  for (const c of keys.chunks) {
    if (c.rows === 0) continue;
    const nb = Math.ceil(c.rows / kb);
    const buffer = gpu.device.createBuffer({
      label: `topk.key_blocks[${c.rowStart}..)`,
      size: nb * perBlock * blockBytes,
      usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST |
        (slices ? GPUBufferUsage.STORAGE : 0),
    });
    buffers.push(buffer);
    if (!slices) enc.copyBufferToBuffer(c.buffer, 0, buffer, 0, c.rows * d4 * 16);
    for (let b = 0; b < nb; b++) {
      const rows = Math.min(kb, c.rows - b * kb);
      if (slices) {
        const program = sliceWindowsProgram({
          slices,
          rows,
          srcRow0: b * kb,
          window0: b * perBlock,
        });
        dispatch(gpu, program, [{ buffer: c.buffer, size: c.rows * d4 * 16 }, buffer], enc);
      }
      blocks.push({
        buffer,
        keyBase: c.rowStart + b * kb,
        keys: rows,
        offset: b * perBlock * blockBytes,
      });
    }
  }
  submit(gpu, enc);
  return {
    blocks,
    blockBytes,
    slices,
    destroy() {
      for (const b of buffers) b.destroy();
      buffers.length = 0;
    },
  };
}

/** What the registers search is sized for: a `Gpu`, or its limits and quirks. */
export interface TopkRegistersLimits {
  /** Largest storage binding, in bytes. */
  maxBindingBytes: number;
  /** The adapter's quirks. */
  quirks: Pick<GpuQuirks, "maxMacsPerDispatch" | "maxLoopIterations" | "registersMaxDim">;
}

/** How the registers search splits its work; see {@linkcode topkRegistersPlan}. */
export interface TopkRegistersPlan {
  /** Query rows per chunk (one set of running lists each). */
  nqBatch: number;
  /** Query rows per dispatch (a multiple of 64 × the rows one invocation keeps). */
  rowsPerDispatch: number;
  /** Keys one dispatch scores at most (the loop-iteration cap). */
  keysPerDispatch: number;
  /** Rows walked in slices: the slices of a row; null: whole rows. */
  slices: RegisterSlices | null;
}

/** Bytes of the sliced search's partial sums per dispatch, at most. */
const SLICED_PART_BYTES = 8 << 20;

/**
 * Sizes the registers search: query rows per chunk (one binding for the queries and for the
 * lists), rows per dispatch so that rows × keys per block × d stays under the adapter's
 * multiply-adds per dispatch (one 1.3e9-MAC dispatch returned wrong lists on lavapipe), and
 * keys per dispatch under its loop-iteration cap. Rows wider than `registersMaxDim` are walked
 * in slices: then rows × keys per window × slice width stays under that cap, and the partial
 * sums of a dispatch (rows × keys per window) within one binding and 8 MiB.
 *
 * @param limits The adapter's limits (a `Gpu`).
 * @param s Query rows `n`, `d4` vec4s per row and the list length `k`.
 * @returns The plan.
 *
 * @example Usage
 * ```ts
 * import { topkRegistersPlan } from "./topk_registers_search.ts";
 * import { quirksFor } from "../gpu/quirks.ts";
 * const limits = { maxBindingBytes: 128 << 20, quirks: quirksFor("cpu") };
 * console.log(topkRegistersPlan(limits, { n: 1000, d4: 32, k: 8 }));
 * // { nqBatch: 1000, rowsPerDispatch: 8192, keysPerDispatch: 992, slices: null }
 * ```
 */
export function topkRegistersPlan(
  limits: TopkRegistersLimits,
  s: { n: number; d4: number; k: number },
): TopkRegistersPlan {
  const slices = topkSlices(s.d4, limits.quirks.registersMaxDim);
  const r = slices ? TOPK_MAX_ROWS_PER_INVOCATION : topkRegisterRows(s.d4);
  const kb = slices ? slices.rowsPerWindow : topkKeysPerBlock(s.d4);
  const nqBatch = Math.max(
    1,
    Math.min(
      s.n,
      Math.max(1, Math.floor(limits.maxBindingBytes / (s.d4 * 16))),
      Math.floor(limits.maxBindingBytes / (s.k * 4)),
    ),
  );
  const macs = Math.min(2 ** 33, limits.quirks.maxMacsPerDispatch);
  const width = slices ? slices.width : s.d4;
  let rowsPerDispatch = Math.max(
    64 * r,
    Math.floor(macs / (kb * width * 4) / (64 * r)) * 64 * r,
  );
  if (slices) {
    const budget = Math.min(SLICED_PART_BYTES, limits.maxBindingBytes);
    const partRows = Math.floor(budget / (kb * partialVec4s(r) * 16)) * r;
    rowsPerDispatch = Math.max(1, Math.min(rowsPerDispatch, partRows));
  }
  const keysPerDispatch = topkKeysPerDispatch(s.d4, s.k, limits.quirks.maxLoopIterations, r);
  return { nqBatch, rowsPerDispatch, keysPerDispatch, slices };
}

/** One dispatch of {@linkcode topkRegistersDispatches}. */
export interface TopkRegistersDispatch extends TopkRegistersShape {
  /** Index of the key block it reads. */
  block: number;
  /** Whether it is the last dispatch of its block for its rows (a range of keys ends). */
  endOfBlock: boolean;
  /** Whether it updates the lists (the whole kernel, or the last slice). */
  scores: boolean;
}

/**
 * The dispatches of one query chunk: per range of `rowsPerDispatch` rows, per key block, the
 * block's keys in parts of at most `keysPerDispatch`; sliced, each part once per slice in
 * order (only the last slice updates the lists).
 *
 * @param plan The search's plan ({@linkcode topkRegistersPlan}).
 * @param s Rows of the query chunk, `k`, `d4` and the blocks' key counts.
 * @returns The dispatches, in order.
 *
 * @example Usage
 * ```ts
 * import { topkRegistersDispatches } from "./topk_registers_search.ts";
 * const plan = { nqBatch: 100, rowsPerDispatch: 512, keysPerDispatch: 100 };
 * const ds = topkRegistersDispatches(plan, {
 *   rows: 100, k: 8, d4: 8, blocks: [{ keyBase: 0, keys: 512 }, { keyBase: 512, keys: 30 }],
 * });
 * console.log(ds.length, ds[5]!.nkeys, ds[5]!.endOfBlock); // 7 12 true
 * ```
 */
export function topkRegistersDispatches(
  plan: TopkRegistersPlan,
  s: { rows: number; k: number; d4: number; blocks: { keyBase: number; keys: number }[] },
): TopkRegistersDispatch[] {
  const out: TopkRegistersDispatch[] = [];
  for (let rowBase = 0; rowBase < s.rows; rowBase += plan.rowsPerDispatch) {
    const rows = Math.min(plan.rowsPerDispatch, s.rows - rowBase);
    s.blocks.forEach((blk, block) => {
      for (let off = 0; off < blk.keys; off += plan.keysPerDispatch) {
        const nkeys = Math.min(plan.keysPerDispatch, blk.keys - off);
        const slices = plan.slices ?? null;
        const count = slices ? slices.count : 1;
        for (let slice = 0; slice < count; slice++) {
          out.push({
            block,
            endOfBlock: off + plan.keysPerDispatch >= blk.keys && slice === count - 1,
            scores: slice === count - 1,
            rowBase,
            rows,
            k: s.k,
            keyBase: blk.keyBase,
            nkeys,
            keyOff: off,
            d4: s.d4,
            first: block === 0 && off === 0,
            sliced: slices ? { slices, slice } : null,
          });
        }
      }
    });
  }
  return out;
}

/**
 * The registers search: per query chunk, the dispatches of {@linkcode topkRegistersDispatches}
 * over the key blocks, updating the chunk's running lists in place; one read-back at the end.
 *
 * @param gpu The GPU context.
 * @param keyBlocks The keys as uniform blocks ({@linkcode uploadTopkKeyBlocks} of `input.keys`).
 * @param input Keys in the kernels' layout, validated queries (n ≥ 1), `k`, metric, progress.
 * @returns `n × k` indices and scores.
 *
 * @example Usage
 * ```ts ignore
 * const r = await topkRegistersSearch(gpu, blocks, { keys, queries, k: 8, metric: "cosine" });
 * ```
 */
export async function topkRegistersSearch(
  gpu: Gpu,
  keyBlocks: TopkKeyBlocks,
  input: TopkStageInput,
): Promise<TopkResult> {
  const { k } = input;
  const n = input.queries.rows;
  const d4 = input.keys.stride / 4;
  const plan = topkRegistersPlan(gpu, { n, d4, k });
  const { blocks, blockBytes } = keyBlocks;
  if ((plan.slices === null) !== (keyBlocks.slices === null)) {
    throw new Error("Expected the key blocks to be laid out for this adapter's registers kernel");
  }
  const qLease = queryRows(gpu, input, plan.nqBatch);
  const states: ListState[] = [];
  let part: GPUBuffer | null = null;
  try {
    if (plan.slices) {
      const rows = Math.min(plan.rowsPerDispatch, n);
      const bytes = partialSumsBytes(rows, TOPK_MAX_ROWS_PER_INVOCATION, plan.slices.rowsPerWindow);
      part = createStorage(gpu, bytes, "topk.partial_sums");
    }
    for (const qc of qLease.matrix.chunks) {
      if (qc.rows === 0) continue;
      const st = createLists(gpu, qc, k);
      states.push(st);
      const batch = passBatch(gpu, input.onDone);
      for (const ds of topkRegistersDispatches(plan, { rows: qc.rows, k, d4, blocks })) {
        const blk = blocks[ds.block]!;
        const slice = ds.sliced?.slice ?? 0;
        const window = {
          buffer: blk.buffer,
          offset: blk.offset + slice * blockBytes,
          size: blockBytes,
        };
        const bindings = part
          ? [qc.buffer, window, part, ...(ds.scores ? [st.s, st.i] : [])]
          : [qc.buffer, window, st.s, st.i];
        dispatch(
          gpu,
          topkRegistersProgram(ds),
          bindings,
          batch.encoder(ds.scores ? ds.rows * ds.nkeys : 0),
        );
        if (ds.endOfBlock) batch.boundary();
      }
      batch.flush();
    }
    return await readLists(gpu, states, n, k);
  } finally {
    qLease.release();
    destroyLists(states);
    part?.destroy();
  }
}
