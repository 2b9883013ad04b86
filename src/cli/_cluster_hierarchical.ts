// `deno task cluster --hierarchical N [--refine R]`: the parts, the merge and R refinement
// passes in one process (src/kmeans/hierarchical.ts), the same centers as the jobs; the output
// committed with a manifest, so that a rerun skips the work. The objective reported is over
// all rows (comparable with flat k-means); the merge's own, over part centroids, is
// `mergeObjective`.
import { formatSeconds, noticeInputDirectories, progress, UsageError } from "./_cli.ts";
import { assignmentText, jobKmeansLog } from "./_kmeans_progress.ts";
import {
  assignmentJson,
  finished,
  type JobContext,
  log,
  openSource,
  paramsJson,
  type Summary,
} from "./_cluster_job_common.ts";
import { checkOutputs, commitOutputs, describeInputs, type ManifestKey } from "../jobs/mod.ts";
import { createGpu } from "../gpu/gpu.ts";
import { writeNpy } from "../data/npy.ts";
import { hierarchicalKmeans } from "../kmeans/hierarchical.ts";

/** `--hierarchical N [--refine R]`: the parts, the merge and the refinement in one process. */
export async function hierarchicalJob(
  inputs: string[],
  column: string | undefined,
  count: number,
  k1: number,
  refine: number,
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
    params: paramsJson(params, {
      k,
      k1,
      parts: count,
      column: column ?? null,
      ...(refine > 0 ? { refine } : {}),
    }),
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
      refine,
      onPass: (p) =>
        progress(
          `cluster: refine pass ${p.pass}/${refine}: objective of the centers before it ${
            p.objective.toPrecision(8)
          }, ${p.nsplit} empty centers re-seeded, ${formatSeconds(p.seconds)}`,
        ),
      onPart: (i) => {
        const s = (performance.now() - t0) / 1000;
        progress(
          `cluster: part ${i}/${count} done, ${formatSeconds(s)} elapsed, ETA ${
            formatSeconds((s / (i + 1)) * (count - i - 1))
          } for the remaining parts`,
        );
      },
    });
    const passes = r.passes.map((p) => p.objective);
    await commitOutputs(
      [{
        path: out,
        write: (p) => writeNpy(p, r.centroids.data, [r.centroids.rows, r.centroids.cols]),
      }],
      key,
      {
        objective: r.objective,
        mergeObjective: r.mergeObjective,
        ...(refine > 0 ? { refineObjectives: passes } : {}),
        points: r.points,
        rows: r.members,
        assignment: assignmentJson(r.assignment),
        partAssignments: r.parts.map((p) => assignmentJson(p.assignment)),
      },
    );
    const seconds = (performance.now() - t0) / 1000;
    progress(
      `cluster: hierarchical k-means done in ${formatSeconds(seconds)} (${
        assignmentText(r.assignment)
      }): objective over all ${source.rows} rows ${r.objective.toPrecision(8)} → ${out}`,
    );
    // `objective` is over the rows (comparable with flat k-means); the merge's is over the
    // part centroids; `refineObjectives[i]`: the rows' objective before pass i + 1.
    return {
      ...finished(summary, "hierarchical", r, r.counts, seconds),
      mergeObjective: r.mergeObjective,
      ...(refine > 0 ? { refine, refineObjectives: passes } : {}),
    };
  } finally {
    gpu.destroy();
  }
}
