// The MLCD training loop: encoder + learnable class centers, Partial-FC sampling, AdamW,
// progress, JSONL metrics, checkpoints and exact resume. The loop is here; its parts are
// private to src/train: the model and one step (_train_model.ts), each step's batch
// (_train_batches.ts), and the run's state in its checkpoint (_train_state.ts).
import type { Gpu } from "../gpu/gpu.ts";
import { type GpuMatrix, useGpuMatrix } from "../gpu/gpu_matrix.ts";
import type { Encoder } from "../model/encoder.ts";
import { type tf, useTfBackend } from "../model/tf.ts";
import { learningRate } from "./adamw.ts";
import type { CheckpointManifest } from "./checkpoint.ts";
import type { TrainConfig } from "./config.ts";
import { resolveWarmup } from "./warmup.ts";
import { mixSeed, Rng } from "../random/rng.ts";
import { sampleClasses } from "../loss/sample_classes.ts";
import { truncateMetrics } from "./run_dir.ts";
import type { TrainData } from "./train_data.ts";
import { checkPositives, openStepBatches } from "./_train_batches.ts";
import { createTrainModel, trainStep } from "./_train_model.ts";
import { restoreTrainState, saveTrainState } from "./_train_state.ts";

export type { TrainBatch, TrainData, TrainStream } from "./train_data.ts";

/** One progress report of {@linkcode train}. */
export interface TrainProgress {
  /** Steps done. */
  step: number;
  /** Steps of the run. */
  totalSteps: number;
  /** Current epoch (1-based). */
  epoch: number;
  /** Loss of the last step. */
  loss: number;
  /** Learning rate of the last step. */
  lr: number;
  /** Throughput since the start (or resume). */
  samplesPerSec: number;
  /** Estimated seconds left. */
  etaSec: number;
}

/** Options of {@linkcode train}. */
export interface TrainOptions {
  /** Run directory for checkpoints and `metrics.jsonl`; none: nothing is written. @default {undefined} */
  runDir?: string;
  /**
   * Continue from the checkpoint in `runDir` (`metrics.jsonl` is cut back to its step).
   * @default {false}
   */
  resume?: boolean;
  /**
   * With `resume`: `config.epochs` may exceed the checkpoint's, and the run is trained further
   * to it (a finished run too). The learning rate follows the schedule over the new total:
   * cosine decay from the warm-up's end to the new last step, so it steps up from where the
   * shorter schedule ended. @default {false}
   */
  extend?: boolean;
  /** Called after every step. @default {undefined} */
  onStep?: (p: TrainProgress) => void;
  /** Called after every checkpoint is written. @default {undefined} */
  onCheckpoint?: (m: CheckpointManifest) => void;
  /**
   * Called with each warning before the first step (e.g. a warm-up not shorter than the run);
   * the same warnings are in the result. @default {undefined}
   */
  onLog?: (message: string) => void;
  /**
   * A ready encoder to fine-tune instead of one built from `config` (e.g. a Hugging Face
   * model's); its `params` are what is trained and checkpointed. @default {undefined}
   */
  encoder?: Encoder;
}

/** What {@linkcode train} returns. */
export interface TrainResult {
  /** The trained encoder (caller disposes). */
  encoder: Encoder;
  /** The learned class centers, `classes × embedDim`. */
  centers: tf.Variable;
  /** Steps done. */
  step: number;
  /** Loss of the last step. */
  finalLoss: number;
  /** The last checkpoint's manifest, when `runDir` was given. */
  manifest?: CheckpointManifest;
  /** The warm-up steps the run used (`config.warmupSteps`, or what `"auto"` came to). */
  warmupSteps: number;
  /** Warnings about the run's settings, also passed to `onLog`. */
  warnings: string[];
}

/**
 * Trains an encoder and `classes` learnable centers with the MLCD (or MLC) loss.
 * Deterministic for a seed on one device; with `resume` it continues from the checkpoint in
 * `runDir` and ends with the same weights as an uninterrupted run.
 *
 * @param gpu The GPU context (tfjs runs on its device).
 * @param data Inputs and positives; see {@linkcode TrainData}.
 * @param config A resolved {@linkcode TrainConfig}.
 * @param options See {@linkcode TrainOptions}.
 * @returns The trained encoder and centers.
 *
 * @example Usage
 * ```ts ignore
 * const { encoder } = await train(gpu, { x, inputShape: [784], positives }, config);
 * ```
 */
export async function train(
  gpu: Gpu,
  data: TrainData,
  config: TrainConfig,
  options: TrainOptions = {},
): Promise<TrainResult> {
  await useTfBackend(gpu);
  const inputDim = data.inputShape.reduce((a, b) => a * b, 1);
  if (!data.x && !data.stream) {
    throw new TypeError("Expected training data x or a stream but found neither");
  }
  const x = data.stream ? undefined : data.x;
  if (!x) return await trainOn(gpu, data, undefined, config, options);
  if (x.cols !== inputDim) {
    throw new TypeError(
      `Expected input rows of ${inputDim} values (inputShape ${
        JSON.stringify(data.inputShape)
      }) but found ${x.cols}`,
    );
  }
  // The one upload of host inputs (a float32 GpuMatrix is borrowed as is): every step
  // gathers its batch from these buffers.
  const lease = useGpuMatrix(gpu, x, { label: "train.x" });
  try {
    return await trainOn(gpu, data, lease.matrix, config, options);
  } finally {
    lease.release();
  }
}

async function trainOn(
  gpu: Gpu,
  data: TrainData,
  x: GpuMatrix | undefined,
  config: TrainConfig,
  options: TrainOptions,
): Promise<TrainResult> {
  const c = config;
  const inputDim = data.inputShape.reduce((a, b) => a * b, 1);
  const n = x ? x.rows : data.stream!.rows;
  const positivesAll = data.positives ?? new Uint32Array(0);
  if (!data.stream && positivesAll.length !== n * c.l) {
    throw new TypeError(
      `Expected ${n} × l=${c.l} positives but found ${positivesAll.length} values`,
    );
  }
  checkPositives(positivesAll, c.classes);
  const bs = Math.min(c.batchSize, n);
  const stepsPerEpoch = Math.max(1, Math.floor(n / bs));
  const totalSteps = stepsPerEpoch * c.epochs;
  const warmup = resolveWarmup(c, { totalSteps });
  const warnings = warmup.warning ? [warmup.warning] : [];
  for (const w of warnings) options.onLog?.(w);

  const model = await createTrainModel(c, data, x, n, options.encoder);
  const sampler = new Rng(mixSeed(c.seed, 103));
  let step = 0;
  let manifest: CheckpointManifest | undefined;
  if (options.resume) {
    if (!options.runDir) throw new TypeError("Expected a runDir to resume from but found none");
    manifest = await restoreTrainState(options.runDir, model, c, { rows: n, inputDim }, {
      ...(options.extend ? { extend: true } : {}),
    });
    step = manifest.step;
    sampler.state = manifest.rng.samplerState >>> 0;
  }
  const checkpoint = async (done: boolean) => {
    if (!options.runDir) return;
    manifest = await saveTrainState(options.runDir, model, c, { rows: n, inputDim }, {
      step,
      totalSteps,
      done,
      samplerState: sampler.state,
    });
    options.onCheckpoint?.(manifest);
  };

  const metricsPath = options.runDir ? `${options.runDir}/metrics.jsonl` : undefined;
  if (options.runDir) await Deno.mkdir(options.runDir, { recursive: true });
  // metrics.jsonl holds each step once: lines past the starting step (a killed run's steps
  // after its checkpoint, or a previous run's when starting afresh) are dropped.
  if (metricsPath) await truncateMetrics(metricsPath, step);
  const t0 = performance.now();
  const startStep = step;
  let lastLoss = NaN;
  const batches = openStepBatches(data, x, {
    fromStep: step,
    batchSize: bs,
    stepsPerEpoch,
    inputDim,
    classes: c.classes,
    l: c.l,
    seed: c.seed,
  });
  try {
    while (step < totalSteps) {
      const batch = await batches.next(step);
      const sampleSeed = Math.floor(sampler.next() * 4294967296);
      const sampled = sampleClasses(batch.positives, {
        classes: c.classes,
        ratio: c.ratio,
        seed: sampleSeed,
      });
      const lr = learningRate(step, totalSteps, warmup.warmupSteps, c.lr);
      if (batch.rows === 0) { // every sample of a streamed batch was skipped: no update this step
        step++;
        continue;
      }
      lastLoss = await trainStep(gpu, model, batch.input(), batch.positives, sampled, c, lr, step);
      step++;
      const el = (performance.now() - t0) / 1000;
      const sps = ((step - startStep) * bs) / Math.max(el, 1e-9);
      const p: TrainProgress = {
        step,
        totalSteps,
        epoch: Math.floor((step - 1) / stepsPerEpoch) + 1,
        loss: lastLoss,
        lr,
        samplesPerSec: sps,
        etaSec: ((totalSteps - step) * bs) / Math.max(sps, 1e-9),
      };
      if (metricsPath) {
        await Deno.writeTextFile(
          metricsPath,
          JSON.stringify({ ...p, time: new Date().toISOString() }) + "\n",
          { append: true },
        );
      }
      options.onStep?.(p);
      if (step < totalSteps && step % c.checkpointEvery === 0) await checkpoint(false);
    }
  } finally {
    await batches.close();
  }
  if (options.runDir && (!manifest || !manifest.done || manifest.step !== step)) {
    await checkpoint(true);
  }
  model.opt.dispose();
  const { encoder, centers } = model;
  const result: TrainResult = {
    encoder,
    centers,
    step,
    finalLoss: lastLoss,
    warmupSteps: warmup.warmupSteps,
    warnings,
  };
  if (manifest) result.manifest = manifest;
  return result;
}
