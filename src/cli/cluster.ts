/**
 * `deno task cluster`: spherical k-means of embedding files on the GPU.
 *
 * @example Usage
 * ```sh
 * deno task cluster --input embeddings/ --k 1000 --out centroids.npy --assignments assign.npy
 * deno task cluster --input shards/ --k 1000 --weights w.npy --checkpoint km.ckpt --resume --out c.npy
 * ```
 *
 * @module
 */
import { parseArgs } from "node:util";
import {
  formatSeconds,
  intFlag,
  joinNegativeValues,
  logTo,
  noticeInputDirectories,
  progress,
  runCli,
  UsageError,
} from "./_cli.ts";
import { KMEANS_FLAG_OPTIONS, KMEANS_FLAGS_HELP, kmeansFlags } from "./_kmeans_flags.ts";
import {
  assignmentText,
  clusterSizes,
  convergedIterations,
  kmeansLog,
} from "./_kmeans_progress.ts";
import { checkOutputFiles, type OutputFile } from "../jobs/output_paths.ts";
import { type AtomicFile, atomicWrites, openFileAtomic } from "../fs/atomic.ts";
import { createGpu } from "../gpu/gpu.ts";
import { openRowSource } from "../data/row_source.ts";
import { peakRssBytes } from "./_rss.ts";
import { encodeNpyHeader, writeNpy } from "../data/npy.ts";
import { kmeans } from "../kmeans/kmeans.ts";
import { DEFAULT_KMEANS_OPTIONS } from "../kmeans/kmeans_options.ts";
import { CLUSTER_JOB_OPTIONS, CLUSTER_JOBS_HELP, clusterJob } from "./_cluster_jobs.ts";
import { DEVICE_FLAG_OPTIONS, deviceHelp, gpuOptions } from "./_device_flag.ts";
import { refineArgs } from "./_cluster_refine.ts";

const HELP = `Usage: mlcd cluster --input <file|dir>... --k N [options]

Clusters embedding rows (.npy float32/float16/float64, Parquet or Arrow IPC list column)
with k-means on the GPU (--metric cosine by default: spherical k-means, unit-norm
centroids, as MLCD uses).
Out of core: the iterations run on a seeded sample of k × max-points-per-centroid rows
gathered from the files, and the final assignment streams every row in batches, so
memory holds the sample, one batch and the centroids, whatever the number of rows.

Options:
  --input PATH          embedding file or directory (repeatable; required)
  --k N                 number of centroids (required, 1 ≤ N ≤ rows)
${KMEANS_FLAGS_HELP}
  --column NAME         Parquet/Arrow column holding the embeddings
  --weights PATH        row weights (1-D .npy, one per row): weighted means and objective
  --checkpoint PATH     write the state here every few iterations (atomically)
  --checkpoint-every N  iterations between checkpoints (default ${DEFAULT_KMEANS_OPTIONS.checkpointEvery})
  --resume              continue from --checkpoint when it exists (same result as a run
                        that was never interrupted); starts afresh when it does not
  --batch-rows N        rows per batch of the streamed final assignment (default ${DEFAULT_KMEANS_OPTIONS.batchRows})
  --out PATH            write centroids (k × d float32 .npy)
  --assignments PATH    write each row's centroid (n uint32 .npy)
${deviceHelp(24)}
  --json                print a JSON summary on stdout
  --help                show this help
${CLUSTER_JOBS_HELP}

Progress (iteration, objective, time, ETA, empty clusters split) goes to stderr.
Bad input prints one line on stderr and exits with code 2. Outputs are checked before
the work, never overwrite an input, and appear together or not at all.`;

/** The flags of `deno task cluster` as parseArgs gives them. */
type ClusterValues = Parameters<typeof clusterJob>[0];

/** `mlcd cluster`'s entry point: parses `args` (see `--help`) and runs the command. */
export async function main(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args: refineArgs(joinNegativeValues(args)),
    options: {
      input: { type: "string", multiple: true },
      k: { type: "string" },
      ...KMEANS_FLAG_OPTIONS,
      column: { type: "string" },
      weights: { type: "string" },
      checkpoint: { type: "string" },
      "checkpoint-every": { type: "string" },
      resume: { type: "boolean" },
      out: { type: "string" },
      assignments: { type: "string" },
      json: { type: "boolean" },
      ...DEVICE_FLAG_OPTIONS,
      help: { type: "boolean", short: "h" },
      ...CLUSTER_JOB_OPTIONS,
    },
    strict: true,
  });
  if (values.help) {
    console.log(HELP);
    return;
  }
  if (await clusterJob(values)) return;
  await clusterFlat(values);
}

/**
 * The one-process k-means: flags, output checks, `kmeans()` over the files, then the
 * centroids and the streamed assignments committed together.
 */
async function clusterFlat(values: ClusterValues): Promise<void> {
  const inputs = values.input ?? [];
  if (inputs.length === 0) throw new UsageError("Missing --input (see --help)");
  if (values.k === undefined) throw new UsageError("Missing --k (see --help)");
  const k = intFlag("k", values.k, 0, 1);
  const params = kmeansFlags(values);
  const checkpointEvery = intFlag(
    "checkpoint-every",
    values["checkpoint-every"],
    DEFAULT_KMEANS_OPTIONS.checkpointEvery,
    1,
  );
  if (values.resume && !values.checkpoint) {
    throw new UsageError("Expected --checkpoint PATH with --resume");
  }
  const outputs: OutputFile[] = [];
  if (values.out !== undefined) outputs.push({ flag: "--out", path: values.out });
  if (values.assignments !== undefined) {
    outputs.push({ flag: "--assignments", path: values.assignments });
  }
  if (values.checkpoint !== undefined) {
    outputs.push({ flag: "--checkpoint", path: values.checkpoint });
  }
  const read = values.weights === undefined ? inputs : [...inputs, values.weights];
  await checkOutputFiles(outputs, read, {
    writer: { command: "cluster" },
    onLog: logTo("cluster"),
  });
  await noticeInputDirectories("cluster", inputs);
  const t0 = performance.now();
  // Headers only: the rows are read by kmeans() (a sample, then streamed batches).
  const x = await openRowSource(inputs, {
    ...(values.column ? { column: values.column } : {}),
    onFile: (file, _rows, dtype) => {
      if (dtype === "f8") progress(`cluster: ${file} holds float64; converted to float32`);
    },
  });
  if (x.rows === 0) {
    throw new RangeError(
      `Expected ${x.slices.map((s) => s.file).join(", ")} to hold at least one row but found none`,
    );
  }
  const gpu = await createGpu(gpuOptions(values));
  // The header is printed with the first progress line, after kmeans() validated the input.
  let header = false;
  const say = (line: string) => {
    if (!header) {
      header = true;
      progress(
        `cluster: ${x.rows} × ${x.cols} rows, k = ${k}, ${params.metric}, on ${gpu.info.description}`,
      );
    }
    progress(line);
  };
  const sink = values.assignments === undefined
    ? null
    : await assignmentsSink(values.assignments, x.rows);
  const result = await kmeans(gpu, x, {
    k,
    ...params,
    keepAssignments: false,
    ...(sink ? { onAssignments: sink.onAssignments } : {}),
    ...(values.column ? { column: values.column } : {}),
    ...(values.weights ? { weights: values.weights } : {}),
    ...(values.checkpoint
      ? { checkpoint: { path: values.checkpoint, every: checkpointEvery } }
      : {}),
    ...(values.resume ? { resume: true } : {}),
    onLog: kmeansLog((m) => say(`cluster: ${m}`)),
    onIteration: convergedIterations(say, "cluster", "cluster"),
  }).catch((e) => sink?.fail(e) ?? Promise.reject(e));
  // Both outputs or neither.
  await atomicWrites(async () => {
    if (values.out) {
      await writeNpy(values.out, result.centroids.data, [
        result.centroids.rows,
        result.centroids.cols,
      ]);
    }
    await sink?.commit();
  }).catch((e) => sink?.fail(e) ?? Promise.reject(e));
  const seconds = (performance.now() - t0) / 1000;
  const kern = result.kernel;
  progress(
    `cluster: objective ${result.objective.toPrecision(8)} in ${formatSeconds(seconds)} ` +
      `(assignment kernel ${kern.variant}${
        kern.variant === "registers" ? `×${kern.rows}` : ""
      }, ${kern.source}; assignment ${assignmentText(result.assignment)})`,
  );
  const sizes = clusterSizes(result.counts);
  if (sizes) progress(`cluster: ${sizes.line}`);
  if (values.json) {
    console.log(JSON.stringify({
      rows: x.rows,
      cols: x.cols,
      k,
      niter: params.niter,
      nredo: params.nredo,
      metric: params.metric,
      assign: params.assign,
      nprobe: params.nprobe ?? null,
      objective: result.objective,
      iterations: result.stats.length,
      nsplit: result.stats.reduce((a, s) => a + s.nsplit, 0),
      seconds,
      initSeconds: result.initSeconds,
      stats: result.stats.map((s) => ({
        iteration: s.iteration,
        objective: s.objective,
        time: s.time,
      })),
      peakRssBytes: peakRssBytes(),
      adapter: gpu.info.description,
      kernel: result.kernel,
      assignment: result.assignment,
      assignmentCheck: result.assignmentCheck,
      clusterSizes: sizes?.stats ?? null,
      out: values.out ?? null,
      assignments: values.assignments ?? null,
    }));
  }
  gpu.destroy();
}

/**
 * `--assignments` streams to a temporary file beside it, batch by batch as the final pass
 * computes them, so that n × 4 bytes are never held in memory; it is renamed into place with
 * `--out` (`commit`, which checks that every row came), or removed when the run fails (`fail`).
 */
async function assignmentsSink(path: string, rows: number): Promise<{
  onAssignments: (a: Uint32Array, rowStart: number) => Promise<void>;
  commit: () => Promise<void>;
  fail: (error: unknown) => Promise<never>;
}> {
  const file: AtomicFile = await openFileAtomic(path);
  const fail = async (error: unknown): Promise<never> => {
    await file.abort();
    throw error;
  };
  let written = 0;
  await file.write(encodeNpyHeader("u4", [rows])).catch(fail);
  return {
    onAssignments: async (a, rowStart) => {
      if (rowStart !== written) {
        throw new Error(`Expected assignments from row ${written} but got row ${rowStart}`);
      }
      await file.write(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
      written += a.length;
    },
    commit: async () => {
      if (written !== rows) {
        throw new Error(`Expected ${rows} assignments but the final pass gave ${written}`);
      }
      await file.commit();
    },
    fail,
  };
}

if (import.meta.main) await runCli("cluster", main);
