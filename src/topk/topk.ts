import type { Gpu } from "../gpu/gpu.ts";
import { autotune } from "../gpu/autotune.ts";
import { readBack } from "../gpu/buffers.ts";
import { createStorage } from "../gpu/buffers.ts";
import {
  type GpuMatrix,
  isGpuMatrix,
  repackMatrix,
  rowsPerBinding,
  useGpuMatrix,
} from "../gpu/gpu_matrix.ts";
import { dispatch, submit } from "../gpu/program.ts";
import { checkFinite, checkMatrix, type Matrix } from "../matrix/matrix.ts";
import {
  registerRows,
  TOPK_MAX_K,
  topkKeysPerBlock,
  topkKeysPerDispatch,
  topkMergeProgram,
  topkRegistersProgram,
  topkTiledProgram,
} from "./topk_programs.ts";

/** Similarity used by {@linkcode topk}: cosine (both sides L2-normalised) or inner product. */
export type TopkMetric = "cosine" | "ip";

/**
 * Kernel design: `"registers"` keeps query rows in private memory and streams the keys
 * (fastest on CPU adapters such as lavapipe), `"tiled"` stages 64 × 64 tiles in workgroup
 * memory (the design for real GPUs), `"auto"` picks per adapter (timing both once per
 * adapter and row width, see {@linkcode TopkOptions.autotune}).
 */
export type TopkVariant = "auto" | "registers" | "tiled";

/** Options for {@linkcode topk} and {@linkcode uploadTopkKeys}. */
export interface TopkOptions {
  /** Similarity; `"cosine"` L2-normalises queries and keys on the GPU. @default {"cosine"} */
  metric?: TopkMetric;
  /**
   * Kernel design; `"auto"` times the sensible designs on the first search (see
   * {@linkcode TopkOptions.autotune}), or without tuning uses `"registers"` on
   * fallback/CPU adapters for rows up to 128 values and `"tiled"` elsewhere
   * (`"registers"` also falls back to `"tiled"` for rows over 512 values).
   * @default {"auto"}
   */
  variant?: TopkVariant;
  /**
   * For `variant: "auto"`: time the candidate designs on the first `search()` (its first
   * 256 query rows against all the keys) and keep the faster, caching the choice per
   * adapter, row width and metric (see `autotune` in `src/gpu/autotune.ts`; later
   * processes read it from the cache). When false, the heuristic
   * {@linkcode autoTopkVariant} is used untimed and the cache is neither read nor written.
   * @default {true unless the environment sets MLCD_AUTOTUNE=0}
   */
  autotune?: boolean;
  /**
   * Cap on keys per GPU chunk (keys are also split wherever they exceed one storage
   * binding); each chunk's partial top-k is merged on the GPU. @default {undefined}
   */
  keysPerChunk?: number;
}

/** Result of {@linkcode topk}: `n × k` row-major, each row best first. */
export interface TopkResult {
  /** Key indices, row-major `n × k`. */
  indices: Uint32Array;
  /** Similarities of those keys, row-major `n × k`, descending per row. */
  scores: Float32Array;
}

/**
 * How a {@linkcode TopkKeys} kernel design was chosen.
 *
 * @example Usage
 * ```ts ignore
 * const index = uploadTopkKeys(gpu, centers);
 * await index.search(queries, 8);
 * console.log(index.variant, index.tuning?.source); // e.g. "registers" "cache"
 * ```
 */
export interface TopkTuning {
  /**
   * "requested": the caller named the variant; "tuned": timed on the first search;
   * "cache": a timing stored earlier for this adapter; "default": the heuristic choice,
   * untimed (autotuning disabled, a single sensible candidate, or tuning failed).
   */
  source: "requested" | "tuned" | "cache" | "default";
  /** Milliseconds of the chosen design on the tuning sample, or null when untimed. */
  ms: number | null;
}

/** Keys resident on the GPU, searched batch after batch without re-uploading. */
export interface TopkKeys {
  /** Number of keys. */
  rows: number;
  /** Dimension. */
  cols: number;
  /** Similarity used. */
  metric: TopkMetric;
  /**
   * The kernel design in use: for `"auto"` with autotuning, the heuristic choice until
   * the first search has tuned, then the chosen design.
   */
  readonly variant: "registers" | "tiled";
  /**
   * How {@linkcode TopkKeys.variant} was chosen; undefined while an `"auto"` choice
   * still waits for the first search to time the candidates.
   */
  readonly tuning?: TopkTuning | undefined;
  /**
   * Exact top-k of every query row against the keys.
   *
   * @param queries `n × cols` queries (finite values), on the host or already on the GPU (a
   * `GpuMatrix` is read in place when it is f32 with a stride that is a multiple of 4, and
   * normalised for cosine; otherwise it is re-packed on the GPU).
   * @param k List length in `[1, min(64, rows)]`.
   * @param options `onProgress` is called with the fraction of the search done as the GPU
   * finishes each range of keys (for long searches; a first `"auto"` search's tuning is not
   * counted).
   * @returns Indices and scores, `n × k`.
   */
  search(
    queries: Matrix | GpuMatrix,
    k: number,
    options?: { onProgress?: (fraction: number) => void },
  ): Promise<TopkResult>;
  /** Frees the GPU buffers. */
  destroy(): void;
}

/**
 * The kernel design `"auto"` picks for `gpu` and rows of width `d`: `"registers"` on
 * fallback (CPU) adapters such as lavapipe, llvmpipe or SwiftShader for `d` up to 128 (its
 * unrolled shader's compile time grows with `d`), `"tiled"` elsewhere.
 *
 * @param gpu The GPU context.
 * @param d Row width (omit for the adapter's choice at small widths).
 * @returns The variant.
 *
 * @example Usage
 * ```ts ignore
 * console.log(autoTopkVariant(gpu)); // "registers" on lavapipe
 * ```
 */
export function autoTopkVariant(gpu: Gpu, d = 0): "registers" | "tiled" {
  return gpu.quirks.preferRegisters && d <= gpu.quirks.registersMaxDim ? "registers" : "tiled";
}

/** Query rows of the first search that `"auto"` times the candidates on. */
const TUNE_QUERY_ROWS = 256;

type TopkCandidate = { variant: "registers" | "tiled" };

/**
 * The designs `"auto"` chooses among for rows of `d` values: the heuristic choice first,
 * then the other one. `"registers"` only when a row fits its private block, and on CPU
 * adapters only for d ≤ 128 (its unrolled shader takes minutes to compile on lavapipe).
 */
function topkCandidates(gpu: Gpu, d: number): ("registers" | "tiled")[] {
  const d4 = Math.ceil(d / 4);
  const registersOk = registerRows(d4) >= 1 && d <= gpu.quirks.registersMaxDim;
  const order: ("registers" | "tiled")[] = autoTopkVariant(gpu, d) === "registers"
    ? ["registers", "tiled"]
    : ["tiled", "registers"];
  return order.filter((v) => v === "tiled" || registersOk);
}

function checkOptions(options: TopkOptions): void {
  const { metric, variant, keysPerChunk, autotune } = options;
  if (metric !== undefined && metric !== "cosine" && metric !== "ip") {
    throw new TypeError(`Expected metric to be "cosine" or "ip" but found ${metric}`);
  }
  if (
    variant !== undefined && variant !== "auto" && variant !== "registers" && variant !== "tiled"
  ) {
    throw new TypeError(
      `Expected variant to be "auto", "registers" or "tiled" but found ${variant}`,
    );
  }
  if (autotune !== undefined && typeof autotune !== "boolean") {
    throw new TypeError(`Expected autotune to be a boolean but found ${autotune}`);
  }
  if (keysPerChunk !== undefined && (!Number.isInteger(keysPerChunk) || keysPerChunk < 1)) {
    throw new RangeError(
      `Expected keysPerChunk to be a positive integer but found ${keysPerChunk}`,
    );
  }
}

/** Running lists of one query chunk on the GPU (`rows × k` scores and indices). */
interface ListState {
  s: GPUBuffer;
  i: GPUBuffer;
  rowStart: number;
  rows: number;
}

/** Allocates the running lists of query chunk `qc`. */
function createLists(gpu: Gpu, qc: { rowStart: number; rows: number }, k: number): ListState {
  return {
    s: createStorage(gpu, qc.rows * k * 4, "topk.state_scores"),
    i: createStorage(gpu, qc.rows * k * 4, "topk.state_indices"),
    rowStart: qc.rowStart,
    rows: qc.rows,
  };
}

function destroyLists(states: ListState[]): void {
  for (const st of states) {
    st.s.destroy();
    st.i.destroy();
  }
}

/**
 * Records passes into command encoders, submitting every `gpu.quirks.passesPerSubmit` passes
 * (so that lavapipe starts work early and no encoder grows without bound); call `flush`
 * after the last pass.
 */
function passBatch(
  gpu: Gpu,
  onDone?: (units: number) => void,
): { encoder(units?: number): GPUCommandEncoder; flush(): void; boundary(): void } {
  let enc = gpu.device.createCommandEncoder({ label: "topk" });
  let passes = 0;
  // Work (rows × keys) recorded since the last submit, reported once the GPU has done it.
  let units = 0;
  const send = () => {
    submit(gpu, enc);
    if (onDone && units > 0) {
      const u = units;
      gpu.device.queue.onSubmittedWorkDone().then(() => onDone(u), () => {});
    }
    units = 0;
  };
  return {
    encoder(work = 0) {
      if (passes > 0 && passes % gpu.quirks.passesPerSubmit === 0) {
        send();
        enc = gpu.device.createCommandEncoder({ label: "topk" });
      }
      passes++;
      units += work;
      return enc;
    },
    flush() {
      send();
    },
    /** With progress reporting: submits at the end of a range of keys. */
    boundary() {
      if (!onDone || units === 0) return;
      send();
      enc = gpu.device.createCommandEncoder({ label: "topk" });
    },
  };
}

/** Reads every chunk's lists back in one round trip into `n × k` arrays. */
async function readLists(
  gpu: Gpu,
  states: ListState[],
  n: number,
  k: number,
): Promise<TopkResult> {
  const parts = await readBack(
    gpu,
    states.flatMap((st) => [
      { buffer: st.s, bytes: st.rows * k * 4 },
      { buffer: st.i, bytes: st.rows * k * 4 },
    ]),
  );
  const scores = new Float32Array(n * k);
  const indices = new Uint32Array(n * k);
  states.forEach((st, j) => {
    scores.set(new Float32Array(parts[2 * j]!), st.rowStart * k);
    indices.set(new Uint32Array(parts[2 * j + 1]!), st.rowStart * k);
  });
  return { indices, scores };
}

/** Checks a host Matrix (shape, finite values); a GpuMatrix was checked when uploaded. */
function checkRowsIn(m: Matrix | GpuMatrix, name: string): void {
  if (isGpuMatrix(m)) return;
  checkMatrix(m, name);
  checkFinite(m, name);
}

/**
 * Uploads (and for cosine, normalises) keys once so that many query batches can be
 * searched against them: the building block of {@linkcode topk} and `assignLabels`.
 *
 * @param gpu The GPU context.
 * @param keys `C × d` keys with finite values, on the host or already on the GPU (a
 * `GpuMatrix` in the layout top-k reads, f32 with a stride that is a multiple of 4 and, for
 * cosine, normalised, is used in place and left alive by `destroy()`; otherwise it is
 * re-packed on the GPU).
 * @param options Metric, variant and chunking ({@linkcode TopkOptions}).
 * @returns The resident keys; call `destroy()` when done.
 * @throws {RangeError} When a key row holds NaN or ±Infinity (the message names the row).
 *
 * @example Usage
 * ```ts ignore
 * const index = uploadTopkKeys(gpu, centers);
 * const { indices } = await index.search(batch, 8);
 * index.destroy();
 * ```
 */
export function uploadTopkKeys(
  gpu: Gpu,
  keys: Matrix | GpuMatrix,
  options: TopkOptions = {},
): TopkKeys {
  checkOptions(options);
  checkRowsIn(keys, "keys");
  const metric = options.metric ?? "cosine";
  const d = keys.cols;
  const d4 = Math.ceil(d / 4);
  const wanted = options.variant ?? "auto";
  // The design in use: the heuristic (or requested) one until tuning picks another.
  let chosen: "registers" | "tiled" = wanted === "auto" ? autoTopkVariant(gpu, d) : wanted;
  if (chosen === "registers" && registerRows(d4) < 1) chosen = "tiled";
  const candidates = wanted === "auto" ? topkCandidates(gpu, d) : [];
  // How `chosen` was chosen; undefined until the first search tunes.
  let tuning: TopkTuning | undefined;
  if (wanted !== "auto") tuning = { source: "requested", ms: null };
  else if (candidates.length < 2 || options.autotune === false) {
    tuning = { source: "default", ms: null };
  }
  const keysLease = useGpuMatrix(gpu, keys, {
    label: "topk.keys",
    stride: d4 * 4, // the kernels read queries and keys with one row stride
    normalize: metric === "cosine",
    ...(options.keysPerChunk ? { maxRowsPerChunk: options.keysPerChunk } : {}),
  });
  const g = keysLease.matrix;
  let destroyed = false;
  // The one tuning run; concurrent first searches all wait on it.
  let tuningRun: Promise<void> | undefined;

  /** Times the candidates on the first rows of `queries` (validated, n ≥ 1). */
  async function tune(queries: Matrix | GpuMatrix, k: number): Promise<void> {
    const m = Math.min(queries.rows, TUNE_QUERY_ROWS);
    const sample: Matrix | GpuMatrix = isGpuMatrix(queries)
      ? (m === queries.rows
        ? queries
        : repackMatrix(gpu, queries, { index: Uint32Array.from({ length: m }, (_, i) => i) }))
      : { data: queries.data.subarray(0, m * d), rows: m, cols: d };
    const kk = Math.min(k, keys.rows);
    try {
      const result = await autotune<TopkCandidate>(
        gpu,
        `topk/d4=${d4}/${metric}`,
        candidates.map((v) => ({ variant: v })),
        async (c) => {
          if (destroyed) throw new Error("Cannot search: the keys were destroyed");
          const t0 = performance.now();
          await run(c.variant, sample, kk);
          return performance.now() - t0;
        },
        options.autotune === undefined ? {} : { enabled: options.autotune },
      );
      chosen = result.config.variant;
      tuning = { source: result.source, ms: result.ms };
    } catch {
      // Every candidate failed (or the tuner itself did): keep the heuristic choice.
      tuning = { source: "default", ms: null };
    } finally {
      if (sample !== queries && isGpuMatrix(sample)) sample.destroy();
    }
  }

  async function search(
    queries: Matrix | GpuMatrix,
    k: number,
    searchOptions: { onProgress?: (fraction: number) => void } = {},
  ): Promise<TopkResult> {
    if (destroyed) throw new Error("Cannot search: the keys were destroyed");
    if (!isGpuMatrix(queries)) checkMatrix(queries, "queries");
    if (!Number.isInteger(k) || k < 1 || k > TOPK_MAX_K) {
      throw new RangeError(`Expected k to be an integer in [1, ${TOPK_MAX_K}] but found ${k}`);
    }
    if (k > keys.rows) {
      throw new RangeError(
        `Expected k to be at most the number of keys (${keys.rows}) but found ${k}`,
      );
    }
    if (queries.cols !== d) {
      throw new TypeError(
        `Expected queries to have ${d} columns like the keys but found ${queries.cols}`,
      );
    }
    if (!isGpuMatrix(queries)) checkFinite(queries, "queries");
    if (queries.rows === 0) return { indices: new Uint32Array(0), scores: new Float32Array(0) };
    if (tuning === undefined) {
      await (tuningRun ??= tune(queries, k));
      if (destroyed) throw new Error("Cannot search: the keys were destroyed");
    }
    const onProgress = searchOptions.onProgress;
    let doneUnits = 0;
    const total = queries.rows * keys.rows;
    const onDone = onProgress
      ? (u: number) => {
        doneUnits += u;
        onProgress(Math.min(1, doneUnits / total));
      }
      : undefined;
    return await run(chosen, queries, k, onDone);
  }

  /** The search itself with a given design (queries validated, n ≥ 1). */
  async function run(
    variant: "registers" | "tiled",
    queries: Matrix | GpuMatrix,
    k: number,
    onDone?: (units: number) => void,
  ): Promise<TopkResult> {
    if (variant === "registers") return await runRegisters(queries, k, onDone);
    // The tiled design: key ranges split over workgroups (y), partial lists merged.
    const n = queries.rows;
    const sub = 4;
    const listBytes = k * 4;
    const maxLists = Math.floor(gpu.maxBindingBytes / listBytes);
    if (maxLists < sub) {
      throw new RangeError(
        `Expected a storage binding of at least ${
          sub * listBytes
        } bytes for k = ${k} but found ${gpu.maxBindingBytes}`,
      );
    }
    const rowsPerWg = 64;
    let nqBatch = Math.min(
      n,
      rowsPerBinding(gpu, d4 * 4),
      Math.floor(maxLists / sub),
      65535 * rowsPerWg,
    );
    // Split the keys of a chunk over workgroups (y) when the queries alone give too few.
    const targetWorkgroups = 1024;
    const minSpan = 256;
    const maxChunk = Math.max(...g.chunks.map((c) => c.rows));
    let splits = Math.max(
      1,
      Math.min(
        Math.ceil(targetWorkgroups / Math.ceil(nqBatch / rowsPerWg)),
        Math.ceil(maxChunk / minSpan),
        Math.floor(maxLists / sub),
      ),
    );
    nqBatch = Math.max(1, Math.min(nqBatch, Math.floor(maxLists / (sub * splits))));
    splits = Math.max(1, Math.min(splits, Math.floor(maxLists / (sub * nqBatch))));

    // Multiply-adds per dispatch (see below).
    const passMacs = Math.min(2 ** 31, gpu.quirks.maxMacsPerDispatch);
    const qLease = queryRows(queries, nqBatch);
    const qg = qLease.matrix;
    const partBytes = nqBatch * splits * sub * listBytes;
    const partS = createStorage(gpu, partBytes, "topk.partial_scores");
    const partI = createStorage(gpu, partBytes, "topk.partial_indices");
    const states: ListState[] = [];
    try {
      for (const qc of qg.chunks) {
        if (qc.rows === 0) continue;
        const st = createLists(gpu, qc, k);
        states.push(st);
        // Bound the work of one dispatch (2^27 multiply-adds on CPU adapters): one
        // 1.3e9-MAC dispatch (n=2000, C=5000, d=128) returned wrong lists on lavapipe, so
        // keys go in ranges, each pass followed by a merge into the running state.
        const perPass = Math.max(1, Math.floor(passMacs / (qc.rows * d4 * 4)));
        const batch = passBatch(gpu, onDone);
        let first = true;
        for (const kc of g.chunks) {
          for (let j = 0; j < kc.rows; j += perPass) {
            const count = Math.min(perPass, kc.rows - j);
            const want = Math.max(1, Math.min(splits, Math.ceil(count / minSpan)));
            const span = Math.ceil(count / want);
            const shape = {
              nq: qc.rows,
              nkeys: kc.rows,
              k,
              keyBase: kc.rowStart,
              span,
              splits: Math.ceil(count / span),
              d4,
              first: j,
              count,
            };
            const program = topkTiledProgram(shape);
            const enc = batch.encoder(qc.rows * count);
            dispatch(gpu, program, [qc.buffer, kc.buffer, partS, partI], enc);
            dispatch(
              gpu,
              topkMergeProgram(qc.rows, k, shape.splits * sub, !first),
              [partS, partI, st.s, st.i],
              enc,
            );
            first = false;
            batch.boundary();
          }
        }
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

  // The keys again as whole 64 KiB uniform blocks, for the registers kernel (built on its
  // first use: a GPU copy of the normalised keys, padded to whole blocks).
  const kb = topkKeysPerBlock(d4);
  let blocks: { buffer: GPUBuffer; keyBase: number; keys: number; offset: number }[] | undefined;
  let blockBuffers: GPUBuffer[] = [];
  function keyBlocks(): NonNullable<typeof blocks> {
    if (blocks) return blocks;
    const blockBytes = kb * d4 * 16;
    const enc = gpu.device.createCommandEncoder({ label: "topk.key_blocks" });
    blocks = [];
    for (const c of g.chunks) {
      if (c.rows === 0) continue;
      const nb = Math.ceil(c.rows / kb);
      const buffer = gpu.device.createBuffer({
        label: `topk.key_blocks[${c.rowStart}..)`,
        size: nb * blockBytes,
        usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
      });
      blockBuffers.push(buffer);
      enc.copyBufferToBuffer(c.buffer, 0, buffer, 0, c.rows * d4 * 16);
      for (let b = 0; b < nb; b++) {
        blocks.push({
          buffer,
          keyBase: c.rowStart + b * kb,
          keys: Math.min(kb, c.rows - b * kb),
          offset: b * blockBytes,
        });
      }
    }
    submit(gpu, enc);
    return blocks;
  }

  /**
   * The registers design: one dispatch per row range × uniform key block, each updating
   * the rows' running lists in place (no partial lists, no merge).
   */
  async function runRegisters(
    queries: Matrix | GpuMatrix,
    k: number,
    onDone?: (units: number) => void,
  ): Promise<TopkResult> {
    const n = queries.rows;
    const listBytes = k * 4;
    const r = registerRows(d4);
    const nqBatch = Math.max(
      1,
      Math.min(n, rowsPerBinding(gpu, d4 * 4), Math.floor(gpu.maxBindingBytes / listBytes)),
    );
    // Bound the work of one dispatch on CPU adapters (one 1.3e9-MAC dispatch returned wrong
    // lists on lavapipe): rows per dispatch × keys per block × d ≤ 2^27.
    const macs = Math.min(2 ** 33, gpu.quirks.maxMacsPerDispatch);
    const rowsPerDispatch = Math.max(
      64 * r,
      Math.floor(macs / (kb * d4 * 4) / (64 * r)) * 64 * r,
    );
    const blockBytes = kb * d4 * 16;
    const perDispatch = topkKeysPerDispatch(d4, k, gpu.quirks.maxLoopIterations);
    const qLease = queryRows(queries, nqBatch);
    const qg = qLease.matrix;
    const states: ListState[] = [];
    try {
      const kbs = keyBlocks();
      for (const qc of qg.chunks) {
        if (qc.rows === 0) continue;
        const st = createLists(gpu, qc, k);
        states.push(st);
        const batch = passBatch(gpu, onDone);
        for (let rowBase = 0; rowBase < qc.rows; rowBase += rowsPerDispatch) {
          const rows = Math.min(rowsPerDispatch, qc.rows - rowBase);
          kbs.forEach((blk, b) => {
            for (let off = 0; off < blk.keys; off += perDispatch) {
              const program = topkRegistersProgram({
                rowBase,
                rows,
                k,
                keyBase: blk.keyBase,
                nkeys: Math.min(perDispatch, blk.keys - off),
                keyOff: off,
                d4,
                first: b === 0 && off === 0,
              });
              const nkeys = Math.min(perDispatch, blk.keys - off);
              dispatch(gpu, program, [
                qc.buffer,
                { buffer: blk.buffer, offset: blk.offset, size: blockBytes },
                st.s,
                st.i,
              ], batch.encoder(rows * nkeys));
            }
            batch.boundary();
          });
        }
        batch.flush();
      }
      return await readLists(gpu, states, n, k);
    } finally {
      qLease.release();
      destroyLists(states);
    }
  }

  /** The queries in the layout the kernels read, in chunks of at most `maxRows` rows. */
  function queryRows(queries: Matrix | GpuMatrix, maxRows: number) {
    return useGpuMatrix(gpu, queries, {
      label: "topk.queries",
      stride: d4 * 4,
      normalize: metric === "cosine",
      maxRowsPerChunk: maxRows,
    });
  }

  return {
    rows: keys.rows,
    cols: d,
    metric,
    get variant() {
      return chosen;
    },
    get tuning() {
      return tuning;
    },
    search,
    destroy() {
      destroyed = true;
      keysLease.release();
      for (const b of blockBuffers) b.destroy();
      blockBuffers = [];
      blocks = undefined;
    },
  };
}

/**
 * Exact top-`k` most similar keys for every query row, in one fused GPU kernel per key
 * chunk (similarity GEMM + running per-row top-k; the `n × C` score matrix is never
 * stored), with the chunks' partial lists merged on the GPU.
 *
 * @param gpu The GPU context.
 * @param queries `n × d` queries (finite values), on the host or a `GpuMatrix` on the GPU.
 * @param keys `C × d` keys (finite values), on the host or a `GpuMatrix` on the GPU (read in
 * place when f32 with a stride that is a multiple of 4 and, for cosine, normalised).
 * @param k List length, an integer in `[1, min(64, C)]`.
 * @param options Metric, kernel variant and chunking ({@linkcode TopkOptions}).
 * @returns `n × k` indices and scores, each row by descending score, ties by lower index.
 * @throws {RangeError} When `k` is out of range or a row holds NaN/±Infinity (the message
 * names the row).
 * @throws {TypeError} When the matrices are malformed or their widths differ.
 *
 * @example Usage
 * ```ts ignore
 * const { indices, scores } = await topk(gpu, queries, centers, 8);
 * ```
 */
export async function topk(
  gpu: Gpu,
  queries: Matrix | GpuMatrix,
  keys: Matrix | GpuMatrix,
  k: number,
  options: TopkOptions = {},
): Promise<TopkResult> {
  if (!isGpuMatrix(queries)) checkMatrix(queries, "queries");
  if (!isGpuMatrix(keys)) checkMatrix(keys, "keys");
  if (!Number.isInteger(k) || k < 1 || k > TOPK_MAX_K) {
    throw new RangeError(`Expected k to be an integer in [1, ${TOPK_MAX_K}] but found ${k}`);
  }
  if (k > keys.rows) {
    throw new RangeError(
      `Expected k to be at most the number of keys (${keys.rows}) but found ${k}`,
    );
  }
  if (queries.cols !== keys.cols) {
    throw new TypeError(
      `Expected queries to have ${keys.cols} columns like the keys but found ${queries.cols}`,
    );
  }
  if (!isGpuMatrix(queries)) checkFinite(queries, "queries");
  const index = uploadTopkKeys(gpu, keys, options);
  try {
    return await index.search(queries, k);
  } finally {
    index.destroy();
  }
}
