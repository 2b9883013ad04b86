// The flags of `deno task assign` shared by the one-process run and the `--shard` job: the
// search (--l, --metric, --variant, --assign, --nprobe, --check-recall, --batch-rows), the
// label formats (--format), the centers they search, and how a run reports its search and recall.
import { intFlag, UsageError } from "./_cli.ts";
import { assignFlags, variantFlag } from "./_kmeans_flags.ts";
import { readEmbeddings } from "../data/embedding_files.ts";
import { checkRows, type Matrix } from "../matrix/matrix.ts";
import type { TopkMetric, TopkVariant } from "../topk/topk.ts";
import type { KMeansAssign } from "../kmeans/kmeans_options.ts";
import type { IvfSearchChoice } from "../ivf/ivf_auto.ts";
import type { TopkRecall } from "../ivf/ivf_recall.ts";
import { TOPK_MAX_K } from "../topk/topk_programs.ts";

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
  assign?: string | undefined;
  nprobe?: string | undefined;
  "check-recall"?: string | undefined;
  out?: string | undefined;
  json?: boolean | undefined;
  shard?: string | undefined;
  shards?: string | undefined;
  format?: string | undefined;
  overwrite?: boolean | undefined;
  device?: string | undefined;
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

/** The search flags of `deno task assign` (see {@linkcode searchFlags}). */
export interface SearchFlags {
  l: number;
  batchRows: number;
  metric: TopkMetric;
  variant: TopkVariant;
  /** Exact, IVF or auto (the GPU search; not with --ann). */
  assign: KMeansAssign;
  /** Cells probed per row with IVF; absent for the default. */
  nprobe?: number;
  /** Rows of the recall check (0: none). */
  checkRecall: number;
}

/**
 * The search flags of `deno task assign`, shared by the one-process and the job mode:
 * `--l` (default 8), `--batch-rows` (default 65536), `--metric cosine|ip` (default cosine),
 * `--variant auto|registers|tiled` (default auto), `--assign exact|ivf|auto` (default auto)
 * and `--nprobe N` (neither with `--ann`), `--check-recall N` (default 0: no check).
 */
export function searchFlags(
  v: Pick<
    AssignJobFlags,
    "l" | "batch-rows" | "metric" | "variant" | "assign" | "nprobe" | "check-recall" | "ann"
  >,
): SearchFlags {
  const l = intFlag("l", v.l, 8, 1);
  const batchRows = intFlag("batch-rows", v["batch-rows"], 65536, 1);
  const metric = (v.metric ?? "cosine") as TopkMetric;
  if (metric !== "cosine" && metric !== "ip") {
    throw new UsageError(`Expected --metric to be cosine or ip but found ${metric}`);
  }
  const variant: TopkVariant = variantFlag(v.variant);
  if (v.ann) {
    for (const f of ["assign", "nprobe"] as const) {
      if (v[f] !== undefined) throw new UsageError(`Expected no --${f} with --ann (hnswlib)`);
    }
  }
  const search = assignFlags(v);
  const checkRecall = intFlag("check-recall", v["check-recall"], 0, 0);
  return { l, batchRows, metric, variant, ...search, checkRecall };
}

/** The recall line of `deno task assign --check-recall`. */
export function recallLine(r: TopkRecall, l: number): string {
  return `recall@${l} ${r.recall.toFixed(4)} against exact search on ${r.rows} sampled rows ` +
    `(max score error ${r.scoreMismatch.toExponential(1)}, ${r.inconsistent} inconsistent rows)`;
}

/** What `--json` and the manifests record of a recall check. */
export function recallJson(r: TopkRecall | null): { [key: string]: number } | null {
  return r && { ...r };
}

/** What `--json` and the manifests record of the search used. */
export function searchJson(c: IvfSearchChoice | null): { [key: string]: string | number } | null {
  return c && { ...c };
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

/** The row check of a metric: cosine refuses all-zero rows. */
export const nonZero = (metric: TopkMetric): { nonZero?: string } =>
  metric === "cosine" ? { nonZero: "cosine similarity" } : {};
