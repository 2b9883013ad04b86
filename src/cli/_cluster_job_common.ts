// The pieces every `deno task cluster` job mode shares (_cluster_jobs.ts: the flags and the
// part job; _cluster_merge_jobs.ts: the merge and the hierarchical run): what a job needs,
// its summary and manifest records, and its inputs and outputs.
import { logTo, progress } from "./_cli.ts";
import type { KMeansFlags } from "./_kmeans_flags.ts";
import { clusterSizes } from "./_kmeans_progress.ts";
import type { Json } from "../jobs/mod.ts";
import type { CreateGpuOptions } from "../gpu/gpu.ts";
import { openRowSource, type RowSource } from "../data/row_source.ts";
import { writeNpy } from "../data/npy.ts";
import type { Matrix } from "../matrix/matrix.ts";
import type { KMeansAssignment } from "../kmeans/kmeans_options.ts";
import { resolve } from "node:path";

/** What every job mode needs besides its own flags. */
export interface JobContext {
  k: number;
  out: string;
  params: KMeansFlags;
  overwrite: boolean;
  gpu: CreateGpuOptions;
}

export type Summary = { [key: string]: Json };

export const log = logTo("cluster");

/** A run's assignment step as the manifests and `--json` record it. */
export const assignmentJson = (a: KMeansAssignment | null): Json => a && { ...a };

/** A finished job's summary: objective, assignment, cluster sizes (said on stderr), seconds. */
export function finished(
  summary: Summary,
  tag: string,
  r: { objective: number; assignment: KMeansAssignment | null },
  counts: ArrayLike<number>,
  seconds: number,
): Summary {
  const sizes = clusterSizes(counts);
  if (sizes) progress(`cluster: ${tag}: ${sizes.line}`);
  const assignment = assignmentJson(r.assignment);
  const clusterSizesJson = sizes ? { ...sizes.stats } : null;
  const more = { objective: r.objective, assignment, clusterSizes: clusterSizesJson, seconds };
  return { ...summary, skipped: false, ...more };
}

export function paramsJson(p: KMeansFlags, extra: Summary): Summary {
  const { batchRows: _, nprobe, ...recorded } = p;
  return { ...extra, ...recorded, nprobe: nprobe ?? null };
}

/** Opens the inputs by absolute path, so that parts and checkpoints name files alike. */
export function openSource(inputs: string[], column: string | undefined): Promise<RowSource> {
  const abs = inputs.map((i) => resolve(i));
  return openRowSource(abs, column === undefined ? {} : { column });
}

/** Writes `m` as a float32 `.npy` (joins the commit's batch). */
export const npyOf = (m: Matrix): (path: string) => Promise<void> => (path: string) =>
  writeNpy(path, m.data, [m.rows, m.cols]);
