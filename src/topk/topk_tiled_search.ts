// The tiled top-k stage: the workgroup-memory kernel over ranges of keys, each pass's partial
// lists merged into the running lists on the GPU. Sizing is a pure plan, run by one loop.
import type { Gpu } from "../gpu/gpu.ts";
import type { GpuQuirks } from "../gpu/quirks.ts";
import { createStorage } from "../gpu/buffers.ts";
import { dispatch } from "../gpu/program.ts";
import {
  TOPK_TILED_LISTS_PER_SPLIT,
  TOPK_TILED_ROWS_PER_WORKGROUP,
  topkMergeProgram,
  type TopkPassShape,
  topkTiledProgram,
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

/** The adapter limits a top-k plan reads (a {@linkcode Gpu} has them). */
export interface TopkLimits {
  /** Largest storage binding, in bytes. */
  maxBindingBytes: number;
  /** The adapter's quirks. */
  quirks: Pick<GpuQuirks, "maxMacsPerDispatch" | "maxLoopIterations">;
}

/** What the tiled search is sized for. */
export interface TopkTiledShape {
  /** Query rows. */
  n: number;
  /** vec4s per (zero-padded) row. */
  d4: number;
  /** List length. */
  k: number;
  /** Rows of the largest key chunk. */
  maxKeyRows: number;
}

/** How the tiled search splits its work; see {@linkcode topkTiledPlan}. */
export interface TopkTiledPlan {
  /** Query rows per chunk (one set of running lists and one partial buffer each). */
  nqBatch: number;
  /** Most splits (workgroups along y) of one pass's keys. */
  splits: number;
  /** Multiply-adds one pass may do. */
  passMacs: number;
}

/** Smallest range of keys one split is given. */
const MIN_SPAN = 256;
/** Workgroups a pass aims for when the queries alone give too few. */
const TARGET_WORKGROUPS = 1024;

/**
 * Sizes the tiled search: query rows per chunk (bounded by one binding for the queries and
 * for the partial lists), splits of the keys over workgroups (y) when the queries alone give
 * too few, and the multiply-adds one pass may do (2^27 on CPU adapters: one 1.3e9-MAC dispatch
 * returned wrong lists on lavapipe).
 *
 * @param limits The adapter's limits (a `Gpu`).
 * @param s The search's shape.
 * @returns The plan.
 * @throws {RangeError} When one binding cannot hold four lists of `k` entries.
 *
 * @example Usage
 * ```ts
 * import { topkTiledPlan } from "./topk_tiled_search.ts";
 * import { quirksFor } from "../gpu/quirks.ts";
 * const limits = { maxBindingBytes: 128 << 20, quirks: quirksFor("cpu") };
 * console.log(topkTiledPlan(limits, { n: 1000, d4: 32, k: 8, maxKeyRows: 5000 }));
 * // { nqBatch: 1000, splits: 20, passMacs: 134217728 }
 * ```
 */
export function topkTiledPlan(limits: TopkLimits, s: TopkTiledShape): TopkTiledPlan {
  const sub = TOPK_TILED_LISTS_PER_SPLIT;
  const listBytes = s.k * 4;
  const maxLists = Math.floor(limits.maxBindingBytes / listBytes);
  if (maxLists < sub) {
    throw new RangeError(
      `Expected a storage binding of at least ${
        sub * listBytes
      } bytes for k = ${s.k} but found ${limits.maxBindingBytes}`,
    );
  }
  const rowsPerWg = TOPK_TILED_ROWS_PER_WORKGROUP;
  let nqBatch = Math.min(
    s.n,
    Math.max(1, Math.floor(limits.maxBindingBytes / (s.d4 * 16))),
    Math.floor(maxLists / sub),
    65535 * rowsPerWg,
  );
  let splits = Math.max(
    1,
    Math.min(
      Math.ceil(TARGET_WORKGROUPS / Math.ceil(nqBatch / rowsPerWg)),
      Math.ceil(s.maxKeyRows / MIN_SPAN),
      Math.floor(maxLists / sub),
    ),
  );
  nqBatch = Math.max(1, Math.min(nqBatch, Math.floor(maxLists / (sub * splits))));
  splits = Math.max(1, Math.min(splits, Math.floor(maxLists / (sub * nqBatch))));
  return { nqBatch, splits, passMacs: Math.min(2 ** 31, limits.quirks.maxMacsPerDispatch) };
}

/** One pass of {@linkcode topkTiledPasses}: its shape and the key chunk it reads. */
export interface TopkTiledPass extends TopkPassShape {
  /** Index of the key chunk (in the keys' `chunks`). */
  chunk: number;
}

/**
 * The passes of one query chunk over every key chunk: each chunk's keys in ranges of at most
 * `passMacs / (nq × 4·d4)` keys, each range split over at most `plan.splits` workgroups.
 *
 * @param plan The search's plan ({@linkcode topkTiledPlan}).
 * @param s Rows of the query chunk (`nq`), `k`, `d4` and the key chunks.
 * @returns One {@linkcode TopkTiledPass} per pass, in order.
 *
 * @example Usage
 * ```ts
 * import { topkTiledPasses } from "./topk_tiled_search.ts";
 * const plan = { nqBatch: 100, splits: 4, passMacs: 2 ** 22 };
 * const passes = topkTiledPasses(plan, {
 *   nq: 100, k: 8, d4: 8, keyChunks: [{ rowStart: 0, rows: 3000 }, { rowStart: 3000, rows: 500 }],
 * });
 * console.log(passes.length, passes[0]!.splits, passes[0]!.count); // 4 4 1310
 * ```
 */
export function topkTiledPasses(
  plan: TopkTiledPlan,
  s: { nq: number; k: number; d4: number; keyChunks: { rowStart: number; rows: number }[] },
): TopkTiledPass[] {
  const perPass = Math.max(1, Math.floor(plan.passMacs / (s.nq * s.d4 * 4)));
  const passes: TopkTiledPass[] = [];
  for (const [chunk, kc] of s.keyChunks.entries()) {
    for (let j = 0; j < kc.rows; j += perPass) {
      const count = Math.min(perPass, kc.rows - j);
      const want = Math.max(1, Math.min(plan.splits, Math.ceil(count / MIN_SPAN)));
      const span = Math.ceil(count / want);
      passes.push({
        chunk,
        nq: s.nq,
        nkeys: kc.rows,
        k: s.k,
        keyBase: kc.rowStart,
        span,
        splits: Math.ceil(count / span),
        d4: s.d4,
        first: j,
        count,
      });
    }
  }
  return passes;
}

/**
 * The tiled search: per query chunk, the passes of {@linkcode topkTiledPasses}, each followed
 * by a merge of its partial lists into the chunk's running lists; one read-back at the end.
 *
 * @param gpu The GPU context.
 * @param input Keys in the kernels' layout, validated queries (n ≥ 1), `k`, metric, progress.
 * @returns `n × k` indices and scores.
 *
 * @example Usage
 * ```ts ignore
 * const { indices } = await topkTiledSearch(gpu, { keys, queries, k: 8, metric: "cosine" });
 * ```
 */
export async function topkTiledSearch(gpu: Gpu, input: TopkStageInput): Promise<TopkResult> {
  const { keys, k } = input;
  const n = input.queries.rows;
  const d4 = keys.stride / 4;
  const maxKeyRows = Math.max(...keys.chunks.map((c) => c.rows));
  const plan = topkTiledPlan(gpu, { n, d4, k, maxKeyRows });
  const qLease = queryRows(gpu, input, plan.nqBatch);
  const partBytes = plan.nqBatch * plan.splits * TOPK_TILED_LISTS_PER_SPLIT * k * 4;
  const partS = createStorage(gpu, partBytes, "topk.partial_scores");
  const partI = createStorage(gpu, partBytes, "topk.partial_indices");
  const states: ListState[] = [];
  try {
    for (const qc of qLease.matrix.chunks) {
      if (qc.rows === 0) continue;
      const st = createLists(gpu, qc, k);
      states.push(st);
      const batch = passBatch(gpu, input.onDone);
      const passes = topkTiledPasses(plan, { nq: qc.rows, k, d4, keyChunks: keys.chunks });
      passes.forEach((pass, p) => {
        const kb = keys.chunks[pass.chunk]!.buffer;
        const enc = batch.encoder(qc.rows * pass.count);
        dispatch(gpu, topkTiledProgram(pass), [qc.buffer, kb, partS, partI], enc);
        const merge = topkMergeProgram({
          nq: qc.rows,
          k,
          lists: pass.splits * TOPK_TILED_LISTS_PER_SPLIT,
          hasState: p > 0,
        });
        dispatch(gpu, merge, [partS, partI, st.s, st.i], enc);
        batch.boundary();
      });
      batch.flush();
    }
    return await readLists(gpu, states, n, k);
  } finally {
    qLease.release();
    partS.destroy();
    partI.destroy();
    destroyLists(states);
  }
}
