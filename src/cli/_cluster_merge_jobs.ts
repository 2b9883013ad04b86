// `mlcd cluster --merge parts/`: the count-weighted k-means of every part's centroids (the
// parts, the merge and refinement in one process are `--hierarchical N`, in
// _cluster_hierarchical.ts): check the outputs, call the library (src/kmeans/hierarchical.ts),
// commit with a manifest.
import { formatSeconds, progress, UsageError } from "./_cli.ts";
import { assignmentText, jobKmeansLog } from "./_kmeans_progress.ts";
import {
  assignmentJson,
  finished,
  type JobContext,
  log,
  npyOf,
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
import { countMergePoints, mergeCentroids } from "../kmeans/hierarchical.ts";

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
      mergeObjective: r.objective,
      points: r.points,
      rows: r.members,
      assignment: assignmentJson(r.assignment),
      source: parts[0]!.manifest.inputs as unknown as Json,
    });
    await Deno.remove(checkpoint).catch(() => {});
    const seconds = (performance.now() - t0) / 1000;
    const how = assignmentText(r.assignment);
    progress(`cluster: merge done in ${formatSeconds(seconds)} (assignment ${how}) → ${out}`);
    // The merge's k-means objective is over the part centroids, not the rows: named apart.
    const { objective: _, ...rest } = finished(summary, "merge", r, r.sizes, seconds);
    return { ...rest, mergeObjective: r.objective };
  } finally {
    gpu.destroy();
  }
}
