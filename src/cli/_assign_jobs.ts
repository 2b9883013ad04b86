// `deno task assign --shard i/N`: labels one part of the rows, as an array or Indexed Job
// task. The part is the same contiguous split as `cluster --shard`; its `key` column holds the
// sample keys (else `id`, the global row index), so concatenating the parts in order gives the
// labels of one `assign` over all rows. Outputs are committed with a manifest (src/jobs/).
import { join } from "node:path";
import { formatSeconds, intFlag, logTo, progress, UsageError } from "./_cli.ts";
import { variantFlag } from "./_kmeans_flags.ts";
import {
  checkOutputs,
  commitOutputs,
  describeInputs,
  ensureOutputDir,
  type ManifestKey,
  parsePartSpec,
  type PartSpec,
  partStem,
  refuseInputOverlap,
} from "../jobs/mod.ts";
import { createGpu } from "../gpu/gpu.ts";
import { openRowSource, partOf, type RowSource, streamRows } from "../data/row_source.ts";
import { findMetadataFile, readEmbeddingKeys } from "../data/clip_layout.ts";
import { readEmbeddings } from "../data/embedding_files.ts";
import { writeNpy } from "../data/npy.ts";
import { writeArrowLabels } from "../data/arrow.ts";
import { checkRows, type Matrix } from "../matrix/matrix.ts";
import {
  type TopkMetric,
  type TopkResult,
  type TopkVariant,
  uploadTopkKeys,
} from "../topk/topk.ts";
import { TOPK_MAX_K } from "../topk/topk_programs.ts";
import { DEFAULT_HNSW_EF } from "../ann/hnsw.ts";

/** The parseArgs options the job mode adds to `deno task assign`. */
export const ASSIGN_JOB_OPTIONS = {
  shard: { type: "string" },
  shards: { type: "string" },
  format: { type: "string" },
  overwrite: { type: "boolean" },
} as const;

/** Help text of the job mode, appended to `deno task assign --help`. */
export const ASSIGN_JOBS_HELP = `
Scale-out jobs (outputs committed atomically with a .json manifest; a rerun whose
manifest matches skips the work, another run's outputs are refused unless --overwrite):
  --shard i/N         label part i (from 0) of N of the rows (the split of cluster --shard);
                      --out DIR gets part-<i>-of-<N>.parquet (key: the sample keys, else
                      id: the global row index; labels, scores), with --format arrow
                      part-<i>-of-<N>.arrow (labels, scores, id), with --format npy
                      part-<i>-of-<N>.npy and .scores.npy; and part-<i>-of-<N>.json
  --shard auto        i/N from SLURM_ARRAY_TASK_ID/SLURM_ARRAY_TASK_COUNT, or
                      JOB_COMPLETION_INDEX with --shards N
  --overwrite         replace outputs made by another run`;

/** Flags of `deno task assign` that the job mode reads (parseArgs values). */
export interface AssignJobFlags {
  input?: string[] | undefined;
  centers?: string | undefined;
  l?: string | undefined;
  metric?: string | undefined;
  variant?: string | undefined;
  ann?: boolean | undefined;
  ef?: string | undefined;
  column?: string | undefined;
  "batch-rows"?: string | undefined;
  out?: string | undefined;
  json?: boolean | undefined;
  shard?: string | undefined;
  shards?: string | undefined;
  format?: string | undefined;
  overwrite?: boolean | undefined;
}

/** The label file formats of `deno task assign --format`, the default first. */
export const LABEL_FORMATS = ["parquet", "arrow", "npy"] as const;

/** A label file format: Parquet (the default: DuckDB, pandas, Spark open it), Arrow IPC or npy. */
export type LabelFormat = typeof LABEL_FORMATS[number];

/** `--format` (default parquet), shared by the one-process and the job mode. */
export function formatFlag(value: string | undefined): LabelFormat {
  const format = value ?? LABEL_FORMATS[0];
  if (!(LABEL_FORMATS as readonly string[]).includes(format)) {
    throw new UsageError(`Expected --format to be parquet, arrow or npy but found ${format}`);
  }
  return format as LabelFormat;
}

/** The label format a file name's extension names (`.arrow`, `.feather`, `.ipc`: Arrow). */
export function formatOfPath(path: string): LabelFormat | undefined {
  if (/\.parquet$/i.test(path)) return "parquet";
  if (/\.npy$/i.test(path)) return "npy";
  if (/\.(arrow|feather|ipc)$/i.test(path)) return "arrow";
  return undefined;
}

/**
 * The search flags of `deno task assign`, shared by the one-process and the job mode:
 * `--l` (default 8), `--batch-rows` (default 65536), `--metric cosine|ip` (default cosine)
 * and `--variant auto|registers|tiled` (default auto).
 */
export function searchFlags(
  v: Pick<AssignJobFlags, "l" | "batch-rows" | "metric" | "variant">,
): { l: number; batchRows: number; metric: TopkMetric; variant: TopkVariant } {
  const l = intFlag("l", v.l, 8, 1);
  const batchRows = intFlag("batch-rows", v["batch-rows"], 65536, 1);
  const metric = (v.metric ?? "cosine") as TopkMetric;
  if (metric !== "cosine" && metric !== "ip") {
    throw new UsageError(`Expected --metric to be cosine or ip but found ${metric}`);
  }
  const variant: TopkVariant = variantFlag(v.variant);
  return { l, batchRows, metric, variant };
}

/** Everything an assign part job needs, from its flags. */
interface AssignPart {
  spec: PartSpec;
  inputs: string[];
  centers: string;
  out: string;
  l: number;
  batchRows: number;
  metric: TopkMetric;
  variant: TopkVariant;
  format: LabelFormat;
  ef: number;
  ann: boolean;
  column: string | undefined;
  overwrite: boolean;
}

/** Parses the job's flags, or returns undefined without `--shard`. */
function assignPartFlags(v: AssignJobFlags): AssignPart | undefined {
  if (v.shard === undefined) {
    if (v.shards !== undefined) throw new UsageError("Expected --shards only with --shard auto");
    if (v.overwrite !== undefined) throw new UsageError("Expected --overwrite only with --shard");
    return undefined;
  }
  const spec = parsePartSpec(v.shard, v.shards);
  const inputs = v.input ?? [];
  if (inputs.length === 0) throw new UsageError("Missing --input (see --help)");
  if (!v.centers) throw new UsageError("Missing --centers (see --help)");
  if (!v.out) throw new UsageError("Missing --out (the labels directory; see --help)");
  const { l, batchRows, metric, variant } = searchFlags(v);
  const format = formatFlag(v.format);
  const ef = intFlag("ef", v.ef, DEFAULT_HNSW_EF, 1);
  return {
    spec,
    inputs,
    centers: v.centers,
    out: v.out,
    l,
    batchRows,
    metric,
    variant,
    format,
    ef,
    ann: v.ann ?? false,
    column: v.column,
    overwrite: v.overwrite ?? false,
  };
}

/**
 * Reads the centers (`--centers`) and checks them: at least one row, finite, non-zero under
 * cosine, and `l` at most their number.
 */
export async function readCenters(path: string, metric: TopkMetric, l: number): Promise<Matrix> {
  const centers = await readEmbeddings([path]);
  if (centers.rows === 0) {
    throw new RangeError(`Expected ${path} to hold at least one row but found none`);
  }
  checkRows(centers, path, nonZero(metric));
  if (l > Math.min(TOPK_MAX_K, centers.rows)) {
    throw new RangeError(
      `Expected --l to be at most min(${TOPK_MAX_K}, centers) = ${
        Math.min(TOPK_MAX_K, centers.rows)
      } but found ${l}`,
    );
  }
  return centers;
}

/** Reads and checks the centers, and opens the part of the rows. */
async function openPart(
  a: AssignPart,
): Promise<{ centers: Matrix; source: RowSource; part: RowSource }> {
  const centers = await readCenters(a.centers, a.metric, a.l);
  const source = await openRowSource(a.inputs, a.column === undefined ? {} : { column: a.column });
  if (source.cols !== centers.cols) {
    throw new TypeError(
      `Expected embeddings of ${
        source.slices[0]!.file
      } to have ${centers.cols} columns like the centers but found ${source.cols}`,
    );
  }
  const part = partOf(source, { index: a.spec.index, count: a.spec.count });
  return { centers, source, part };
}

/** The row check of a metric: cosine refuses all-zero rows. */
export const nonZero = (metric: TopkMetric): { nonZero?: string } =>
  metric === "cosine" ? { nonZero: "cosine similarity" } : {};

/**
 * Runs `deno task assign` as a job (`--shard`); returns false (nothing done) without
 * `--shard`.
 */
export async function assignJob(v: AssignJobFlags): Promise<boolean> {
  const a = assignPartFlags(v);
  if (!a) return false;
  const t0 = performance.now();
  const { spec, l } = a;
  const { centers, source, part } = await openPart(a);
  const stem = join(a.out, partStem(spec));
  const outputs = a.format === "npy"
    ? [`${stem}.npy`, `${stem}.scores.npy`]
    : [`${stem}.${a.format}`];
  await refuseInputOverlap(outputs, [...a.inputs, a.centers]);
  await ensureOutputDir(a.out);
  const files = source.slices.map((s) => s.file);
  const key: ManifestKey = {
    kind: "assign-part",
    shard: { index: spec.index, count: spec.count },
    inputs: await describeInputs([...files, ...await metadataFiles(files), a.centers]),
    params: {
      l,
      metric: a.metric,
      format: a.format,
      column: a.column ?? null,
      ann: a.ann,
      ...(a.ann ? { ef: a.ef } : {}),
    },
  };
  const tag = `part ${spec.index}/${spec.count}`;
  const summary = {
    part: spec.index,
    parts: spec.count,
    rows: part.rows,
    rowStart: part.globalStart,
    l,
    out: outputs[0]!,
  };
  const state = await checkOutputs(outputs, key, {
    overwrite: a.overwrite,
    onLog: logTo("assign"),
  });
  if (state === "done") {
    progress(`assign: ${tag} already done (manifest matches): ${outputs[0]}`);
    if (v.json) console.log(JSON.stringify({ ...summary, skipped: true }));
    return true;
  }
  // The keys first: a metadata file whose row count disagrees is refused before the work.
  const keys = await partKeys(part, source);
  const { labels, scores, adapter } = await labelPart(a, centers, part, source.rows, t0);
  let ids: BigInt64Array | string[] | undefined = keys;
  if (!ids) {
    ids = new BigInt64Array(part.rows);
    for (let i = 0; i < part.rows; i++) ids[i] = BigInt(part.globalStart + i);
  }
  const shape = [part.rows, l];
  // The part's objective over its rows: the sum of each row's score to its first label.
  let objective = 0;
  for (let r = 0; r < part.rows; r++) objective += scores[r * l]!;
  await commitOutputs(
    a.format === "parquet"
      ? [{
        path: outputs[0]!,
        write: async (p) => {
          // Loaded here only: Parquet is not part of the npm-free core.
          const { writeParquetLabels } = await import("../data/parquet.ts");
          const labelsOf = { indices: labels, scores, l };
          await writeParquetLabels(
            p,
            Array.isArray(ids) ? { ...labelsOf, keys: ids } : { ...labelsOf, ids },
          );
        },
      }]
      : a.format === "arrow"
      ? [{
        path: outputs[0]!,
        write: (p) => writeArrowLabels(p, { indices: labels, scores, l, ids }),
      }]
      : [
        { path: outputs[0]!, write: (p) => writeNpy(p, labels, shape) },
        { path: outputs[1]!, write: (p) => writeNpy(p, scores, shape) },
      ],
    key,
    { rows: part.rows, rowStart: part.globalStart, centers: centers.rows, objective },
  );
  const seconds = (performance.now() - t0) / 1000;
  progress(`assign: ${tag} done: ${part.rows} rows in ${formatSeconds(seconds)} → ${outputs[0]}`);
  if (v.json) {
    console.log(JSON.stringify({ ...summary, skipped: false, objective, seconds, adapter }));
  }
  return true;
}

/** The top-l centers of every row of the part (GPU, or hnswlib with --ann). */
async function labelPart(
  a: AssignPart,
  centers: Matrix,
  part: RowSource,
  totalRows: number,
  t0: number,
): Promise<{ labels: Uint32Array; scores: Float32Array; adapter: string }> {
  const { l, metric, spec } = a;
  const tag = `part ${spec.index}/${spec.count}`;
  let search: (m: Matrix) => Promise<TopkResult> | TopkResult;
  let release = () => {};
  let adapter = "hnswlib (CPU)";
  if (a.ann) {
    const { annTopk, buildHnswIndex } = await import("../ann/hnsw.ts");
    progress(`assign: building the HNSW index over ${centers.rows} centers`);
    const index = await buildHnswIndex(centers, { metric });
    search = (m) => annTopk(index, m, { k: l, ef: a.ef });
  } else {
    const gpu = await createGpu();
    adapter = gpu.info.description;
    const index = uploadTopkKeys(gpu, centers, { metric, variant: a.variant });
    search = (m) => index.search(m, { k: l });
    release = () => {
      index.destroy();
      gpu.destroy();
    };
  }
  const labels = new Uint32Array(part.rows * l);
  const scores = new Float32Array(part.rows * l);
  try {
    progress(
      `assign: ${tag}: rows ${part.globalStart}..${
        part.globalStart + part.rows
      } of ${totalRows}, ${centers.rows} centers × ${centers.cols}, l = ${l}, ${metric}, on ${adapter}`,
    );
    let last = 0;
    for await (const b of streamRows(part, { batchRows: a.batchRows })) {
      checkRows(b.matrix, b.file, { firstRow: b.fileRow, ...nonZero(metric) });
      const r = await search(b.matrix);
      labels.set(r.indices, b.rowStart * l);
      scores.set(r.scores, b.rowStart * l);
      const done = b.rowStart + b.matrix.rows, now = performance.now();
      if (now - last >= 1000 || done === part.rows) {
        last = now;
        const s = (now - t0) / 1000, rate = done / Math.max(s, 1e-9);
        progress(
          `assign: ${tag}: ${done}/${part.rows} rows  ${Math.round(rate)} rows/s  ETA ${
            formatSeconds((part.rows - done) / Math.max(rate, 1e-9))
          }`,
        );
      }
    }
  } finally {
    release();
  }
  return { labels, scores, adapter };
}

/** The clip-retrieval metadata files (sample keys) beside the embedding files, where present. */
async function metadataFiles(files: string[]): Promise<string[]> {
  const out: string[] = [];
  for (const f of files) {
    const m = await findMetadataFile(f);
    if (m && m !== f) out.push(m);
  }
  return out;
}

/**
 * The sample keys of a part's rows, when every file of it has clip-retrieval metadata; each
 * metadata file's row count is checked against its embedding file's (the whole `source`).
 */
async function partKeys(part: RowSource, source: RowSource): Promise<string[] | undefined> {
  const out: string[] = [];
  const fileRows = new Map(source.slices.map((s) => [s.file, s.rowEnd]));
  for (const s of part.slices) {
    const keys = await readEmbeddingKeys([s.file], [fileRows.get(s.file) ?? s.rowEnd]);
    if (!keys) return undefined;
    if (keys.length < s.rowEnd) {
      throw new TypeError(
        `Expected the metadata of ${s.file} to hold at least ${s.rowEnd} keys but found ${keys.length}`,
      );
    }
    for (let r = s.rowStart; r < s.rowEnd; r++) out.push(keys[r]!);
  }
  return out;
}
