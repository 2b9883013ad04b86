import { loadParquet } from "../data/load_parquet.ts";
import type { Gpu } from "../gpu/gpu.ts";
import { checkGpuRows, type GpuMatrix, isGpuMatrix } from "../gpu/gpu_matrix.ts";
import { checkMatrix, checkRows, type Matrix, sliceRows } from "../matrix/matrix.ts";
import { listEmbeddingFiles, streamEmbeddings } from "../data/embedding_files.ts";
import { readNpyHeader } from "../data/npy.ts";
import { loadArrow } from "../data/load_arrow.ts";
import type { TopkMetric, TopkVariant } from "../topk/topk_options.ts";
import { TOPK_MAX_K } from "../topk/topk_programs.ts";
import { openRowSource } from "../data/row_source.ts";
import type { IvfSearch, IvfSearchChoice } from "../ivf/ivf_auto.ts";
import type { TopkRecall } from "../ivf/ivf_recall.ts";
import { type LabelSearch, openLabelSearch } from "./label_search.ts";
import { measureLabelRecall } from "./label_recall.ts";

/** Options for {@linkcode assignLabels}. */
export interface AssignLabelsOptions {
  /** Positive labels (nearest centers) per row. @default {8} */
  l?: number;
  /** Similarity: `"cosine"` (MLCD) or `"ip"`. @default {"cosine"} */
  metric?: TopkMetric;
  /** Kernel design of the exact search (see `topk`). @default {"auto"} */
  variant?: TopkVariant;
  /**
   * `"exact"` (every row against every center), `"ivf"` (approximate: an index of round(√C)
   * cells over the centers, built once; each row scores the centers of its `nprobe` best
   * cells, n·√C·d work instead of n·C·d) or `"auto"` (exact for few centers, IVF where it is
   * faster on this adapter, timed once and cached). See `checkRecall` for its quality.
   * @default {"auto"}
   */
  assign?: IvfSearch;
  /** Cells probed per row with IVF, an integer ≥ 1 (≥ cells is exact). @default {⌈cells / 16⌉ within [8, 16]} */
  nprobe?: number;
  /** Let `"auto"` time its candidates (cached per adapter). @default {true unless MLCD_AUTOTUNE=0} */
  autotune?: boolean;
  /**
   * Measure recall@l against exact search on a seeded sample of this many rows (read again
   * after the labelling) and return it as `recall`. 0 skips it.
   * @default {0}
   */
  checkRecall?: number;
  /** Informational messages (the search chosen and how). @default {undefined} */
  onLog?: (message: string) => void;
  /** Rows sent to the GPU per batch (and read per batch from shard files). @default {65536} */
  batchRows?: number;
  /** Arrow column holding the embeddings. @default {the first list column} */
  column?: string;
  /**
   * Called with rows done and total rows as the work progresses: after each batch, and
   * within a batch as the GPU finishes each range of centers.
   */
  onProgress?: (done: number, total: number) => void;
}

/** Result of {@linkcode assignLabels}. */
export interface AssignLabelsResult {
  /** `rows × l` center indices (the labels), row-major, most similar first. */
  indices: Uint32Array;
  /** `rows × l` similarities matching `indices`. */
  scores: Float32Array;
  /** Rows assigned. */
  rows: number;
  /** Labels per row. */
  l: number;
  /** The search that ran (exact or IVF, its cells and nprobe) and how it was chosen. */
  search: IvfSearchChoice;
  /** Recall@l on the `checkRecall` sample against exact search; null without `checkRecall`. */
  recall: TopkRecall | null;
}

async function countRows(files: string[], column: string | undefined): Promise<number> {
  let total = 0;
  for (const f of files) {
    if (f.toLowerCase().endsWith(".npy")) {
      total += (await readNpyHeader(f)).shape[0] ?? 0;
    } else if (f.toLowerCase().endsWith(".parquet")) {
      // Loaded only for Parquet input: not part of the npm-free core. The footer gives the rows.
      const { parquetEmbeddingShape } = await loadParquet();
      total += (await parquetEmbeddingShape(f, column ? { column } : {})).rows;
    } else {
      const { scanArrowEmbeddings } = await loadArrow();
      total += scanArrowEmbeddings(await Deno.readFile(f), column ? { column } : {}, f).rows;
    }
  }
  return total;
}

/**
 * MLCD step 3: gives every embedding row its `l` most similar cluster centers as positive
 * labels on the GPU: exactly, or for many centers through an IVF index over them (`assign`).
 * The centers stay on the GPU while the rows stream through in batches, so embedding shards
 * far larger than memory (10M × 768) can be labelled; `checkRecall` measures the labels
 * against exact search on a sample.
 *
 * @param gpu The GPU context.
 * @param embeddings A matrix on the host or on the GPU (a `GpuMatrix`, searched in place
 * without a copy to the host), or `.npy`/Arrow shard files and directories to stream.
 * @param centers `C × d` cluster centers, on the host or on the GPU.
 * @param options {@linkcode AssignLabelsOptions}.
 * @returns `rows × l` labels and scores.
 * @throws {RangeError} When `l` is out of `[1, min(64, C)]`, `nprobe` or `checkRecall` is
 * bad, a row holds NaN/±Infinity or
 * (for cosine) is all zeros (naming the file and the row within it), or the files hold no
 * rows.
 * @throws {TypeError} When the embeddings' width differs from the centers'.
 *
 * @example Usage
 * ```ts ignore
 * const { indices } = await assignLabels(gpu, ["embeddings/"], centers, { l: 8 });
 * ```
 */
export async function assignLabels(
  gpu: Gpu,
  embeddings: Matrix | GpuMatrix | string[],
  centers: Matrix | GpuMatrix,
  options: AssignLabelsOptions = {},
): Promise<AssignLabelsResult> {
  const metric = options.metric ?? "cosine";
  const nonZero = metric === "cosine" ? { nonZero: "cosine similarity" } : {};
  if (isGpuMatrix(centers)) await checkCosineRows(gpu, centers, "centers", metric);
  else {
    checkMatrix(centers, "centers");
    checkRows(centers, "centers", nonZero);
  }
  const l = options.l ?? 8;
  if (!Number.isInteger(l) || l < 1 || l > TOPK_MAX_K) {
    throw new RangeError(`Expected l to be an integer in [1, ${TOPK_MAX_K}] but found ${l}`);
  }
  if (l > centers.rows) {
    throw new RangeError(
      `Expected l to be at most the number of centers (${centers.rows}) but found ${l}`,
    );
  }
  const batchRows = options.batchRows ?? 65536;
  if (!Number.isInteger(batchRows) || batchRows < 1) {
    throw new RangeError(`Expected batchRows to be a positive integer but found ${batchRows}`);
  }
  const checkRecall = options.checkRecall ?? 0;
  if (!Number.isInteger(checkRecall) || checkRecall < 0) {
    throw new RangeError(`Expected checkRecall to be an integer ≥ 0 but found ${checkRecall}`);
  }
  const fromFiles = Array.isArray(embeddings);
  if (isGpuMatrix(embeddings)) {
    if (embeddings.cols !== centers.cols) {
      throw new TypeError(
        `Expected embeddings to have ${centers.cols} columns like the centers but found ${embeddings.cols}`,
      );
    }
    await checkCosineRows(gpu, embeddings, "embeddings", metric);
    const r = await assignGpuRows(gpu, embeddings, centers, l, metric, options);
    return { ...r, recall: await recallOf(gpu, embeddings, centers, r, checkRecall, metric) };
  }
  if (!fromFiles) checkMatrix(embeddings, "embeddings");
  let total: number;
  let files: string[] = [];
  if (fromFiles) {
    files = await listEmbeddingFiles(embeddings);
    total = await countRows(files, options.column);
    if (total === 0) {
      throw new RangeError(`Expected ${files.join(", ")} to hold at least one row but found none`);
    }
  } else {
    total = embeddings.rows;
  }

  async function* batches(): AsyncGenerator<
    { matrix: Matrix; rowStart: number; file: string; fileRowStart: number }
  > {
    if (fromFiles) {
      yield* streamEmbeddings(
        files,
        options.column ? { batchRows, column: options.column } : { batchRows },
      );
    } else {
      const m = embeddings as Matrix;
      for (let r = 0; r < m.rows; r += batchRows) {
        yield {
          matrix: sliceRows(m, r, Math.min(m.rows, r + batchRows)),
          rowStart: r,
          file: "",
          fileRowStart: r,
        };
      }
    }
  }

  const index = await openSearch(gpu, centers, l, metric, options);
  let labels = new Uint32Array(total * l);
  let scores = new Float32Array(total * l);
  let done = 0;
  try {
    for await (const { matrix: m, rowStart, file, fileRowStart } of batches()) {
      const where = file ? ` of ${file}` : "";
      if (m.cols !== centers.cols) {
        throw new TypeError(
          `Expected embeddings${where} to have ${centers.cols} columns like the centers but found ${m.cols}`,
        );
      }
      checkRows(m, file || "embeddings", { firstRow: fileRowStart, ...nonZero });
      const before = done;
      const r = await index.labels(m, (fraction) => {
        const at = Math.max(before, rowStart + Math.floor(m.rows * fraction));
        if (at < rowStart + m.rows) options.onProgress?.(at, Math.max(total, at));
      });
      if ((rowStart + m.rows) * l > labels.length) {
        // Files changed under us or a count was short: grow.
        const grow = (rowStart + m.rows) * l;
        const nl = new Uint32Array(grow), ns = new Float32Array(grow);
        nl.set(labels);
        ns.set(scores);
        labels = nl;
        scores = ns;
      }
      labels.set(r.indices, rowStart * l);
      scores.set(r.scores, rowStart * l);
      done = Math.max(done, rowStart + m.rows);
      options.onProgress?.(done, Math.max(total, done));
    }
  } finally {
    index.destroy();
  }
  if (done * l < labels.length) {
    labels = labels.slice(0, done * l);
    scores = scores.slice(0, done * l);
  }
  const result = { indices: labels, scores, rows: done, l, search: index.choice };
  const rows = fromFiles
    ? await openRowSource(files, options.column ? { column: options.column } : {})
    : embeddings as Matrix;
  return { ...result, recall: await recallOf(gpu, rows, centers, result, checkRecall, metric) };
}

/** The labelling search over `centers`, with the choice said through `onLog`. */
async function openSearch(
  gpu: Gpu,
  centers: Matrix | GpuMatrix,
  l: number,
  metric: TopkMetric,
  options: AssignLabelsOptions,
): Promise<LabelSearch> {
  const s = await openLabelSearch(gpu, centers, {
    l,
    metric,
    variant: options.variant ?? "auto",
    assign: options.assign ?? "auto",
    ...(options.nprobe !== undefined ? { nprobe: options.nprobe } : {}),
    ...(options.autotune !== undefined ? { autotune: options.autotune } : {}),
    ...(options.onLog ? { onLog: options.onLog } : {}),
  });
  const c = s.choice;
  if (c.method === "ivf") {
    options.onLog?.(
      `IVF labels: ${c.cells} cells over the ${centers.rows} centers, ${c.nprobe} probed per row (${c.source})`,
    );
  }
  return s;
}

/** Recall@l of the labels on a sample of `sample` rows, or null for none. */
async function recallOf(
  gpu: Gpu,
  rows: Parameters<typeof measureLabelRecall>[1],
  centers: Matrix | GpuMatrix,
  found: { indices: Uint32Array; scores: Float32Array; l: number },
  sample: number,
  metric: TopkMetric,
): Promise<TopkRecall | null> {
  if (sample === 0 || rows.rows === 0) return null;
  return await measureLabelRecall(gpu, rows, centers, found, { l: found.l, sample, metric });
}

/** Refuses all-zero rows of a GpuMatrix under cosine (the shared GPU row check). */
async function checkCosineRows(
  gpu: Gpu,
  m: GpuMatrix,
  name: string,
  metric: TopkMetric,
): Promise<void> {
  if (metric === "cosine" && m.rows > 0) {
    await checkGpuRows(gpu, m, name, { nonZero: "cosine similarity" });
  }
}

/** {@linkcode assignLabels} of rows already on the GPU: one search, no host copy. */
async function assignGpuRows(
  gpu: Gpu,
  embeddings: GpuMatrix,
  centers: Matrix | GpuMatrix,
  l: number,
  metric: TopkMetric,
  options: AssignLabelsOptions,
): Promise<Omit<AssignLabelsResult, "recall">> {
  const index = await openSearch(gpu, centers, l, metric, options);
  try {
    const total = embeddings.rows;
    const r = await index.labels(embeddings, (fraction: number) => {
      const at = Math.floor(total * fraction);
      if (at < total) options.onProgress?.(at, total);
    });
    options.onProgress?.(total, total);
    return { indices: r.indices, scores: r.scores, rows: total, l, search: index.choice };
  } finally {
    index.destroy();
  }
}
