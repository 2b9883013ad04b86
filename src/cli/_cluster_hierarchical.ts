// `deno task cluster --hierarchical N [--refine R]`: the parts, the merge and R refinement
// passes in one process (src/kmeans/hierarchical.ts), the same centers as the jobs; the output
// committed with a manifest, so that a rerun skips the work. The objective reported is over
// all rows (comparable with flat k-means); the merge's own, over part centroids, is
// `mergeObjective`.
import { resolve } from "node:path";
import { formatSeconds, logTo, progress, UsageError } from "./_cli.ts";
import type { KMeansFlags } from "./_kmeans_flags.ts";
import { jobKmeansLog } from "./_kmeans_progress.ts";
import {
  checkOutputs,
  commitOutputs,
  describeInputs,
  type Json,
  type ManifestKey,
  refuseInputOverlap,
} from "../jobs/mod.ts";
import { createGpu } from "../gpu/gpu.ts";
import { openRowSource } from "../data/row_source.ts";
import { writeNpy } from "../data/npy.ts";
import { hierarchicalKmeans } from "../kmeans/hierarchical.ts";

/** What the job needs besides its own flags (the cluster jobs' context). */
export interface HierarchicalContext {
  k: number;
  out: string;
  params: KMeansFlags;
  overwrite: boolean;
}

type Summary = { [key: string]: Json };

const log = logTo("cluster");

function paramsJson(p: KMeansFlags, extra: Summary): Summary {
  const { batchRows: _, ...recorded } = p;
  return { ...extra, ...recorded };
}

/** `--hierarchical N [--refine R]`: the parts, the merge and the refinement in one process. */
export async function hierarchicalJob(
  inputs: string[],
  column: string | undefined,
  count: number,
  k1: number,
  refine: number,
  { k, out, params, overwrite }: HierarchicalContext,
): Promise<Summary> {
  const t0 = performance.now();
  if (!/\.npy$/i.test(out)) {
    throw new UsageError(`Expected --out to end in .npy with --hierarchical but found ${out}`);
  }
  await refuseInputOverlap([out], inputs);
  const source = await openRowSource(
    inputs.map((i) => resolve(i)),
    column === undefined ? {} : { column },
  );
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
  if (await checkOutputs([out], key, { overwrite, onLog: log }) === "done") {
    progress(`cluster: hierarchical k-means already done (manifest matches): ${out}`);
    return { ...summary, skipped: true };
  }
  const gpu = await createGpu();
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
      },
    );
    const seconds = (performance.now() - t0) / 1000;
    progress(
      `cluster: hierarchical k-means done in ${
        formatSeconds(seconds)
      }: objective over all ${source.rows} rows ${r.objective.toPrecision(8)} → ${out}`,
    );
    // `objective` is over the rows (comparable with flat k-means); the merge's is over the
    // part centroids; `refineObjectives[i]`: the rows' objective before pass i + 1.
    return {
      ...summary,
      skipped: false,
      objective: r.objective,
      mergeObjective: r.mergeObjective,
      ...(refine > 0 ? { refine, refineObjectives: passes } : {}),
      seconds,
    };
  } finally {
    gpu.destroy();
  }
}
