// `deno task cluster` as scale-out jobs: one part of N (`--shard i/N`), the merge of the parts'
// centroids weighted by their member counts (`--merge parts/`), or both in one process
// (`--hierarchical N`). The computation is src/kmeans/hierarchical.ts; every output is
// committed with a manifest (src/jobs/), so a rerun skips finished work and a killed job is
// simply resubmitted. This file reads the flags and runs each job: check the outputs, call
// the library, commit.
import { join } from "node:path";
import { formatSeconds, intFlag, noticeInputDirectories, progress, UsageError } from "./_cli.ts";
import { kmeansFlags, type KMeansFlagValues } from "./_kmeans_flags.ts";
import { assignmentText, jobKmeansLog } from "./_kmeans_progress.ts";
import { gpuOptions } from "./_device_flag.ts";
import {
  assignmentJson,
  finished,
  type JobContext,
  log,
  npyOf,
  openSource,
  paramsJson,
  type Summary,
} from "./_cluster_job_common.ts";
import { mergeJob } from "./_cluster_merge_jobs.ts";
import {
  checkOutputs,
  commitOutputs,
  describeInputs,
  ensureOutputDir,
  jobCheckpoint,
  type ManifestKey,
  parsePartSpec,
  type PartSpec,
  partStem,
} from "../jobs/mod.ts";
import { createGpu } from "../gpu/gpu.ts";
import { partOf } from "../data/row_source.ts";
import { writeNpy } from "../data/npy.ts";
import { clusterPart } from "../kmeans/hierarchical.ts";
import { hierarchicalJob } from "./_cluster_hierarchical.ts";
import {
  CLUSTER_REFINE_HELP,
  CLUSTER_REFINE_OPTIONS,
  clusterRefineJob,
  type RefineFlagValues,
} from "./_cluster_refine.ts";

/** The parseArgs options the job modes add to `deno task cluster`. */
export const CLUSTER_JOB_OPTIONS = {
  shard: { type: "string" },
  shards: { type: "string" },
  merge: { type: "string", multiple: true },
  hierarchical: { type: "string" },
  k1: { type: "string" },
  overwrite: { type: "boolean" },
  ...CLUSTER_REFINE_OPTIONS,
} as const;

/** Help text of the job modes, appended to `deno task cluster --help`. */
export const CLUSTER_JOBS_HELP = `
Scale-out jobs (outputs committed atomically with a .json manifest; a rerun whose
manifest matches skips the work, another run's outputs are refused unless --overwrite):
  --shard i/N           cluster part i (from 0) of N of the rows into --k centroids;
                        --out DIR gets part-<i>-of-<N>.npy, .counts.npy and .json
  --shard auto          i/N from SLURM_ARRAY_TASK_ID/SLURM_ARRAY_TASK_COUNT, or
                        JOB_COMPLETION_INDEX with --shards N (also overrides Slurm's count)
  --merge DIR           weighted k-means of every part's centroids (weights = member
                        counts) into --k centers, written to --out centers.npy (repeatable)
  --hierarchical N      the N parts and the merge in one process (same centers as the jobs);
                        reports the objective over all rows (one more pass over them) and
                        the merge's own, over the part centroids, as mergeObjective
  --k1 N                centroids per part with --hierarchical (default --k)
${CLUSTER_REFINE_HELP}
  --overwrite           replace outputs made by another run`;

/** Flags of `deno task cluster` that the job modes read (parseArgs values). */
export interface ClusterJobFlags extends KMeansFlagValues, RefineFlagValues {
  input?: string[] | undefined;
  k?: string | undefined;
  column?: string | undefined;
  weights?: string | undefined;
  checkpoint?: string | undefined;
  "checkpoint-every"?: string | undefined;
  resume?: boolean | undefined;
  out?: string | undefined;
  assignments?: string | undefined;
  json?: boolean | undefined;
  shard?: string | undefined;
  shards?: string | undefined;
  merge?: string[] | undefined;
  hierarchical?: string | undefined;
  k1?: string | undefined;
  overwrite?: boolean | undefined;
  device?: string | undefined;
}

function refuse(v: ClusterJobFlags, mode: string, flags: (keyof ClusterJobFlags)[]): void {
  for (const f of flags) {
    if (v[f] !== undefined) throw new UsageError(`Expected no --${f} with ${mode}`);
  }
}

function inputsOf(v: ClusterJobFlags): string[] {
  const inputs = v.input ?? [];
  if (inputs.length === 0) throw new UsageError("Missing --input (see --help)");
  return inputs;
}

/** The one job mode given, or undefined; refuses the job flags without a mode. */
function jobMode(v: ClusterJobFlags): string | undefined {
  const modes = [
    v.shard !== undefined && "--shard",
    v.merge !== undefined && "--merge",
    v.hierarchical !== undefined && "--hierarchical",
  ].filter((m): m is string => typeof m === "string");
  if (v.shards !== undefined && v.shard === undefined) {
    throw new UsageError("Expected --shards only with --shard auto");
  }
  if (v.refine !== undefined && modes[0] !== "--hierarchical") {
    throw new UsageError(
      `Expected --refine R with --hierarchical N (or --refine with --shard for one refinement part) but found --refine ${v.refine}`,
    );
  }
  if (modes.length === 0) {
    for (const f of ["k1", "overwrite"] as const) {
      if (v[f] !== undefined) {
        throw new UsageError(`Expected --${f} only with --shard, --merge or --hierarchical`);
      }
    }
    return undefined;
  }
  if (modes.length > 1) {
    throw new UsageError(
      `Expected one of --shard, --merge and --hierarchical but found ${modes.join(" and ")}`,
    );
  }
  return modes[0];
}

/**
 * Runs `deno task cluster` in a job mode when `--shard`, `--merge` or `--hierarchical` is
 * given; returns false (nothing done) otherwise.
 */
export async function clusterJob(v: ClusterJobFlags): Promise<boolean> {
  if (await clusterRefineJob(v)) return true;
  const mode = jobMode(v);
  if (mode === undefined) return false;
  if (v.assignments !== undefined) {
    throw new UsageError(`Expected no --assignments with ${mode} (use deno task assign)`);
  }
  // Jobs checkpoint and resume by themselves (<out>.<hash>.ckpt); part rows are unweighted.
  refuse(v, mode, ["weights", "checkpoint", "checkpoint-every", "resume"]);
  if (v.k === undefined) throw new UsageError("Missing --k (see --help)");
  if (v.out === undefined) throw new UsageError("Missing --out (see --help)");
  const k = intFlag("k", v.k, 0, 1);
  const overwrite = v.overwrite ?? false;
  const ctx = { k, out: v.out, params: kmeansFlags(v), overwrite, gpu: gpuOptions(v) };
  let summary: Summary;
  if (v.shard !== undefined) {
    refuse(v, "--shard", ["k1"]);
    const part = parsePartSpec(v.shard, v.shards);
    summary = await partJob(inputsOf(v), v.column, part, ctx);
  } else if (v.merge !== undefined) {
    refuse(v, "--merge", ["input", "column", "k1"]);
    summary = await mergeJob(v.merge, ctx);
  } else {
    const count = intFlag("hierarchical", v.hierarchical, 0, 1);
    const k1 = intFlag("k1", v.k1, k, 1);
    const refine = intFlag("refine", v.refine, 0, 0);
    summary = await hierarchicalJob(inputsOf(v), v.column, count, k1, refine, ctx);
  }
  if (v.json) console.log(JSON.stringify(summary));
  return true;
}

// ---- --shard i/N ----

async function partJob(
  inputs: string[],
  column: string | undefined,
  spec: PartSpec,
  { k: k1, out: outDir, params, overwrite, gpu: gpuFlags }: JobContext,
): Promise<Summary> {
  const t0 = performance.now();
  const tag = `part ${spec.index}/${spec.count}`;
  const source = await openSource(inputs, column);
  const part = partOf(source, { index: spec.index, count: spec.count });
  const stem = join(outDir, partStem(spec));
  const outputs = [`${stem}.npy`, `${stem}.counts.npy`];
  await ensureOutputDir(outDir);
  const key: ManifestKey = {
    kind: "cluster-part",
    shard: { index: spec.index, count: spec.count },
    inputs: await describeInputs(source.slices.map((s) => s.file)),
    params: paramsJson(params, { k1, column: column ?? null }),
    flags: { k1: "--k" },
  };
  const summary = {
    part: spec.index,
    parts: spec.count,
    rows: part.rows,
    rowStart: part.globalStart,
    cols: part.cols,
    k1,
    out: outputs[0]!,
  };
  if (await checkOutputs(outputs, key, { overwrite, onLog: log, inputs }) === "done") {
    progress(`cluster: ${tag} already done (manifest matches): ${outputs[0]}`);
    return { ...summary, skipped: true };
  }
  await noticeInputDirectories("cluster", inputs);
  const gpu = await createGpu(gpuFlags);
  try {
    progress(
      `cluster: ${tag}: rows ${part.globalStart}..${
        part.globalStart + part.rows
      } of ${source.rows} × ${source.cols}, k = ${k1}, on ${gpu.info.description}`,
    );
    const checkpoint = await jobCheckpoint(stem, key, { onLog: log });
    const r = await clusterPart(gpu, part, {
      ...params,
      k1,
      ...jobKmeansLog(`cluster: ${tag}`),
      checkpoint: { path: checkpoint },
      resume: true,
    });
    await commitOutputs(
      [
        { path: outputs[0]!, write: npyOf(r.centroids) },
        { path: outputs[1]!, write: (p) => writeNpy(p, r.counts, [r.counts.length]) },
      ],
      key,
      {
        rows: part.rows,
        rowStart: part.globalStart,
        objective: r.objective,
        centroids: r.centroids.rows,
        assignment: assignmentJson(r.assignment),
      },
    );
    await Deno.remove(checkpoint).catch(() => {});
    const seconds = (performance.now() - t0) / 1000;
    progress(
      `cluster: ${tag} done in ${
        formatSeconds(seconds)
      }: ${r.centroids.rows} centroids, objective ${r.objective.toPrecision(8)}${
        r.assignment ? ` (assignment ${assignmentText(r.assignment)})` : ""
      } → ${outputs[0]}`,
    );
    return finished(summary, tag, r, r.counts, seconds);
  } finally {
    gpu.destroy();
  }
}
