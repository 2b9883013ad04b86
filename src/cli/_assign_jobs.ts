// `deno task assign --shard i/N`: labels one part of the rows, as an array or Indexed Job
// task. The part is the same contiguous split as `cluster --shard`; its `key` column holds the
// sample keys (else `id`, the global row index), so concatenating the parts in order gives the
// labels of one `assign` over all rows. Outputs are committed with a manifest (src/jobs/).
import { join } from "node:path";
import {
  formatSeconds,
  intFlag,
  logTo,
  noticeInputDirectories,
  progress,
  UsageError,
} from "./_cli.ts";
import {
  type AssignJobFlags,
  formatFlag,
  type LabelFormat,
  nonZero,
  readCenters,
  recallJson,
  recallLine,
  type SearchFlags,
  searchFlags,
  searchJson,
} from "./_assign_flags.ts";
import {
  checkOutputs,
  commitOutputs,
  describeInputs,
  ensureOutputDir,
  type ManifestKey,
  parsePartSpec,
  type PartSpec,
  partStem,
} from "../jobs/mod.ts";
import { createGpu, type CreateGpuOptions } from "../gpu/gpu.ts";
import { gpuOptions } from "./_device_flag.ts";
import { openRowSource, partOf, type RowSource, streamRows } from "../data/row_source.ts";
import { findMetadataFile, readEmbeddingKeys } from "../data/clip_layout.ts";
import { writeNpy } from "../data/npy.ts";
import { writeArrowLabels } from "../data/arrow.ts";
import { checkRows, type Matrix } from "../matrix/matrix.ts";
import type { TopkResult } from "../topk/topk.ts";
import type { IvfSearchChoice } from "../ivf/ivf_auto.ts";
import type { TopkRecall } from "../ivf/ivf_recall.ts";
import { openLabelSearch } from "../labels/label_search.ts";
import { measureLabelRecall } from "../labels/label_recall.ts";
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

/** Everything an assign part job needs, from its flags. */
interface AssignPart extends SearchFlags {
  /** createGpu() options (--device). */
  gpu: CreateGpuOptions;
  spec: PartSpec;
  inputs: string[];
  centers: string;
  out: string;
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
  const search = searchFlags(v);
  const format = formatFlag(v.format);
  const ef = intFlag("ef", v.ef, DEFAULT_HNSW_EF, 1);
  return {
    spec,
    inputs,
    centers: v.centers,
    out: v.out,
    ...search,
    gpu: gpuOptions(v),
    format,
    ef,
    ann: v.ann ?? false,
    column: v.column,
    overwrite: v.overwrite ?? false,
  };
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
      ...(a.ann ? { ef: a.ef } : { assign: a.assign, nprobe: a.nprobe ?? null }),
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
    inputs: [...a.inputs, a.centers],
  });
  if (state === "done") {
    progress(`assign: ${tag} already done (manifest matches): ${outputs[0]}`);
    if (v.json) console.log(JSON.stringify({ ...summary, skipped: true }));
    return true;
  }
  await noticeInputDirectories("assign", a.inputs);
  // The keys first: a metadata file whose row count disagrees is refused before the work.
  const keys = await partKeys(part, source);
  const { labels, scores, adapter, search, recall } = await labelPart(
    a,
    centers,
    part,
    source.rows,
    t0,
  );
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
    {
      rows: part.rows,
      rowStart: part.globalStart,
      centers: centers.rows,
      objective,
      search: searchJson(search),
      recall: recallJson(recall),
    },
  );
  const seconds = (performance.now() - t0) / 1000;
  progress(`assign: ${tag} done: ${part.rows} rows in ${formatSeconds(seconds)} → ${outputs[0]}`);
  if (v.json) {
    const more = {
      objective,
      seconds,
      adapter,
      search: searchJson(search),
      recall: recallJson(recall),
    };
    console.log(JSON.stringify({ ...summary, skipped: false, ...more }));
  }
  return true;
}

/** The top-l centers of every row of the part (GPU, or hnswlib with --ann), and their recall. */
async function labelPart(
  a: AssignPart,
  centers: Matrix,
  part: RowSource,
  totalRows: number,
  t0: number,
): Promise<{
  labels: Uint32Array;
  scores: Float32Array;
  adapter: string;
  search: IvfSearchChoice | null;
  recall: TopkRecall | null;
}> {
  const { l, metric, spec } = a;
  const tag = `part ${spec.index}/${spec.count}`;
  let search: (m: Matrix) => Promise<TopkResult> | TopkResult;
  let release = () => {};
  let adapter = "hnswlib (CPU)";
  let choice: IvfSearchChoice | null = null;
  const gpu = a.ann && a.checkRecall === 0 ? null : await createGpu(a.gpu);
  if (a.ann) {
    const { annTopk, buildHnswIndex } = await import("../ann/hnsw.ts");
    progress(`assign: building the HNSW index over ${centers.rows} centers`);
    const index = await buildHnswIndex(centers, { metric });
    search = (m) => annTopk(index, m, { k: l, ef: a.ef });
  } else {
    adapter = gpu!.info.description;
    const index = await openLabelSearch(gpu!, centers, {
      l,
      metric,
      variant: a.variant,
      assign: a.assign,
      ...(a.nprobe !== undefined ? { nprobe: a.nprobe } : {}),
      onLog: logTo("assign"),
    });
    choice = index.choice;
    search = (m) => index.labels(m);
    release = () => index.destroy();
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
    release(); // the search's GPU memory goes before the check's exact search
    release = () => {};
    const recall = a.checkRecall > 0
      ? await measureLabelRecall(gpu!, part, centers, { indices: labels, scores }, {
        l,
        sample: a.checkRecall,
        metric,
      })
      : null;
    if (recall) progress(`assign: ${tag}: ${recallLine(recall, l)}`);
    return { labels, scores, adapter, search: choice, recall };
  } finally {
    release();
    gpu?.destroy();
  }
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
