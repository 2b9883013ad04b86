// `deno task cluster --merge parts/` (the count-weighted k-means of every part's centroids)
// and `--hierarchical N` (the parts and the merge in one process): check the outputs, call
// the library (src/kmeans/hierarchical.ts), commit with a manifest.
// `deno task cluster` as scale-out jobs: one part of N (`--shard i/N`), the merge of the parts'
// centroids weighted by their member counts (`--merge parts/`), or both in one process
// (`--hierarchical N`). The computation is src/kmeans/hierarchical.ts; every output is
// committed with a manifest (src/jobs/), so a rerun skips finished work and a killed job is
// simply resubmitted. This file reads the flags and runs each job: check the outputs, call
// the library, commit.
import { formatSeconds, noticeInputDirectories, progress, UsageError } from "./_cli.ts";
import { assignmentText, jobKmeansLog } from "./_kmeans_progress.ts";
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
import {
  checkOutputs,
  commitOutputs,
  describeInputs,
  jobCheckpoint,
  type Json,
  loadParts,
  type ManifestKey,
  refuseInputOverlap,
} from "../jobs/mod.ts";
import { createGpu } from "../gpu/gpu.ts";
import { countMergePoints, hierarchicalKmeans, mergeCentroids } from "../kmeans/hierarchical.ts";

// ---- --merge parts/ ----

/** Refuses a k above the part centroids with members (before any work). */
function checkMergeK(parts: { counts: Uint32Array }[], k: number): void {
  const { points } = countMergePoints(parts);
  if (k > points) {
    throw new RangeError(
      `Expected --k to be at most the number of part centroids with members (${points}) but found ${k}`,
    );
  }
}

export async function mergeJob(
  dirs: string[],
  { k, out, params, overwrite, gpu: gpuFlags }: JobContext,
): Promise<Summary> {
  const t0 = performance.now();
  if (!/\.npy$/i.test(out)) {
    throw new UsageError(`Expected --out to end in .npy with --merge but found ${out}`);
  }
  await refuseInputOverlap([out], dirs); // before the parts are read
  const parts = await loadParts(dirs);
  checkMergeK(parts, k);
  const key: ManifestKey = {
    kind: "cluster-merge",
    shard: null,
    inputs: await describeInputs(parts.flatMap((part) => [part.file, part.countsFile])),
    params: paramsJson(params, { k, parts: parts.length }),
  };
  const summary = { k, parts: parts.length, out };
  if (await checkOutputs([out], key, { overwrite, onLog: log, inputs: dirs }) === "done") {
    progress(`cluster: merge already done (manifest matches): ${out}`);
    return { ...summary, skipped: true };
  }
  const gpu = await createGpu(gpuFlags);
  try {
    const checkpoint = await jobCheckpoint(out.replace(/\.npy$/i, ""), key, { onLog: log });
    const r = await mergeCentroids(gpu, parts, {
      ...params,
      k,
      ...jobKmeansLog("cluster: merge"),
      checkpoint: { path: checkpoint },
      resume: true,
    });
    await commitOutputs([{ path: out, write: npyOf(r.centroids) }], key, {
      objective: r.objective,
      points: r.points,
      rows: r.members,
      assignment: assignmentJson(r.assignment),
      source: parts[0]!.manifest.inputs as unknown as Json,
    });
    await Deno.remove(checkpoint).catch(() => {});
    const seconds = (performance.now() - t0) / 1000;
    const how = assignmentText(r.assignment);
    progress(`cluster: merge done in ${formatSeconds(seconds)} (assignment ${how}) → ${out}`);
    return finished(summary, "merge", r, r.sizes, seconds);
  } finally {
    gpu.destroy();
  }
}

// ---- --hierarchical N ----

export async function hierarchicalJob(
  inputs: string[],
  column: string | undefined,
  count: number,
  k1: number,
  { k, out, params, overwrite, gpu: gpuFlags }: JobContext,
): Promise<Summary> {
  const t0 = performance.now();
  if (!/\.npy$/i.test(out)) {
    throw new UsageError(`Expected --out to end in .npy with --hierarchical but found ${out}`);
  }
  const source = await openSource(inputs, column);
  const key: ManifestKey = {
    kind: "cluster-hierarchical",
    shard: null,
    inputs: await describeInputs(source.slices.map((s) => s.file)),
    params: paramsJson(params, { k, k1, parts: count, column: column ?? null }),
  };
  const most = Math.min(source.rows, count * k1);
  if (k > most) {
    throw new RangeError(`Expected --k to be at most min(rows, N × k1) = ${most} but found ${k}`);
  }
  const summary = { k, k1, parts: count, rows: source.rows, cols: source.cols, out };
  if (await checkOutputs([out], key, { overwrite, onLog: log, inputs }) === "done") {
    progress(`cluster: hierarchical k-means already done (manifest matches): ${out}`);
    return { ...summary, skipped: true };
  }
  await noticeInputDirectories("cluster", inputs);
  const gpu = await createGpu(gpuFlags);
  try {
    progress(
      `cluster: hierarchical: ${source.rows} × ${source.cols} rows in ${count} parts → ${k1} centroids each → k = ${k}, on ${gpu.info.description}`,
    );
    const stages = new Map<string, ReturnType<typeof jobKmeansLog>>();
    const stage = (name: string) => {
      if (!stages.has(name)) stages.set(name, jobKmeansLog(`cluster: ${name}`));
      return stages.get(name)!;
    };
    const r = await hierarchicalKmeans(gpu, source, {
      ...params,
      parts: count,
      k1,
      k,
      onLog: (m, name) => stage(name).onLog(m),
      onIteration: (s, name) => stage(name).onIteration(s),
      onPart: (i) => {
        const s = (performance.now() - t0) / 1000;
        progress(
          `cluster: part ${i}/${count} done, ${formatSeconds(s)} elapsed, ETA ${
            formatSeconds((s / (i + 1)) * (count - i - 1))
          } for the remaining parts`,
        );
      },
    });
    await commitOutputs([{ path: out, write: npyOf(r.centroids) }], key, {
      objective: r.objective,
      points: r.points,
      rows: r.members,
      assignment: assignmentJson(r.assignment),
      partAssignments: r.parts.map((p) => assignmentJson(p.assignment)),
    });
    const seconds = (performance.now() - t0) / 1000;
    const how = assignmentText(r.assignment);
    progress(`cluster: hierarchical k-means done in ${formatSeconds(seconds)} (${how}) → ${out}`);
    return finished(summary, "hierarchical", r, r.sizes, seconds);
  } finally {
    gpu.destroy();
  }
}
