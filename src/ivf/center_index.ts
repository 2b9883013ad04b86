import type { Gpu } from "../gpu/gpu.ts";
import { createStorage, readBack, STORAGE_USAGE, upload } from "../gpu/buffers.ts";
import { type GpuMatrix, gpuMatrixView } from "../gpu/gpu_matrix.ts";
import { dispatch, submit } from "../gpu/program.ts";
import type { Matrix } from "../matrix/matrix.ts";
import { mulberry32, sampleIndices } from "../random/mulberry32.ts";
import {
  cellsProgram,
  FINISH,
  layoutProgram,
  probeBlockCells,
  REC_WORDS,
  rowUnits,
  type ScoreMode,
  scoreMode,
  slotCenters,
} from "./_programs.ts";
import {
  createSortBuffers,
  destroySortBuffers,
  type ProbeCells,
  recordProbe,
  recordSort,
  type SortBuffers,
} from "./_sort.ts";
import { type CenterStore, createStore } from "./_store.ts";
import { setInternals } from "./_state.ts";
import { ivfDefaults } from "./ivf_options.ts";

export type { CenterStore } from "./_store.ts";

/**
 * Similarity of an IVF index: `"cosine"` (unit rows and centers, score = cosine, cells are
 * normalised means), `"l2"` (squared L2 distance, k-means' l2 assignment), or `"ip"` (inner
 * product, top-k's `"ip"`: nothing normalised).
 *
 * @example Usage
 * ```ts ignore
 * const index = buildCenterIndex(gpu, centers, { metric: "l2" });
 * ```
 */
export type IvfMetric = "cosine" | "l2" | "ip";

/**
 * Options of {@linkcode buildCenterIndex}.
 *
 * @example Usage
 * ```ts ignore
 * const options: CenterIndexOptions = { metric: "cosine", cells: 141, iterations: 10 };
 * ```
 */
export interface CenterIndexOptions {
  /** Similarity (from the store's owner when given a store: say the same). @default {"cosine"} */
  metric?: IvfMetric;
  /** Cells C, an integer in `[1, min(K, 65535)]`. @default {round(√K) (ivfDefaults)} */
  cells?: number;
  /** Lloyd iterations over the centers that place the cells. @default {10 (ivfDefaults)} */
  iterations?: number;
  /** Seed of the Lloyd sample and the initial cells. @default {1234} */
  seed?: number;
  /** Lloyd trains on at most this many centers per cell (a seeded sample). @default {64 (ivfDefaults)} */
  samplePerCell?: number;
  /**
   * For Matrix / GpuMatrix centers: also store them as packed f16, for f16 rows (a store
   * brings its own). @default {false}
   */
  f16?: boolean;
  /** Place the cells now; false only allocates, for a caller that calls `rebuild()`. @default {true} */
  build?: boolean;
}

/**
 * Coarse cells over K centers on the GPU, for approximate nearest-center search at
 * n·√K·d cost: C cells (a few Lloyd iterations over the centers), each center in its
 * nearest cell, the centers grouped by cell in 64 KiB blocks. See {@linkcode ivfAssign}
 * and {@linkcode ivfTopk}.
 *
 * @example Usage
 * ```ts ignore
 * const index = buildCenterIndex(gpu, centers);
 * console.log(index.cells, await index.cellSizes());
 * index.destroy();
 * ```
 */
export interface CenterIndex {
  /** Centers K. */
  readonly k: number;
  /** Columns. */
  readonly cols: number;
  /** Cells C. */
  readonly cells: number;
  /** Similarity. */
  readonly metric: IvfMetric;
  /** Whether rows searched against the index are packed f16. */
  readonly f16: boolean;
  /** The centers the index groups (owned by the index unless it was built from a store). */
  readonly store: CenterStore;
  /** The C cell centers (f32, stride = padded width). */
  readonly cellCenters: GpuMatrix;
  /**
   * Places the cells again from the store's current centers (e.g. after a k-means update
   * on the GPU), recording into `encoder` (or submitting at once). Depends only on the
   * centers and the seed, so a resumed run rebuilds the same index.
   */
  rebuild(encoder?: GPUCommandEncoder): void;
  /** Centers per cell (one readback). */
  cellSizes(): Promise<Uint32Array>;
  /** Frees the index's GPU buffers (and its own copy of the centers). */
  destroy(): void;
}

function isStore(c: unknown): c is CenterStore {
  return typeof c === "object" && c !== null && "chunks" in c && "dp" in c && "k" in c &&
    !("stride" in c);
}

function intOption(name: string, v: unknown, lo: number, hi: number, dflt: number): number {
  if (v === undefined) return dflt;
  if (typeof v !== "number" || !Number.isInteger(v) || v < lo || v > hi) {
    throw new RangeError(`Expected ${name} to be an integer in [${lo}, ${hi}] but found ${v}`);
  }
  return v;
}

/**
 * Builds an IVF index over `centers` on the GPU: C ≈ √K cells placed by a few Lloyd
 * iterations over a seeded sample of the centers (K·C·d per iteration), every center in its
 * nearest cell, the centers grouped by cell. All of it is recorded on the GPU (no readback).
 *
 * @param gpu The GPU context.
 * @param centers `K × d` centers: a host Matrix, a GpuMatrix, or a {@linkcode CenterStore}
 * (k-means' centroid store, read in place; the index then follows it through `rebuild()`).
 * @param options Metric, cells, iterations, seed ({@linkcode CenterIndexOptions}).
 * @returns The index; call `destroy()` when done.
 * @throws {RangeError} For an option out of range or K = 0.
 *
 * @example Usage
 * ```ts ignore
 * const index = buildCenterIndex(gpu, centers, { metric: "cosine" });
 * const { assignments } = await ivfAssign(gpu, x, index, { nprobe: 8 });
 * ```
 */
export function buildCenterIndex(
  gpu: Gpu,
  centers: Matrix | GpuMatrix | CenterStore,
  options: CenterIndexOptions = {},
): CenterIndex {
  const metric = options.metric ?? "cosine";
  if (metric !== "cosine" && metric !== "l2" && metric !== "ip") {
    throw new RangeError(
      `Expected metric to be "cosine", "l2" or "ip" but found ${JSON.stringify(metric)}`,
    );
  }
  const borrowed = isStore(centers);
  const store = borrowed
    ? centers
    : createStore(gpu, centers, metric === "cosine", options.f16 ?? false);
  const K = store.k, dp = store.dp;
  const dflt = ivfDefaults({ k: K });
  const C = intOption("cells", options.cells, 1, Math.min(K, 65535), dflt.cells);
  const iterations = intOption("iterations", options.iterations, 0, 1000, dflt.iterations);
  const samplePerCell = intOption(
    "samplePerCell",
    options.samplePerCell,
    1,
    1 << 20,
    dflt.samplePerCell,
  );
  const seed = options.seed ?? 1234;
  const mode: ScoreMode = scoreMode(dp, store.f16);
  const kb = slotCenters(dp, mode);
  const slotBytes = kb * rowUnits(dp, mode) * 16;
  const slots = C + Math.ceil(K / kb);
  const perBuffer = Math.max(1, Math.floor(Math.min(gpu.maxBufferBytes, 2 ** 31) / slotBytes));
  const ns = Math.min(K, Math.max(C, Math.min(samplePerCell * C, 60000)));
  const rand = mulberry32(seed);
  const sampleIdx = sampleIndices(K, ns, rand);
  const initIdx = sampleIndices(ns, C, rand);

  const owned: GPUBuffer[] = [];
  const own = (b: GPUBuffer) => (owned.push(b), b);
  const storage = (bytes: number, label: string) => own(createStorage(gpu, bytes, label));
  const kbc = probeBlockCells(dp);
  const cellBuffer = own(gpu.device.createBuffer({
    label: "ivf.cells",
    size: Math.ceil(C / kbc) * kbc * dp * 4,
    usage: STORAGE_USAGE | GPUBufferUsage.UNIFORM,
  }));
  const cells: ProbeCells = { count: C, dp, buffer: cellBuffer };
  const cellBias = storage(C * 4, "ivf.cell_bias");
  const probeBias = storage(C * 4, "ivf.probe_bias");
  const sampleIdxBuf = own(upload(gpu, sampleIdx, "ivf.sample_index"));
  const initIdxBuf = own(upload(gpu, initIdx, "ivf.init_index"));
  const sample = storage(ns * dp * 4, "ivf.sample");
  const sampleLists = {
    ls: storage(ns * 4, "ivf.sample_ls"),
    li: storage(ns * 4, "ivf.sample_li"),
  };
  const allLists = { ls: storage(K * 4, "ivf.center_ls"), li: storage(K * 4, "ivf.cell_of") };
  const sampleSort: SortBuffers = createSortBuffers(gpu, ns, C, "ivf.sample_sort");
  const centerSort: SortBuffers = createSortBuffers(gpu, K, C, "ivf.center_sort");
  const blockStart = storage(C * 4, "ivf.block_start");
  const rec = own(gpu.device.createBuffer({
    label: "ivf.slot_records",
    size: slots * REC_WORDS * 4,
    usage: STORAGE_USAGE | GPUBufferUsage.INDIRECT,
  }));
  const meta = storage(slots * kb * 8, "ivf.meta");
  const grouped: { buffer: GPUBuffer; slotLo: number; slotHi: number }[] = [];
  for (let lo = 0; lo < slots; lo += perBuffer) {
    const hi = Math.min(slots, lo + perBuffer);
    grouped.push({
      buffer: own(gpu.device.createBuffer({
        label: `ivf.grouped[${lo}..${hi})`,
        size: (hi - lo) * slotBytes,
        usage: STORAGE_USAGE | GPUBufferUsage.UNIFORM,
      })),
      slotLo: lo,
      slotHi: hi,
    });
  }
  const d4 = dp / 4;
  const normFlags = (metric === "cosine" ? FINISH.normalize : 0) |
    (metric === "l2" ? FINISH.l2 : 0);

  let destroyed = false;
  function rebuild(encoder?: GPUCommandEncoder): void {
    if (destroyed) throw new Error("Cannot use the index: it was destroyed");
    const enc = encoder ?? gpu.device.createCommandEncoder({ label: "ivf.rebuild" });
    // The sample of centers, then C of them as the first cells.
    for (const c of store.chunks) {
      dispatch(
        gpu,
        cellsProgram("gather", { count: ns, d4, srcBase: c.kBase, srcRows: c.rows, flags: 0 }),
        [
          sampleIdxBuf,
          { buffer: c.f32, size: Math.max(16, c.rows * dp * 4) },
          sample,
        ],
        enc,
      );
    }
    dispatch(gpu, cellsProgram("gather", { count: C, d4, srcBase: 0, srcRows: ns, flags: 0 }), [
      initIdxBuf,
      sample,
      cellBuffer,
    ], enc);
    const finish = (off: GPUBuffer, bias: GPUBuffer, flags: number) =>
      dispatch(gpu, cellsProgram("finish", { count: C, d4, srcBase: 0, srcRows: 0, flags }), [
        off,
        cellBuffer,
        bias,
      ], enc);
    finish(sampleSort.off, cellBias, normFlags);
    for (let it = 0; it < iterations; it++) {
      recordProbe(gpu, cells, { buffer: sample, rowBase: 0, rows: ns, f16: false }, 1, cellBias, {
        ...sampleLists,
        outBase: 0,
      }, enc);
      recordSort(gpu, sampleLists.li, ns, C, sampleSort, enc);
      dispatch(gpu, cellsProgram("sum", { count: C, d4, srcBase: 0, srcRows: 0, flags: 0 }), [
        sampleSort.off,
        sampleSort.order,
        sample,
        cellBuffer,
      ], enc);
      finish(sampleSort.off, cellBias, normFlags);
    }
    // Every center into its nearest cell, grouped by cell (ascending index within a cell).
    for (const c of store.chunks) {
      recordProbe(
        gpu,
        cells,
        { buffer: c.f32, rowBase: 0, rows: c.rows, f16: false },
        1,
        cellBias,
        {
          ...allLists,
          outBase: c.kBase,
        },
        enc,
      );
    }
    recordSort(gpu, allLists.li, K, C, centerSort, enc);
    finish(centerSort.off, probeBias, (metric === "l2" ? FINISH.l2 : 0) | FINISH.skipEmpty);
    const base = { count: C, slots, kb, srcBase: 0, srcRows: 0, slotLo: 0, slotHi: 0, words: 0 };
    dispatch(gpu, layoutProgram("layout", base), [centerSort.off, blockStart, rec], enc);
    const words = mode === "v4" ? dp / 2 : dp;
    for (const c of store.chunks) {
      const src = mode === "v4" ? c.packed! : c.f32;
      for (const g of grouped) {
        const shape = {
          ...base,
          count: K,
          srcBase: c.kBase,
          srcRows: c.rows,
          slotLo: g.slotLo,
          slotHi: g.slotHi,
          words,
        };
        dispatch(gpu, layoutProgram("gather", shape), [
          centerSort.order,
          allLists.li,
          centerSort.off,
          blockStart,
          { buffer: src, size: Math.max(16, c.rows * words * 4) },
          c.cn,
          g.buffer,
          meta,
        ], enc);
      }
    }
    if (!encoder) submit(gpu, enc);
  }

  const index: CenterIndex = {
    k: K,
    cols: store.d,
    cells: C,
    metric,
    f16: store.f16,
    store,
    cellCenters: gpuMatrixView(cellBuffer, { rows: C, cols: store.d, stride: dp }),
    rebuild,
    async cellSizes() {
      const [raw] = await readBack(gpu, [{ buffer: centerSort.off, bytes: (C + 1) * 4 }]);
      const off = new Uint32Array(raw!);
      return Uint32Array.from({ length: C }, (_, c) => off[c + 1]! - off[c]!);
    },
    destroy() {
      if (destroyed) return;
      destroyed = true;
      for (const b of owned) b.destroy();
      destroySortBuffers(sampleSort);
      destroySortBuffers(centerSort);
      if (!borrowed) (store as CenterStore & { destroy(): void }).destroy();
      state.destroy();
    },
  };
  const state = setInternals(index, {
    gpu,
    mode,
    kb,
    slots,
    slotBytes,
    perBuffer,
    cells,
    probeBias,
    rec,
    meta,
    grouped,
  });
  if (options.build ?? true) rebuild();
  return index;
}
