/**
 * `deno task assign`: MLCD multi-label assignment — every embedding row gets its `l` most
 * similar cluster centers on the GPU, exactly or for many centers through an IVF index over
 * them (`--assign`), or approximately on the CPU with hnswlib (`--ann`).
 *
 * @example Usage
 * ```sh
 * deno task assign --input embeddings/ --centers centroids.npy --l 8 --out labels.parquet
 * ```
 *
 * @module
 */
import { parseArgs } from "node:util";
import {
  formatSeconds,
  intFlag,
  joinNegativeValues,
  logTo,
  noticeInputDirectories,
  progress,
  runCli,
  UsageError,
} from "./_cli.ts";
import { checkOutputFiles, type OutputFile } from "../jobs/output_paths.ts";
import { checkRows, type Matrix } from "../matrix/matrix.ts";
import { createGpu, type CreateGpuOptions } from "../gpu/gpu.ts";
import { DEVICE_FLAG_OPTIONS, deviceHelp, gpuOptions } from "./_device_flag.ts";
import { listEmbeddingFiles, streamEmbeddings } from "../data/embedding_files.ts";
import { openRowSource } from "../data/row_source.ts";
import { assignLabels } from "../labels/assign_labels.ts";
import { scoresPath, writeLabels } from "../labels/write_labels.ts";
import { TOPK_MAX_K } from "../topk/topk_programs.ts";
import type { TopkMetric, TopkVariant } from "../topk/topk.ts";
import { DEFAULT_HNSW_EF } from "../ann/hnsw.ts";
import { readEmbeddingKeys } from "../data/clip_layout.ts";
import { ASSIGN_JOB_OPTIONS, ASSIGN_JOBS_HELP, assignJob } from "./_assign_jobs.ts";
import {
  type AssignJobFlags,
  formatFlag,
  formatOfPath,
  nonZero,
  readCenters,
  recallJson,
  recallLine,
  searchFlags,
  searchJson,
} from "./_assign_flags.ts";
import type { KMeansAssign } from "../kmeans/kmeans_options.ts";
import type { IvfSearchChoice } from "../ivf/ivf_auto.ts";
import type { TopkRecall } from "../ivf/ivf_recall.ts";
import { measureLabelRecall } from "../labels/label_recall.ts";

const HELP = `Usage: mlcd assign --input <file|dir>... --centers centroids.npy [options]

Gives every embedding row its l most similar cluster centers (MLCD's multi-label
assignment) on the GPU: exact fused top-k, or for many centers an IVF index over them
(--assign auto picks per GPU); hnswlib HNSW on the CPU with --ann.

Options:
  --input PATH        embedding file or directory (.npy float32/float16, Parquet or Arrow
                      list column; a clip-retrieval folder with img_emb/ and metadata/;
                      repeatable; required)
  --centers PATH      cluster centers (.npy or Arrow, C × d; required)
  --l N               labels per row, 1 ≤ N ≤ min(${TOPK_MAX_K}, C) (default 8)
  --metric M          cosine | ip (default cosine)
  --variant V         GPU kernel: auto | registers | tiled (default auto)
  --assign A          exact | ivf (approximate: an index of round(√C) cells over the
                      centers; each row scores the centers of its --nprobe best cells) |
                      auto (exact for few centers, ivf where it is faster on this GPU,
                      timed once and cached; default auto)
  --nprobe N          cells probed per row with ivf (default ⌈cells/16⌉ within [8, 16])
  --check-recall N    measure recall@l against exact search on a seeded sample of N rows
                      (printed, and in --json and the manifests)
  --ann               approximate search with hnswlib (needs \`deno task setup\`)
  --ef N              hnswlib search breadth (default 2048)
  --column NAME       Parquet/Arrow column holding the embeddings (default: the first
                      list-of-float column)
  --batch-rows N      rows per GPU batch (default 65536)
  --out PATH          labels.parquet (key: the sample keys when the inputs have
                      clip-retrieval metadata, else id: the row index; labels:
                      list<uint32>, nearest first; scores: list<float32>; zstd: what
                      DuckDB, pandas and Spark open), labels.arrow (labels, scores:
                      FixedSizeList[l], and id: the sample keys when there are some) or
                      labels.npy (uint32 n × l, scores in labels.scores.npy)
  --format F          parquet | arrow | npy (default parquet); without --shard the
                      extension of --out gives it, and a --format given must agree
${deviceHelp(22)}
  --json              print a JSON summary on stdout
  --help              show this help
${ASSIGN_JOBS_HELP}

Progress (rows/s, ETA) goes to stderr. Bad input prints one line on stderr and exits
with code 2, leaving no output file. Outputs are checked before the work and never
overwrite an input.`;

/** `mlcd assign`'s entry point: parses `args` (see `--help`) and runs the command. */
export async function main(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args: joinNegativeValues(args),
    options: {
      input: { type: "string", multiple: true },
      centers: { type: "string" },
      l: { type: "string" },
      metric: { type: "string" },
      variant: { type: "string" },
      assign: { type: "string" },
      nprobe: { type: "string" },
      "check-recall": { type: "string" },
      ann: { type: "boolean" },
      ef: { type: "string" },
      column: { type: "string" },
      "batch-rows": { type: "string" },
      out: { type: "string" },
      json: { type: "boolean" },
      ...DEVICE_FLAG_OPTIONS,
      help: { type: "boolean", short: "h" },
      ...ASSIGN_JOB_OPTIONS,
    },
    strict: true,
  });
  if (values.help) {
    console.log(HELP);
    return;
  }
  if (await assignJob(values)) return;
  await assignAll(values);
}

/** The labels of every row in one process: flags, output checks, the search, one write. */
async function assignAll(values: AssignJobFlags): Promise<void> {
  const inputs = values.input ?? [];
  if (inputs.length === 0) throw new UsageError("Missing --input (see --help)");
  if (!values.centers) throw new UsageError("Missing --centers (see --help)");
  const { l, batchRows, metric, variant, assign, nprobe, checkRecall } = searchFlags(values);
  const out = values.out;
  if (out && !formatOfPath(out)) {
    throw new UsageError(
      `Expected --out to end in .parquet, .arrow, .feather, .ipc or .npy but found ${out}`,
    );
  }
  if (values.format !== undefined) {
    const format = formatFlag(values.format);
    if (out === undefined) throw new UsageError("Expected --format only with --out");
    if (formatOfPath(out) !== format) {
      const ends = { parquet: ".parquet", arrow: ".arrow, .feather or .ipc", npy: ".npy" }[format];
      throw new UsageError(
        `Expected --out to end in ${ends} for --format ${format} but found ${out}`,
      );
    }
  }
  const ef = intFlag("ef", values.ef, DEFAULT_HNSW_EF, 1);
  const outputs: OutputFile[] = [];
  if (out !== undefined) {
    outputs.push({ flag: "--out", path: out });
    if (/\.npy$/i.test(out)) outputs.push({ flag: "--out (scores)", path: scoresPath(out) });
  }
  await checkOutputFiles(outputs, [...inputs, values.centers], {
    writer: { command: "assign" },
    onLog: logTo("assign"),
  });
  await noticeInputDirectories("assign", inputs);
  const t0 = performance.now();
  const centers = await readCenters(values.centers, metric, l);
  const files = await listEmbeddingFiles(inputs);
  // Sample keys from clip-retrieval metadata (deno task embed, LAION) become the labels' `key`
  // (Parquet) or `id` (Arrow) column; each metadata file's row count is checked against its
  // embedding file's before the work.
  const column = values.column === undefined ? {} : { column: values.column };
  const fileRows = (await openRowSource(files, column)).slices.map((s) => s.rowEnd);
  const ids = await readEmbeddingKeys(files, fileRows);
  const search: Search = {
    files,
    centers,
    l,
    metric,
    variant,
    batchRows,
    ef,
    column: values.column,
    assign,
    nprobe,
    checkRecall,
    gpu: gpuOptions(values),
  };
  const { result, adapter } = values.ann
    ? await annLabels(search, rowsReport(t0))
    : await gpuLabels(search, rowsReport(t0));
  if (values.ann && checkRecall > 0) result.recall = await annRecall(search, result);
  if (result.recall) progress(`assign: ${recallLine(result.recall, l)}`);
  if (out) {
    if (ids && ids.length !== result.rows) {
      throw new TypeError(`Expected ${result.rows} keys in the metadata but found ${ids.length}`);
    }
    await writeLabels(out, ids ? { ...result, ids } : result);
  }
  const seconds = (performance.now() - t0) / 1000;
  progress(
    `assign: ${result.rows} rows in ${formatSeconds(seconds)} (${
      Math.round(result.rows / Math.max(seconds, 1e-9))
    } rows/s)`,
  );
  if (values.json) {
    console.log(JSON.stringify({
      rows: result.rows,
      l,
      centers: centers.rows,
      cols: centers.cols,
      metric,
      ann: values.ann ?? false,
      search: searchJson(result.search),
      recall: recallJson(result.recall),
      seconds,
      adapter,
      out: out ?? null,
      scores: out && /\.npy$/i.test(out) ? scoresPath(out) : null,
    }));
  }
}

/** What the search of every row needs. */
interface Search {
  files: string[];
  centers: Matrix;
  l: number;
  metric: TopkMetric;
  variant: TopkVariant;
  batchRows: number;
  ef: number;
  column: string | undefined;
  assign: KMeansAssign;
  nprobe: number | undefined;
  checkRecall: number;
  /** createGpu() options (--device). */
  gpu: CreateGpuOptions;
}

type Labels = {
  indices: Uint32Array;
  scores: Float32Array;
  rows: number;
  l: number;
  /** The GPU search used; null for hnswlib. */
  search: IvfSearchChoice | null;
  recall: TopkRecall | null;
};

/** Progress at most once a second, with an optional header before the first line. */
interface RowsReport {
  (done: number, total: number): void;
  header: string;
}

function rowsReport(t0: number): RowsReport {
  let last = 0;
  // The header goes out with the first progress line, once the input has been validated.
  const report = ((done: number, total: number) => {
    if (report.header) {
      progress(report.header);
      report.header = "";
    }
    const now = performance.now();
    if (now - last < 1000 && done < total) return;
    last = now;
    const s = (now - t0) / 1000;
    const rate = done / Math.max(s, 1e-9);
    progress(
      `assign: ${done}/${total} rows  ${Math.round(rate)} rows/s  ETA ${
        formatSeconds((total - done) / Math.max(rate, 1e-9))
      }`,
    );
  }) as RowsReport;
  report.header = "";
  return report;
}

/** Exact top-l on the GPU (the fused top-k kernel). */
async function gpuLabels(
  s: Search,
  report: RowsReport,
): Promise<{ result: Labels; adapter: string }> {
  const gpu = await createGpu(s.gpu);
  const adapter = gpu.info.description;
  report.header =
    `assign: ${s.files.length} file(s), ${s.centers.rows} centers × ${s.centers.cols}, l = ${s.l}, ${s.metric}, on ${adapter}`;
  const result = await assignLabels(gpu, s.files, s.centers, {
    l: s.l,
    metric: s.metric,
    variant: s.variant,
    batchRows: s.batchRows,
    assign: s.assign,
    ...(s.nprobe !== undefined ? { nprobe: s.nprobe } : {}),
    checkRecall: s.checkRecall,
    ...(s.column ? { column: s.column } : {}),
    onProgress: report,
    onLog: logTo("assign"),
  });
  gpu.destroy();
  return { result, adapter };
}

/** Approximate top-l with hnswlib (--ann), streaming the rows in batches. */
async function annLabels(
  s: Search,
  report: RowsReport,
): Promise<{ result: Labels; adapter: string }> {
  const { centers, l, metric } = s;
  const { annTopk, buildHnswIndex } = await import("../ann/hnsw.ts");
  progress(`assign: building the HNSW index over ${centers.rows} centers`);
  const index = await buildHnswIndex(centers, { metric });
  progress(`assign: index built in ${formatSeconds(index.buildSeconds)}`);
  const labels: Uint32Array[] = [], scores: Float32Array[] = [];
  let rows = 0;
  const options = s.column
    ? { batchRows: s.batchRows, column: s.column }
    : { batchRows: s.batchRows };
  for await (const b of streamEmbeddings(s.files, options)) {
    if (b.matrix.cols !== centers.cols) {
      throw new TypeError(
        `Expected embeddings of ${b.file} to have ${centers.cols} columns like the centers but found ${b.matrix.cols}`,
      );
    }
    checkRows(b.matrix, b.file, { firstRow: b.fileRowStart, ...nonZero(metric) });
    const r = annTopk(index, b.matrix, { k: l, ef: s.ef });
    labels.push(r.indices);
    scores.push(r.scores);
    rows += b.matrix.rows;
    report(rows, rows);
  }
  if (rows === 0) {
    throw new RangeError(`Expected ${s.files.join(", ")} to hold at least one row but found none`);
  }
  const cat = <T extends Uint32Array | Float32Array>(parts: T[], make: (n: number) => T): T => {
    const o = make(rows * l);
    let off = 0;
    for (const p of parts) {
      o.set(p as never, off);
      off += p.length;
    }
    return o;
  };
  const result = {
    indices: cat(labels, (n) => new Uint32Array(n)),
    scores: cat(scores, (n) => new Float32Array(n)),
    rows,
    l,
    search: null,
    recall: null,
  };
  return { result, adapter: "hnswlib (CPU)" };
}

/** --check-recall of hnswlib's labels: exact search on the GPU for the sampled rows. */
async function annRecall(s: Search, result: Labels): Promise<TopkRecall> {
  const gpu = await createGpu(s.gpu);
  try {
    const rows = await openRowSource(s.files, s.column ? { column: s.column } : {});
    return await measureLabelRecall(gpu, rows, s.centers, result, {
      l: s.l,
      sample: s.checkRecall,
      metric: s.metric,
    });
  } finally {
    gpu.destroy();
  }
}

if (import.meta.main) await runCli("assign", main);
