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
  progress,
  runCli,
  UsageError,
} from "./_cli.ts";
import { checkOutputFiles, type OutputFile } from "./_paths.ts";
import { atomicWrites, openFileAtomic } from "../data/atomic.ts";
import { createGpu } from "../gpu/gpu.ts";
import { openRowSource } from "../data/row_source.ts";
import { peakRssBytes } from "./_rss.ts";
import { encodeNpyHeader, writeNpy } from "../data/npy.ts";
import { kmeans } from "../kmeans/kmeans.ts";
import type { KMeansVariant } from "../kmeans/kmeans_options.ts";
import { CLUSTER_JOB_OPTIONS, CLUSTER_JOBS_HELP, clusterJob, metricFlag } from "./_cluster_jobs.ts";

const HELP = `Usage: deno task cluster --input <file|dir>... --k N [options]

Clusters embedding rows (.npy float32/float16/float64, Arrow IPC) with k-means on the GPU
(--metric cosine by default: spherical k-means, unit-norm centroids, as MLCD uses).
Out of core: the iterations run on a seeded sample of k × max-points-per-centroid rows
gathered from the files, and the final assignment streams every row in batches, so
memory holds the sample, one batch and the centroids, whatever the number of rows.

Options:
  --input PATH          embedding file or directory (repeatable; required)
  --k N                 number of centroids (required, 1 ≤ N ≤ rows)
  --niter N             Lloyd iterations (default 25)
  --nredo N             runs with different seeds, best kept (default 1)
  --seed N              random seed (default 1234)
  --metric M            cosine (spherical k-means, default) | l2 (plain k-means on
                        squared L2 distance)
  --f16                 store rows and centroids as packed f16 (f32 accumulation)
  --variant V           assignment kernel: auto | registers | tiled (default auto)
  --max-points-per-centroid N   train on a sample of k×N rows (default 256)
  --column NAME         Parquet/Arrow column holding the embeddings
  --weights PATH        row weights (1-D .npy, one per row): weighted means and objective
  --checkpoint PATH     write the state here every few iterations (atomically)
  --checkpoint-every N  iterations between checkpoints (default 5)
  --resume              continue from --checkpoint when it exists (same result as a run
                        that was never interrupted); starts afresh when it does not
  --batch-rows N        rows per batch of the streamed final assignment (default 65536)
  --out PATH            write centroids (k × d float32 .npy)
  --assignments PATH    write each row's centroid (n uint32 .npy)
  --json                print a JSON summary on stdout
  --help                show this help
${CLUSTER_JOBS_HELP}

Progress (iteration, objective, time, ETA, empty clusters split) goes to stderr.
Bad input prints one line on stderr and exits with code 2. Outputs are checked before
the work, never overwrite an input, and appear together or not at all.`;

async function main(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args: joinNegativeValues(args),
    options: {
      input: { type: "string", multiple: true },
      k: { type: "string" },
      niter: { type: "string" },
      nredo: { type: "string" },
      seed: { type: "string" },
      metric: { type: "string" },
      spherical: { type: "boolean" }, // removed: a usage error naming --metric
      "no-spherical": { type: "boolean" },
      f16: { type: "boolean" },
      variant: { type: "string" },
      "max-points-per-centroid": { type: "string" },
      column: { type: "string" },
      weights: { type: "string" },
      checkpoint: { type: "string" },
      "checkpoint-every": { type: "string" },
      resume: { type: "boolean" },
      "batch-rows": { type: "string" },
      out: { type: "string" },
      assignments: { type: "string" },
      json: { type: "boolean" },
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
  const inputs = values.input ?? [];
  if (inputs.length === 0) throw new UsageError("Missing --input (see --help)");
  if (values.k === undefined) throw new UsageError("Missing --k (see --help)");
  const metric = metricFlag(values);
  const k = intFlag("k", values.k, 0, 1);
  const niter = intFlag("niter", values.niter, 25, 0);
  const nredo = intFlag("nredo", values.nredo, 1, 1);
  const seed = intFlag("seed", values.seed, 1234, 0);
  const maxPointsPerCentroid = intFlag(
    "max-points-per-centroid",
    values["max-points-per-centroid"],
    256,
    1,
  );
  const variant = (values.variant ?? "auto") as KMeansVariant;
  if (!["auto", "registers", "tiled"].includes(variant)) {
    throw new UsageError(`Expected --variant to be auto, registers or tiled but found ${variant}`);
  }
  const checkpointEvery = intFlag("checkpoint-every", values["checkpoint-every"], 5, 1);
  const batchRows = intFlag("batch-rows", values["batch-rows"], 65536, 1);
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
  await checkOutputFiles(
    "cluster",
    outputs,
    values.weights === undefined ? inputs : [...inputs, values.weights],
  );
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
  const gpu = await createGpu();
  // The header is printed with the first progress line, after kmeans() validated the input.
  let header = false;
  const say = (line: string) => {
    if (!header) {
      header = true;
      progress(
        `cluster: ${x.rows} × ${x.cols} rows, k = ${k}, ${metric}, on ${gpu.info.description}`,
      );
    }
    progress(line);
  };
  // --assignments streams to a temporary file beside it, batch by batch as the final pass
  // computes them, so that n × 4 bytes are never held in memory; it is renamed into place
  // with --out, or removed when the run fails.
  const sink = values.assignments === undefined ? null : await openFileAtomic(values.assignments);
  const fail = async (error: unknown): Promise<never> => {
    await sink?.abort();
    throw error;
  };
  let written = 0;
  const onAssignments = async (a: Uint32Array, rowStart: number) => {
    if (rowStart !== written) {
      throw new Error(`Expected assignments from row ${written} but got row ${rowStart}`);
    }
    await sink!.write(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
    written += a.length;
  };
  await sink?.write(encodeNpyHeader("u4", [x.rows])).catch(fail);
  const result = await kmeans(gpu, x, {
    k,
    niter,
    nredo,
    seed,
    metric,
    maxPointsPerCentroid,
    f16: values.f16 ?? false,
    variant,
    batchRows,
    keepAssignments: false,
    ...(sink ? { onAssignments } : {}),
    ...(values.column ? { column: values.column } : {}),
    ...(values.weights ? { weights: values.weights } : {}),
    ...(values.checkpoint
      ? { checkpoint: { path: values.checkpoint, every: checkpointEvery } }
      : {}),
    ...(values.resume ? { resume: true } : {}),
    onLog: (m) => say(`cluster: ${m}`),
    onIteration: (s) =>
      say(
        `iter ${String(s.iteration).padStart(3)}  objective ${s.objective.toPrecision(8)}  ` +
          `time ${formatSeconds(s.time)}  ETA ${formatSeconds(s.eta)}  ` +
          `imbalance ${s.imbalanceFactor.toFixed(3)}  empty clusters split ${s.nsplit}`,
      ),
  }).catch(fail);
  if (sink && written !== x.rows) {
    await fail(new Error(`Expected ${x.rows} assignments but the final pass gave ${written}`));
  }
  // Both outputs or neither.
  await atomicWrites(async () => {
    if (values.out) {
      await writeNpy(values.out, result.centroids.data, [
        result.centroids.rows,
        result.centroids.cols,
      ]);
    }
    await sink?.commit();
  }).catch(fail);
  const seconds = (performance.now() - t0) / 1000;
  const kern = result.kernel;
  progress(
    `cluster: objective ${result.objective.toPrecision(8)} in ${formatSeconds(seconds)} ` +
      `(assignment kernel ${kern.variant}${
        kern.variant === "registers" ? `×${kern.rows}` : ""
      }, ${kern.source})`,
  );
  if (values.json) {
    console.log(JSON.stringify({
      rows: x.rows,
      cols: x.cols,
      k,
      niter,
      nredo,
      metric,
      objective: result.objective,
      iterations: result.stats.length,
      nsplit: result.stats.reduce((a, s) => a + s.nsplit, 0),
      seconds,
      peakRssBytes: peakRssBytes(),
      adapter: gpu.info.description,
      kernel: result.kernel,
      out: values.out ?? null,
      assignments: values.assignments ?? null,
    }));
  }
  gpu.destroy();
}

if (import.meta.main) await runCli("cluster", main);
