// `deno task cluster` as scale-out jobs: one part of N (`--shard i/N`), the merge of the parts'
// centroids weighted by their member counts (`--merge parts/`), or both in one process
// (`--hierarchical N`). Every output is committed with a manifest (see _manifest.ts), so a
// rerun skips finished work and a killed job is simply resubmitted.
import { createHash } from "node:crypto";
import { basename, dirname, join, resolve } from "node:path";
import { formatSeconds, intFlag, progress, UsageError } from "./_cli.ts";
import {
  checkOutputs,
  commitOutputs,
  describeInputs,
  ensureOutputDir,
  type Json,
  type Manifest,
  manifestDifference,
  type ManifestKey,
  manifestPath,
  readManifest,
  refuseInputOverlap,
  verifyOutputs,
} from "./_manifest.ts";
import { parsePartName, parseShardSpec, partStem, type ShardSpec } from "./_shard.ts";
import { createGpu, type Gpu } from "../gpu/gpu.ts";
import { openRowSource, partOf, type RowSource } from "../data/row_source.ts";
import { readNpyArray, writeNpy } from "../data/npy.ts";
import { kmeans } from "../kmeans/kmeans.ts";
import type {
  KMeansIterationStats,
  KMeansMetric,
  KMeansVariant,
} from "../kmeans/kmeans_options.ts";
import type { Matrix } from "../matrix/matrix.ts";

/** The parseArgs options the job modes add to `deno task cluster`. */
export const CLUSTER_JOB_OPTIONS = {
  shard: { type: "string" },
  shards: { type: "string" },
  merge: { type: "string", multiple: true },
  hierarchical: { type: "string" },
  k1: { type: "string" },
  overwrite: { type: "boolean" },
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
  --hierarchical N      the N parts and the merge in one process (same centers as the jobs)
  --k1 N                centroids per part with --hierarchical (default --k)
  --overwrite           replace outputs made by another run`;

/** Flags of `deno task cluster` that the job modes read (parseArgs values). */
export interface ClusterJobFlags {
  input?: string[] | undefined;
  k?: string | undefined;
  niter?: string | undefined;
  nredo?: string | undefined;
  seed?: string | undefined;
  metric?: string | undefined;
  spherical?: boolean | undefined;
  "no-spherical"?: boolean | undefined;
  f16?: boolean | undefined;
  variant?: string | undefined;
  "max-points-per-centroid"?: string | undefined;
  column?: string | undefined;
  weights?: string | undefined;
  checkpoint?: string | undefined;
  "checkpoint-every"?: string | undefined;
  resume?: boolean | undefined;
  "batch-rows"?: string | undefined;
  out?: string | undefined;
  assignments?: string | undefined;
  json?: boolean | undefined;
  shard?: string | undefined;
  shards?: string | undefined;
  merge?: string[] | undefined;
  hierarchical?: string | undefined;
  k1?: string | undefined;
  overwrite?: boolean | undefined;
}

/** k-means parameters shared by the parts and the merge (all recorded in the manifests). */
interface JobParams {
  /** Rows per batch of the streamed final assignment (not recorded: results do not depend on it). */
  batchRows: number;
  niter: number;
  nredo: number;
  seed: number;
  metric: KMeansMetric;
  f16: boolean;
  variant: KMeansVariant;
  maxPointsPerCentroid: number;
}

/**
 * `--metric cosine|l2` (default cosine). The removed `--spherical`/`--no-spherical` flags are
 * a usage error that names the `--metric` equivalent.
 */
export function metricFlag(
  v: Pick<ClusterJobFlags, "metric" | "spherical" | "no-spherical">,
): KMeansMetric {
  if (v.spherical !== undefined || v["no-spherical"] !== undefined) {
    const flag = v["no-spherical"] !== undefined ? "--no-spherical" : "--spherical";
    const now = flag === "--spherical" ? "--metric cosine" : "--metric l2";
    throw new UsageError(`Expected --metric cosine|l2 but found ${flag} (removed; use ${now})`);
  }
  const metric = v.metric ?? "cosine";
  if (metric !== "cosine" && metric !== "l2") {
    throw new UsageError(`Expected --metric to be cosine or l2 but found ${metric}`);
  }
  return metric;
}

function jobParams(v: ClusterJobFlags): JobParams {
  const metric = metricFlag(v);
  const variant = (v.variant ?? "auto") as KMeansVariant;
  if (!["auto", "registers", "tiled"].includes(variant)) {
    throw new UsageError(`Expected --variant to be auto, registers or tiled but found ${variant}`);
  }
  return {
    batchRows: intFlag("batch-rows", v["batch-rows"], 65536, 1),
    niter: intFlag("niter", v.niter, 25, 0),
    nredo: intFlag("nredo", v.nredo, 1, 1),
    seed: intFlag("seed", v.seed, 1234, 0),
    metric,
    f16: v.f16 ?? false,
    variant,
    maxPointsPerCentroid: intFlag(
      "max-points-per-centroid",
      v["max-points-per-centroid"],
      256,
      1,
    ),
  };
}

function paramsJson(p: JobParams, extra: { [key: string]: Json }): { [key: string]: Json } {
  const { batchRows: _, ...recorded } = p;
  return { ...extra, ...recorded };
}

function refuse(v: ClusterJobFlags, mode: string, flags: (keyof ClusterJobFlags)[]): void {
  for (const f of flags) {
    if (v[f] !== undefined) throw new UsageError(`Expected no --${f} with ${mode}`);
  }
}

/**
 * Runs `deno task cluster` in a job mode when `--shard`, `--merge` or `--hierarchical` is
 * given; returns false (nothing done) otherwise.
 */
export async function clusterJob(v: ClusterJobFlags): Promise<boolean> {
  const modes = [
    v.shard !== undefined && "--shard",
    v.merge !== undefined && "--merge",
    v.hierarchical !== undefined && "--hierarchical",
  ].filter((m): m is string => typeof m === "string");
  if (v.shards !== undefined && v.shard === undefined) {
    throw new UsageError("Expected --shards only with --shard auto");
  }
  if (modes.length === 0) {
    for (const f of ["k1", "overwrite"] as const) {
      if (v[f] !== undefined) {
        throw new UsageError(`Expected --${f} only with --shard, --merge or --hierarchical`);
      }
    }
    return false;
  }
  if (modes.length > 1) {
    throw new UsageError(
      `Expected one of --shard, --merge and --hierarchical but found ${modes.join(" and ")}`,
    );
  }
  if (v.assignments !== undefined) {
    throw new UsageError(`Expected no --assignments with ${modes[0]} (use deno task assign)`);
  }
  // Jobs checkpoint and resume by themselves (<out>.<hash>.ckpt); part rows are unweighted.
  refuse(v, modes[0]!, ["weights", "checkpoint", "checkpoint-every", "resume"]);
  if (v.k === undefined) throw new UsageError("Missing --k (see --help)");
  if (v.out === undefined) throw new UsageError("Missing --out (see --help)");
  const k = intFlag("k", v.k, 0, 1);
  const params = jobParams(v);
  const overwrite = v.overwrite ?? false;
  let summary: { [key: string]: Json };
  if (v.shard !== undefined) {
    refuse(v, "--shard", ["k1"]);
    const shard = parseShardSpec(v.shard, v.shards);
    const inputs = v.input ?? [];
    if (inputs.length === 0) throw new UsageError("Missing --input (see --help)");
    summary = await clusterPartJob(inputs, v.column, k, shard, v.out, params, overwrite);
  } else if (v.merge !== undefined) {
    refuse(v, "--merge", ["input", "column", "k1"]);
    summary = await mergeJob(v.merge, k, v.out, params, overwrite);
  } else {
    const n = intFlag("hierarchical", v.hierarchical, 0, 1);
    const k1 = intFlag("k1", v.k1, k, 1);
    const inputs = v.input ?? [];
    if (inputs.length === 0) throw new UsageError("Missing --input (see --help)");
    summary = await hierarchicalJob(inputs, v.column, k, k1, n, v.out, params, overwrite);
  }
  if (v.json) console.log(JSON.stringify(summary));
  return true;
}

// ---- the computations, shared by the jobs and --hierarchical ----

/** Centroids and member counts of one part. */
interface PartResult {
  centroids: Matrix;
  counts: Uint32Array;
  objective: number;
}

function kmeansLog(prefix: string) {
  let t = 0;
  return {
    onLog: (m: string) => progress(`${prefix}: ${m}`),
    onIteration: (s: KMeansIterationStats) => {
      const now = performance.now();
      if (now - t < 1000 && s.iteration > 0) return;
      t = now;
      progress(
        `${prefix}: iter ${String(s.iteration).padStart(3)}  objective ${
          s.objective.toPrecision(8)
        }  time ${formatSeconds(s.time)}  ETA ${
          formatSeconds(s.eta)
        }  empty clusters split ${s.nsplit}`,
      );
    },
  };
}

/** Clusters the rows of one part into min(k1, rows) centroids and counts their members. */
async function clusterPart(
  gpu: Gpu,
  part: RowSource,
  k1: number,
  p: JobParams,
  label: string,
  checkpoint?: string,
): Promise<PartResult> {
  const d = part.cols;
  if (part.rows === 0) {
    progress(`${label}: no rows, writing 0 centroids`);
    return {
      centroids: { data: new Float32Array(0), rows: 0, cols: d },
      counts: new Uint32Array(0),
      objective: 0,
    };
  }
  const k = Math.min(k1, part.rows);
  if (k < k1) progress(`${label}: ${part.rows} rows < k = ${k1}, keeping each row as a centroid`);
  const r = await kmeans(gpu, part, {
    k,
    ...p,
    ...kmeansLog(label),
    ...(checkpoint ? { checkpoint: { path: checkpoint }, resume: true } : {}),
  });
  const counts = new Uint32Array(k);
  for (const a of r.assignments) counts[a]!++;
  return { centroids: r.centroids, counts, objective: r.objective };
}

/** Counts the part centroids with members; k must not exceed them. */
function checkMergeK(
  parts: { counts: Uint32Array }[],
  k: number,
): { points: number; members: number } {
  let points = 0, members = 0;
  for (const part of parts) for (const c of part.counts) if (c > 0) points++, members += c;
  if (k > points) {
    throw new RangeError(
      `Expected --k to be at most the number of part centroids with members (${points}) but found ${k}`,
    );
  }
  return { points, members };
}

/**
 * Weighted k-means of the parts' centroids (weight = member count) into k centers. Centroids
 * without members are left out; the order is the parts' order, so the jobs and
 * --hierarchical give the same centers.
 */
async function mergeCentroids(
  gpu: Gpu,
  parts: { centroids: Matrix; counts: Uint32Array }[],
  k: number,
  p: JobParams,
  checkpoint?: string,
): Promise<{ centers: Matrix; objective: number; points: number; members: number }> {
  const d = parts[0]!.centroids.cols;
  const { points, members } = checkMergeK(parts, k);
  const data = new Float32Array(points * d);
  const weights = new Float32Array(points);
  let at = 0;
  for (const part of parts) {
    part.counts.forEach((c, i) => {
      if (c === 0) return;
      data.set(part.centroids.data.subarray(i * d, (i + 1) * d), at * d);
      weights[at++] = c;
    });
  }
  progress(`cluster: merge: ${points} part centroids standing for ${members} rows → k = ${k}`);
  const r = await kmeans(gpu, { data, rows: points, cols: d }, {
    k,
    ...p,
    weights,
    ...kmeansLog("cluster: merge"),
    ...(checkpoint ? { checkpoint: { path: checkpoint }, resume: true } : {}),
  });
  return { centers: r.centroids, objective: r.objective, points, members };
}

// ---- --shard i/N ----

/** Opens the inputs by absolute path, so that parts and checkpoints name files alike. */
function openSource(inputs: string[], column: string | undefined): Promise<RowSource> {
  const abs = inputs.map((i) => resolve(i));
  return openRowSource(abs, column === undefined ? {} : { column });
}

/**
 * The k-means checkpoint of a job: `<stem>.<hash of the manifest key>.ckpt`, so that only the
 * same run resumes from it. Checkpoints of other runs of the same output are removed.
 */
async function jobCheckpoint(stem: string, key: ManifestKey): Promise<string> {
  const hash = createHash("sha256").update(JSON.stringify(key)).digest("hex").slice(0, 12);
  const path = `${stem}.${hash}.ckpt`;
  const dir = dirname(stem), prefix = basename(stem) + ".";
  for (const e of Deno.readDirSync(dir)) {
    if (!e.isFile || !e.name.startsWith(prefix)) continue;
    const m = /\.[0-9a-f]{12}\.ckpt(\.tmp-.*)?$/.exec(e.name);
    const file = join(dir, e.name);
    if (!m || file === path) continue;
    await Deno.remove(file).catch(() => {});
    if (m[1]) {
      progress(`cluster: removed stale temporary file ${file} (left by an interrupted run)`);
    }
  }
  return path;
}

async function clusterPartJob(
  inputs: string[],
  column: string | undefined,
  k1: number,
  shard: ShardSpec,
  outDir: string,
  p: JobParams,
  overwrite: boolean,
): Promise<{ [key: string]: Json }> {
  const t0 = performance.now();
  const tag = `part ${shard.index}/${shard.count}`;
  const source = await openSource(inputs, column);
  const part = partOf(source, { index: shard.index, count: shard.count });
  const stem = join(outDir, partStem(shard.index, shard.count));
  const outputs = [`${stem}.npy`, `${stem}.counts.npy`];
  await refuseInputOverlap(outputs, inputs);
  await ensureOutputDir(outDir);
  const key: ManifestKey = {
    kind: "cluster-part",
    shard: { index: shard.index, count: shard.count },
    inputs: await describeInputs(source.slices.map((s) => s.file)),
    params: paramsJson(p, { k1, column: column ?? null }),
  };
  const summary = {
    part: shard.index,
    parts: shard.count,
    rows: part.rows,
    rowStart: part.globalStart,
    cols: part.cols,
    k1,
    out: outputs[0]!,
  };
  const onLog = (line: string) => progress(`cluster: ${line}`);
  if (await checkOutputs(outputs, key, { overwrite, onLog }) === "done") {
    progress(`cluster: ${tag} already done (manifest matches): ${outputs[0]}`);
    return { ...summary, skipped: true };
  }
  const gpu = await createGpu();
  try {
    progress(
      `cluster: ${tag}: rows ${part.globalStart}..${
        part.globalStart + part.rows
      } of ${source.rows} × ${source.cols}, k = ${k1}, on ${gpu.info.description}`,
    );
    const checkpoint = await jobCheckpoint(stem, key);
    const r = await clusterPart(gpu, part, k1, p, `cluster: ${tag}`, checkpoint);
    await commitPart(outputs, key, r, { rows: part.rows, rowStart: part.globalStart });
    await Deno.remove(checkpoint).catch(() => {});
    const seconds = (performance.now() - t0) / 1000;
    progress(
      `cluster: ${tag} done in ${
        formatSeconds(seconds)
      }: ${r.centroids.rows} centroids, objective ${r.objective.toPrecision(8)} → ${outputs[0]}`,
    );
    return { ...summary, skipped: false, objective: r.objective, seconds };
  } finally {
    gpu.destroy();
  }
}

async function commitPart(
  outputs: string[],
  key: ManifestKey,
  r: PartResult,
  info: { [key: string]: Json },
): Promise<void> {
  await commitOutputs(
    [
      {
        path: outputs[0]!,
        write: (tmp) => writeNpy(tmp, r.centroids.data, [r.centroids.rows, r.centroids.cols]),
      },
      { path: outputs[1]!, write: (tmp) => writeNpy(tmp, r.counts, [r.counts.length]) },
    ],
    key,
    { ...info, objective: r.objective, centroids: r.centroids.rows },
  );
}

// ---- --merge parts/ ----

/** A validated part of a merge: its files, manifest, centroids and counts. */
interface LoadedPart {
  file: string;
  countsFile: string;
  manifest: Manifest;
  centroids: Matrix;
  counts: Uint32Array;
}

/** Finds, validates and reads every part in `dirs`; refuses missing, duplicated or mismatched parts. */
async function loadParts(dirs: string[]): Promise<LoadedPart[]> {
  const found: { file: string; index: number; count: number }[] = [];
  for (const dir of dirs) {
    let entries: Deno.DirEntry[];
    try {
      entries = [...Deno.readDirSync(dir)];
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) {
        throw new UsageError(`Expected --merge ${dir} to be a directory of parts but found none`);
      }
      if (e instanceof Error && /not a directory/i.test(e.message)) {
        throw new UsageError(`Expected --merge ${dir} to be a directory of parts but found a file`);
      }
      throw e;
    }
    const names = entries.filter((e) => e.isFile).map((e) => e.name).sort();
    for (const name of names) {
      const pn = parsePartName(name, ".npy");
      if (pn) found.push({ file: join(dir, name), ...pn });
    }
  }
  if (found.length === 0) {
    throw new UsageError(
      `Expected part-<i>-of-<N>.npy files in ${dirs.join(", ")} but found none`,
    );
  }
  const count = found[0]!.count;
  const byIndex = new Map<number, string>();
  for (const f of found) {
    if (f.count !== count) {
      throw new UsageError(
        `Mismatched part ${f.file}: it is one of ${f.count} parts, but ${
          found[0]!.file
        } is one of ${count}`,
      );
    }
    if (f.index >= f.count) {
      throw new UsageError(`Mismatched part ${f.file}: part ${f.index} of ${f.count} cannot exist`);
    }
    const other = byIndex.get(f.index);
    if (other !== undefined) {
      throw new UsageError(`Duplicated part ${f.index} of ${count}: ${other} and ${f.file}`);
    }
    byIndex.set(f.index, f.file);
  }
  for (let i = 0; i < count; i++) {
    if (!byIndex.has(i)) {
      throw new UsageError(
        `Missing part ${
          join(dirs[0]!, partStem(i, count))
        }.npy: found ${byIndex.size} of ${count} parts`,
      );
    }
  }
  const parts: LoadedPart[] = [];
  let first: LoadedPart | undefined;
  for (let i = 0; i < count; i++) {
    const file = byIndex.get(i)!;
    const base = file.replace(/\.npy$/, "");
    const countsFile = `${base}.counts.npy`;
    const mpath = manifestPath(file);
    for (const needed of [countsFile, mpath]) {
      try {
        await Deno.stat(needed);
      } catch (e) {
        if (e instanceof Deno.errors.NotFound) {
          throw new UsageError(`Missing ${needed} (part ${i} of ${count} is incomplete)`);
        }
        throw e;
      }
    }
    let manifest: Manifest;
    try {
      manifest = await readManifest(mpath);
    } catch (e) {
      throw new UsageError(`Mismatched part ${file}: ${(e as Error).message}`);
    }
    if (
      manifest.kind !== "cluster-part" || manifest.shard?.index !== i ||
      manifest.shard?.count !== count
    ) {
      throw new UsageError(
        `Mismatched part ${file}: its manifest ${mpath} describes ${manifest.kind} ${
          JSON.stringify(manifest.shard)
        }, not part ${i} of ${count}`,
      );
    }
    const names = manifest.outputs.map((o) => o.name);
    if (!names.includes(basename(file)) || !names.includes(basename(countsFile))) {
      throw new UsageError(
        `Mismatched part ${file}: its manifest ${mpath} lists ${names.join(", ")}`,
      );
    }
    const bad = await verifyOutputs(mpath, manifest);
    if (bad !== undefined) throw new UsageError(`Mismatched part ${file}: ${bad}`);
    const c = await readNpyArray(file);
    const n = await readNpyArray(countsFile);
    if (!(c.data instanceof Float32Array) || c.shape.length !== 2) {
      throw new UsageError(`Mismatched part ${file}: expected a float32 matrix of centroids`);
    }
    if (!(n.data instanceof Uint32Array) || n.shape.length !== 1 || n.shape[0] !== c.shape[0]) {
      throw new UsageError(
        `Mismatched part ${countsFile}: expected ${c.shape[0]} uint32 counts (one per centroid)`,
      );
    }
    const loaded: LoadedPart = {
      file,
      countsFile,
      manifest,
      centroids: { data: c.data, rows: c.shape[0]!, cols: c.shape[1]! },
      counts: n.data,
    };
    if (first) {
      if (loaded.centroids.cols !== first.centroids.cols) {
        throw new UsageError(
          `Mismatched part ${file}: ${loaded.centroids.cols} columns, but ${first.file} has ${first.centroids.cols}`,
        );
      }
      const diff = manifestDifference(manifest, { ...first.manifest, shard: manifest.shard });
      if (diff !== undefined) {
        throw new UsageError(`Mismatched part ${file}: ${diff} (compared with ${first.file})`);
      }
    } else {
      // The parts were made by this toolkit version (same check as a rerun's).
      const diff = manifestDifference(manifest, manifest);
      if (diff !== undefined) throw new UsageError(`Mismatched part ${file}: ${diff}`);
      first = loaded;
    }
    parts.push(loaded);
  }
  return parts;
}

async function mergeJob(
  dirs: string[],
  k: number,
  out: string,
  p: JobParams,
  overwrite: boolean,
): Promise<{ [key: string]: Json }> {
  const t0 = performance.now();
  if (!/\.npy$/i.test(out)) {
    throw new UsageError(`Expected --out to end in .npy with --merge but found ${out}`);
  }
  if (parsePartName(basename(out), ".npy")) {
    throw new UsageError(`Refusing to write the merged centers to ${out}, a part file name`);
  }
  const parts = await loadParts(dirs);
  checkMergeK(parts, k);
  const files = parts.flatMap((part) => [part.file, part.countsFile]);
  const key: ManifestKey = {
    kind: "cluster-merge",
    shard: null,
    inputs: await describeInputs(files),
    params: paramsJson(p, { k, parts: parts.length }),
  };
  const summary = { k, parts: parts.length, out };
  const onLog = (line: string) => progress(`cluster: ${line}`);
  if (await checkOutputs([out], key, { overwrite, onLog }) === "done") {
    progress(`cluster: merge already done (manifest matches): ${out}`);
    return { ...summary, skipped: true };
  }
  const gpu = await createGpu();
  try {
    const checkpoint = await jobCheckpoint(out.replace(/\.npy$/i, ""), key);
    const r = await mergeCentroids(gpu, parts, k, p, checkpoint);
    await commitCenters(out, key, r.centers, {
      objective: r.objective,
      points: r.points,
      rows: r.members,
      source: parts[0]!.manifest.inputs as unknown as Json,
    });
    await Deno.remove(checkpoint).catch(() => {});
    const seconds = (performance.now() - t0) / 1000;
    progress(`cluster: merge done in ${formatSeconds(seconds)} → ${out}`);
    return { ...summary, skipped: false, objective: r.objective, seconds };
  } finally {
    gpu.destroy();
  }
}

async function commitCenters(
  out: string,
  key: ManifestKey,
  centers: Matrix,
  info: { [key: string]: Json },
): Promise<void> {
  await commitOutputs(
    [{
      path: out,
      write: (tmp) => writeNpy(tmp, centers.data, [centers.rows, centers.cols]),
    }],
    key,
    info,
  );
}

// ---- --hierarchical N ----

async function hierarchicalJob(
  inputs: string[],
  column: string | undefined,
  k: number,
  k1: number,
  count: number,
  out: string,
  p: JobParams,
  overwrite: boolean,
): Promise<{ [key: string]: Json }> {
  const t0 = performance.now();
  if (!/\.npy$/i.test(out)) {
    throw new UsageError(`Expected --out to end in .npy with --hierarchical but found ${out}`);
  }
  await refuseInputOverlap([out], inputs);
  const source = await openSource(inputs, column);
  const key: ManifestKey = {
    kind: "cluster-hierarchical",
    shard: null,
    inputs: await describeInputs(source.slices.map((s) => s.file)),
    params: paramsJson(p, { k, k1, parts: count, column: column ?? null }),
  };
  if (k > Math.min(source.rows, count * k1)) {
    throw new RangeError(
      `Expected --k to be at most min(rows, N × k1) = ${
        Math.min(source.rows, count * k1)
      } but found ${k}`,
    );
  }
  const summary = { k, k1, parts: count, rows: source.rows, cols: source.cols, out };
  const onLog = (line: string) => progress(`cluster: ${line}`);
  if (await checkOutputs([out], key, { overwrite, onLog }) === "done") {
    progress(`cluster: hierarchical k-means already done (manifest matches): ${out}`);
    return { ...summary, skipped: true };
  }
  const gpu = await createGpu();
  try {
    progress(
      `cluster: hierarchical: ${source.rows} × ${source.cols} rows in ${count} parts → ${k1} centroids each → k = ${k}, on ${gpu.info.description}`,
    );
    const parts: PartResult[] = [];
    for (let i = 0; i < count; i++) {
      const tag = `part ${i}/${count}`;
      const part = partOf(source, { index: i, count });
      parts.push(await clusterPart(gpu, part, k1, p, `cluster: ${tag}`));
      const s = (performance.now() - t0) / 1000;
      progress(
        `cluster: ${tag} done, ${formatSeconds(s)} elapsed, ETA ${
          formatSeconds((s / (i + 1)) * (count - i - 1))
        } for the remaining parts`,
      );
    }
    const r = await mergeCentroids(gpu, parts, k, p);
    await commitCenters(out, key, r.centers, {
      objective: r.objective,
      points: r.points,
      rows: r.members,
    });
    const seconds = (performance.now() - t0) / 1000;
    progress(`cluster: hierarchical k-means done in ${formatSeconds(seconds)} → ${out}`);
    return { ...summary, skipped: false, objective: r.objective, seconds };
  } finally {
    gpu.destroy();
  }
}
