// `deno task cluster` refinement jobs: Lloyd passes over all rows from given centers, split
// into parts. `--refine --shard i/N` writes one part's exact sums and counts for `--centers`;
// `--reduce DIR` adds every part's and writes the next centers. The computation is
// src/kmeans/refine.ts, the part files src/jobs/refine_parts.ts; every output is committed
// with a manifest, so a rerun skips finished work and a killed job is simply resubmitted.
import { basename, join, resolve } from "node:path";
import { formatSeconds, logTo, progress, UsageError } from "./_cli.ts";
import { kmeansFlags, type KMeansFlagValues } from "./_kmeans_flags.ts";
import {
  checkOutputs,
  commitOutputs,
  describeInputs,
  ensureOutputDir,
  type Json,
  loadRefineParts,
  type ManifestKey,
  parsePartName,
  parsePartSpec,
  partStem,
  readRefineCounts,
  readSumsNpy,
  REFINE_PART_KIND,
  refuseInputOverlap,
  sha256File,
  sumsNpyWriter,
} from "../jobs/mod.ts";
import { createGpu } from "../gpu/gpu.ts";
import { openRowSource, partOf } from "../data/row_source.ts";
import { readNpy, writeNpy } from "../data/npy.ts";
import { type PartSums, partSums, reduceSums } from "../kmeans/refine.ts";
import { pausePoint } from "../testing/pause_point.ts";

/** The parseArgs options of the refinement modes. */
export const CLUSTER_REFINE_OPTIONS = {
  centers: { type: "string" },
  refine: { type: "string" },
  reduce: { type: "string", multiple: true },
} as const;

/** Help lines of the refinement modes. */
export const CLUSTER_REFINE_HELP =
  `  --refine R            with --hierarchical: R Lloyd passes over all rows from the merged
                        centers (same centers as R × the two jobs below)
  --refine --shard i/N --centers C.npy
                        one refinement part: each row of part i/N assigned to its nearest
                        of the centers C; --out DIR gets part-<i>-of-<N>.npy (int64 k × d
                        exact sums of the members, fixed point × 2^30), .counts.npy, .json
  --reduce DIR          adds every refinement part's sums (repeatable DIR) and writes the
                        next centers to --out next.npy, with the objective over all rows
                        of the centers the parts were made for (read from the path their
                        manifests name; --centers C.npy gives another path to the same file)`;

/** Flags the refinement modes read. */
export interface RefineFlagValues extends KMeansFlagValues {
  input?: string[] | undefined;
  column?: string | undefined;
  out?: string | undefined;
  json?: boolean | undefined;
  shard?: string | undefined;
  shards?: string | undefined;
  overwrite?: boolean | undefined;
  centers?: string | undefined;
  refine?: string | undefined;
  reduce?: string[] | undefined;
}

/**
 * `--refine` without a count is the part job's flag: written `--refine=` so that parseArgs
 * (one option, one type) reads both `--refine --shard …` and `--refine 2`.
 */
export function refineArgs(args: readonly string[]): string[] {
  return args.map((a, i) =>
    a === "--refine" && !/^\s*[+-]?\d+\s*$/.test(args[i + 1] ?? "") ? "--refine=" : a
  );
}

type Summary = { [key: string]: Json };
const log = logTo("cluster");

/** Flags that no refinement job takes (k comes from the centers, one pass per job). */
const NOT_WITH = [
  "k",
  "k1",
  "merge",
  "hierarchical",
  "assignments",
  "weights",
  "checkpoint",
  "checkpoint-every",
  "resume",
  "niter",
  "nredo",
  "seed",
  "max-points-per-centroid",
] as const;

/**
 * Runs a refinement job when `--reduce` or `--refine` without a count is given; returns false
 * (nothing done) otherwise, refusing `--centers` then.
 */
export async function clusterRefineJob(
  v: RefineFlagValues & { [F in typeof NOT_WITH[number]]?: unknown },
): Promise<boolean> {
  const part = v.refine === "";
  if (v.reduce === undefined && !part) {
    if (v.centers !== undefined) {
      throw new UsageError("Expected --centers only with --refine --shard i/N or --reduce");
    }
    return false;
  }
  if (part && v.hierarchical !== undefined) {
    throw new UsageError("Expected --refine R (the number of passes) with --hierarchical N");
  }
  const mode = part ? "--refine" : "--reduce";
  if (part && v.reduce !== undefined) {
    throw new UsageError("Expected one of --refine and --reduce but found both");
  }
  for (const f of NOT_WITH) {
    if (v[f] !== undefined) throw new UsageError(`Expected no --${f} with ${mode}`);
  }
  const summary = part ? await refinePartJob(v) : await reduceJob(v);
  if (v.json) console.log(JSON.stringify(summary));
  return true;
}

// ---- --refine --shard i/N --centers C ----

async function refinePartJob(v: RefineFlagValues): Promise<Summary> {
  const t0 = performance.now();
  if (v.shard === undefined) {
    throw new UsageError(
      "Expected --shard i/N or auto with --refine (one refinement part; --refine R needs --hierarchical)",
    );
  }
  const inputs = v.input ?? [];
  if (inputs.length === 0) throw new UsageError("Missing --input (see --help)");
  if (v.centers === undefined) throw new UsageError("Missing --centers with --refine");
  if (v.out === undefined) throw new UsageError("Missing --out (see --help)");
  const spec = parsePartSpec(v.shard, v.shards);
  const { batchRows, metric, f16, variant } = kmeansFlags(v);
  const source = await openRowSource(inputs.map((i) => resolve(i)), {
    ...(v.column === undefined ? {} : { column: v.column }),
  });
  const centers = await readNpy(v.centers);
  if (centers.cols !== source.cols) {
    throw new UsageError(
      `Expected --centers ${v.centers} to have ${source.cols} columns like the rows but found ${centers.cols}`,
    );
  }
  const part = partOf(source, spec);
  const stem = join(v.out, partStem(spec));
  const outputs = [`${stem}.npy`, `${stem}.counts.npy`];
  await refuseInputOverlap(outputs, [...inputs, v.centers]);
  await ensureOutputDir(v.out);
  const k = centers.rows, d = centers.cols;
  const key: ManifestKey = {
    kind: REFINE_PART_KIND,
    shard: { index: spec.index, count: spec.count },
    inputs: await describeInputs(source.slices.map((s) => s.file)),
    params: {
      centers: await sha256File(v.centers),
      k,
      cols: d,
      metric,
      f16,
      variant,
      column: v.column ?? null,
    },
  };
  const tag = `refine part ${spec.index}/${spec.count}`;
  const summary = {
    part: spec.index,
    parts: spec.count,
    rows: part.rows,
    rowStart: part.globalStart,
    k,
    cols: d,
    out: outputs[0]!,
  };
  if (
    await checkOutputs(outputs, key, { overwrite: v.overwrite ?? false, onLog: log }) === "done"
  ) {
    progress(`cluster: ${tag} already done (manifest matches): ${outputs[0]}`);
    return { ...summary, skipped: true };
  }
  const gpu = await createGpu();
  try {
    progress(
      `cluster: ${tag}: rows ${part.globalStart}..${
        part.globalStart + part.rows
      } of ${source.rows} × ${d}, ${k} centers from ${v.centers}, on ${gpu.info.description}`,
    );
    let last = performance.now();
    const p = await partSums(gpu, part, centers, {
      metric,
      f16,
      variant,
      batchRows,
      onLog: (m) => progress(`cluster: ${tag}: ${m}`),
      onBatch: async (done, rows) => {
        await pausePoint(`refine-batch ${stem} ${done}`); // test-only: kill tests stop here
        const now = performance.now();
        if (now - last < 2000 && done < rows) return;
        last = now;
        progress(
          `cluster: ${tag}: ${done} / ${rows} rows (${
            (100 * done / Math.max(rows, 1)).toFixed(1)
          }%)`,
        );
      },
    });
    await commitOutputs(
      [
        { path: outputs[0]!, write: sumsNpyWriter(p.sums, [k, d]) },
        { path: outputs[1]!, write: (path) => writeNpy(path, p.counts, [k]) },
      ],
      key,
      {
        rows: p.rows,
        rowStart: part.globalStart,
        objective: p.objective,
        exponent: p.exponent,
        centersPath: resolve(v.centers),
      },
    );
    const seconds = (performance.now() - t0) / 1000;
    progress(
      `cluster: ${tag} done in ${formatSeconds(seconds)}: objective ${
        p.objective.toPrecision(8)
      } → ${outputs[0]}`,
    );
    return { ...summary, skipped: false, objective: p.objective, exponent: p.exponent, seconds };
  } finally {
    gpu.destroy();
  }
}

// ---- --reduce sums/ ----

async function reduceJob(v: RefineFlagValues): Promise<Summary> {
  const t0 = performance.now();
  for (const f of ["input", "column", "shard", "shards"] as const) {
    if (v[f] !== undefined) throw new UsageError(`Expected no --${f} with --reduce`);
  }
  const out = v.out;
  if (out === undefined) throw new UsageError("Missing --out (see --help)");
  if (!/\.npy$/i.test(out)) {
    throw new UsageError(`Expected --out to end in .npy with --reduce but found ${out}`);
  }
  if (parsePartName(basename(out), ".npy")) {
    throw new UsageError(`Refusing to write the next centers to ${out}, a part file name`);
  }
  const { parts, centers: made } = await loadRefineParts(v.reduce!);
  const centersPath = v.centers ?? made.path;
  let sha: string;
  try {
    sha = await sha256File(centersPath);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new UsageError(
        `Missing the centers ${centersPath} that the parts were made for (give their path with --centers)`,
      );
    }
    throw e;
  }
  if (sha !== made.sha256) {
    throw new UsageError(
      `Expected ${centersPath} to be the centers the parts were made for (sha256 ${
        made.sha256.slice(0, 12)
      }…) but its sha256 is ${sha.slice(0, 12)}…`,
    );
  }
  await refuseInputOverlap([out], [centersPath]);
  const params = parts[0]!.manifest.params;
  const metric = params.metric === "l2" ? "l2" : "cosine";
  const key: ManifestKey = {
    kind: "cluster-refine-reduce",
    shard: null,
    inputs: await describeInputs([centersPath, ...parts.flatMap((p) => [p.file, p.countsFile])]),
    params: {
      centers: sha,
      parts: parts.length,
      k: params.k ?? null,
      cols: params.cols ?? null,
      metric,
    },
  };
  const summary = { parts: parts.length, k: params.k ?? null, cols: params.cols ?? null, out };
  if (await checkOutputs([out], key, { overwrite: v.overwrite ?? false, onLog: log }) === "done") {
    progress(`cluster: reduce already done (manifest matches): ${out}`);
    return { ...summary, skipped: true };
  }
  const centers = await readNpy(centersPath);
  const k = centers.rows, d = centers.cols;
  if (params.k !== k || params.cols !== d) {
    throw new UsageError(
      `Expected ${centersPath} to hold ${params.k} × ${params.cols} centers but found ${k} × ${d}`,
    );
  }
  async function* read(): AsyncGenerator<PartSums> {
    for (const p of parts) {
      const sums = await readSumsNpy(p.file, [k, d]);
      const counts = await readRefineCounts(p, { k });
      yield { sums, counts, exponent: p.exponent, objective: p.objective, rows: p.rows };
    }
  }
  const gpu = await createGpu();
  try {
    progress(
      `cluster: reduce: ${parts.length} parts, ${k} centers × ${d}, on ${gpu.info.description}`,
    );
    const r = await reduceSums(gpu, centers, read(), { metric });
    const empty = r.counts.filter((c) => c === 0).length;
    await commitOutputs([{ path: out, write: (p) => writeNpy(p, r.centroids.data, [k, d]) }], key, {
      objective: r.objective,
      objectiveOf: resolve(centersPath),
      rows: r.rows,
      empty,
      nsplit: r.nsplit,
    });
    const seconds = (performance.now() - t0) / 1000;
    progress(
      `cluster: reduce: objective over all ${r.rows} rows of ${centersPath} ${
        r.objective.toPrecision(8)
      }; ${empty} empty centers (${r.nsplit} re-seeded)`,
    );
    progress(`cluster: reduce done in ${formatSeconds(seconds)} → ${out}`);
    return {
      ...summary,
      skipped: false,
      objective: r.objective,
      objectiveOf: centersPath,
      rows: r.rows,
      empty,
      nsplit: r.nsplit,
      seconds,
    };
  } finally {
    gpu.destroy();
  }
}
