// deno task train on vectors (MNIST pixels or embedding files): the rows go to the GPU once
// and stay there; labels from --labels, from the run's labels.safetensors on resume, or
// pseudo-labels from k-means + top-l of the resident rows.
import type { Gpu } from "../gpu/gpu.ts";
import { type GpuMatrix, uploadMatrix } from "../gpu/gpu_matrix.ts";
import { writeFileAtomic } from "../fs/atomic.ts";
import { clusterSizes, writeKmeansStats } from "../eval/run_report.ts";
import { mixSeed } from "../random/rng.ts";
import { pseudoLabels } from "../train/pseudo_labels.ts";
import { readRunLabels, type RunDir } from "../train/run_dir.ts";
import { encodeSafetensors } from "../train/safetensors.ts";
import type { TrainData } from "../train/trainer.ts";
import { progress } from "./_cli.ts";
import { loadInputs, readLabels } from "./_data_source.ts";
import { kmeansProgress } from "./_kmeans_progress.ts";

/** The training data of a vector run, its resident rows, and the files to write first. */
export interface PreparedVectors {
  data: TrainData;
  n: number;
  /** The rows on the GPU (the caller destroys them). */
  resident: GpuMatrix;
  /** Writes the pseudo-labels and k-means stats (once every input is validated). */
  write?: () => Promise<void>;
}

/** Loads, checks and uploads the rows, and finds their positives. Nothing is written here. */
export async function prepareVectorTraining(gpu: Gpu, run: RunDir): Promise<PreparedVectors> {
  const { config, sources } = run;
  const loaded = await loadInputs(sources.data, {
    encoder: config.encoder,
    ...(sources.limit !== null ? { limit: sources.limit } : {}),
    testLimit: 0,
    imageSize: config.imageSize,
    ...(sources.column !== null ? { column: sources.column } : {}),
  });
  const n = loaded.x.rows;
  progress(`train: ${n} samples of ${loaded.x.cols} values (${loaded.kind})`);
  if (n === 0) {
    throw new RangeError(
      `Expected ${sources.data.join(", ")} to hold at least one row but found none`,
    );
  }
  if (config.classes > n) {
    throw new RangeError(
      `Expected classes to be at most the ${n} samples but found ${config.classes}`,
    );
  }
  await run.checkCheckpointFits(n, loaded.inputShape);
  const x = uploadMatrix(gpu, loaded.x, { label: "train.x" });
  const labels = await positivesOf(gpu, run, x, n);
  return {
    data: {
      x,
      inputShape: loaded.inputShape,
      positives: labels.positives,
      assignments: labels.assignments,
    },
    n,
    resident: x,
    ...(labels.write ? { write: labels.write } : {}),
  };
}

/** The positives of every row: given, stored by the run, or computed now. */
async function positivesOf(
  gpu: Gpu,
  run: RunDir,
  x: GpuMatrix,
  n: number,
): Promise<{ positives: Uint32Array; assignments: Uint32Array; write?: () => Promise<void> }> {
  const { config, sources } = run;
  const labelsPath = `${run.dir}/labels.safetensors`;
  if (sources.labels !== null) {
    const lab = await readLabels(sources.labels, n);
    if (lab.cols !== config.l) {
      throw new TypeError(
        `Expected ${sources.labels} to hold l=${config.l} labels per row but found ${lab.cols}`,
      );
    }
    const positives = lab.data;
    return {
      positives,
      assignments: new Uint32Array(n).map((_, i) => positives[i * config.l]!),
    };
  }
  if (run.resume) {
    const f = await readRunLabels(labelsPath);
    const p = f.get("positives"), a = f.get("assignments");
    if (!p || !a || p.shape[0] !== n || p.shape[1] !== config.l) {
      throw new TypeError(
        `Cannot resume: ${labelsPath} holds pseudo-labels of shape ${
          JSON.stringify(p?.shape ?? null)
        } but the run needs ${n} × l=${config.l}`,
      );
    }
    progress(`train: pseudo-labels from ${labelsPath}`);
    return { positives: p.data as Uint32Array, assignments: a.data as Uint32Array };
  }
  progress(
    `cluster: spherical k-means into C=${config.classes} (${config.kmeansIters} iterations)`,
  );
  const { stats, onIteration } = kmeansProgress();
  const pl = await pseudoLabels(gpu, x, {
    classes: config.classes,
    l: config.l,
    niter: config.kmeansIters,
    init: config.kmeansInit,
    seed: mixSeed(config.seed, 1),
    onIteration,
  });
  const positives = pl.indices, assignments = pl.assignments;
  const write = async () => {
    await writeFileAtomic(
      labelsPath,
      encodeSafetensors(
        new Map(
          [
            ["positives", { dtype: "U32", shape: [n, config.l], data: positives }],
            ["assignments", { dtype: "U32", shape: [n], data: assignments }],
          ] as const,
        ),
      ),
    );
    await writeKmeansStats(run.dir, stats, clusterSizes(assignments, { k: config.classes }));
  };
  return { positives, assignments, write };
}
