// The MLCD training loop: encoder + learnable class centers, Partial-FC sampling, AdamW,
// progress, JSONL metrics, checkpoints and exact resume.
import type { Gpu } from "../gpu/gpu.ts";
import type { Matrix } from "../matrix/matrix.ts";
import { type GpuMatrix, useGpuMatrix } from "../gpu/gpu_matrix.ts";
import { residentRows } from "../model/_resident_rows.ts";
import { createEncoder, embed, type Encoder } from "../model/encoder.ts";
import { vitDecays } from "../model/vit.ts";
import { tf, useTfBackend } from "../model/tf.ts";
import { AdamW, learningRate } from "./adamw.ts";
import { type CheckpointManifest, loadCheckpoint, saveCheckpoint } from "./checkpoint.ts";
import { TOOLKIT_VERSION } from "../version.ts";
import { DEFAULT_TRAIN_CONFIG, type TrainConfig } from "./config.ts";
import { mixSeed, permutation, Rng } from "../random/rng.ts";
import type { NamedTensor } from "./safetensors.ts";
import { sampleClasses } from "../loss/sample_classes.ts";
import { mlcdLossOp } from "../loss/tfjs_op.ts";
import { truncateMetrics } from "./_run_dir.ts";

/** One training batch from a {@linkcode TrainStream}. */
export interface TrainBatch {
  /** `rows × inputDim` flattened inputs. */
  x: Float32Array;
  /** `rows × l` positive class ids. */
  positives: Uint32Array;
  /** Rows in the batch (at most the batch size; 0 skips the step's update). */
  rows: number;
}

/**
 * Training data that does not fit in memory: batches are produced on demand (e.g. decoded
 * from WebDataset shards). Batch `s` must be the same whenever it is asked for, so a resumed
 * run sees the same data in the same order.
 */
export interface TrainStream {
  /** Samples per epoch. */
  rows: number;
  /**
   * Batches from global step `fromStep` on, in step order, `batchSize` rows each (fewer when
   * samples are skipped); epoch `e` covers steps `[e·stepsPerEpoch, (e+1)·stepsPerEpoch)`.
   */
  batches(fromStep: number, batchSize: number, stepsPerEpoch: number): AsyncIterable<TrainBatch>;
}

/** Training data: flattened inputs and every row's `l` positive class ids. */
export interface TrainData {
  /**
   * Inputs, one flattened sample per row (`inputShape` values); or give `stream`. A host
   * `Matrix` is uploaded once and stays on the GPU for the run; a float32 `GpuMatrix` on
   * `gpu`'s device (e.g. the one `pseudoLabels` clustered) is used in place and not freed.
   * Each step gathers its batch on the GPU, uploading only the batch's row ids.
   */
  x?: Matrix | GpuMatrix;
  /** Streamed inputs and positives instead of `x` and `positives`. @default {undefined} */
  stream?: TrainStream;
  /** Shape of one input sample: `[dim]` (head) or `[h, w, c]` (cnn). */
  inputShape: number[];
  /** Positive class ids, `x.rows × l`, row-major (from top-l assignment); unused with `stream`. */
  positives?: Uint32Array;
  /** Class centers from k-means (`classes × embedDim`), for `centersInit: "kmeans"`. */
  centroids?: Matrix;
  /**
   * Hard k-means cluster of every row; for `centersInit: "kmeans"` when `centroids` is not
   * in embedding space, each center starts at the mean of its cluster's initial embeddings.
   */
  assignments?: Uint32Array;
}

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
  /** Called after every step. @default {undefined} */
  onStep?: (p: TrainProgress) => void;
  /** Called after every checkpoint is written. @default {undefined} */
  onCheckpoint?: (m: CheckpointManifest) => void;
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
  const checkPositives = (p: Uint32Array) => {
    for (let i = 0; i < p.length; i++) {
      if (p[i]! >= c.classes) {
        throw new RangeError(
          `Expected positive class ids in [0, ${c.classes - 1}] but found ${p[i]}`,
        );
      }
    }
  };
  checkPositives(positivesAll);
  const bs = Math.min(c.batchSize, n);
  const stepsPerEpoch = Math.max(1, Math.floor(n / bs));
  const totalSteps = stepsPerEpoch * c.epochs;

  const encoder = options.encoder ?? createEncoder({
    kind: c.encoder,
    inputShape: data.inputShape,
    embedDim: c.embedDim,
    hidden: c.hidden,
    channels: c.channels,
    imageSize: c.imageSize,
    patch: c.patch,
    width: c.width,
    depth: c.depth,
    heads: c.heads,
    mlpRatio: c.mlpRatio,
  }, { seed: mixSeed(c.seed, 101) });
  if (encoder.spec.embedDim !== c.embedDim || encoder.inputDim !== inputDim) {
    throw new TypeError(
      `Expected an encoder from ${inputDim} inputs to embedDim=${c.embedDim} but found ${encoder.inputDim} to ${encoder.spec.embedDim}`,
    );
  }
  let centersInit: tf.Tensor;
  if (c.centersInit === "kmeans") {
    const k = data.centroids;
    if (k && k.rows === c.classes && k.cols === c.embedDim) {
      centersInit = tf.tensor2d(k.data, [k.rows, k.cols]);
    } else if (x && data.assignments && data.assignments.length === n) {
      const z = await embed(encoder, x, { normalize: true });
      const sums = new Float64Array(c.classes * c.embedDim);
      const w = new Float32Array(c.classes * c.embedDim);
      for (let i = 0; i < n; i++) {
        const a = data.assignments[i]!;
        if (a >= c.classes) {
          throw new RangeError(`Expected assignments in [0, ${c.classes - 1}] but found ${a}`);
        }
        for (let j = 0; j < c.embedDim; j++) {
          sums[a * c.embedDim + j]! += z.data[i * c.embedDim + j]!;
        }
      }
      for (let a = 0; a < c.classes; a++) {
        let s2 = 0;
        for (let j = 0; j < c.embedDim; j++) s2 += sums[a * c.embedDim + j]! ** 2;
        const inv = s2 > 0 ? 1 / Math.sqrt(s2) : 0;
        for (let j = 0; j < c.embedDim; j++) {
          w[a * c.embedDim + j] = sums[a * c.embedDim + j]! * inv;
        }
      }
      centersInit = tf.tensor2d(w, [c.classes, c.embedDim]);
    } else {
      throw new TypeError(
        `Expected k-means centroids of shape ${c.classes}×${c.embedDim} or per-row assignments for centersInit "kmeans" but found ${
          k ? `${k.rows}×${k.cols}` : "none"
        }`,
      );
    }
  } else {
    const r = new Rng(mixSeed(c.seed, 102));
    const w = new Float32Array(c.classes * c.embedDim);
    for (let i = 0; i < w.length; i++) w[i] = r.normal() * 0.01;
    centersInit = tf.tensor2d(w, [c.classes, c.embedDim]);
  }
  const centers = tf.variable(centersInit, true);
  centersInit.dispose();
  const params = new Map<string, tf.Variable>(
    [...encoder.params].map(([k, v]) => [`encoder.${k}`, v] as const),
  );
  params.set("centers", centers);
  const opt = new AdamW(params, {
    beta1: c.beta1,
    beta2: c.beta2,
    eps: c.eps,
    weightDecay: c.weightDecay,
    decay: c.encoder === "vit" ? vitDecays : (name) => !name.endsWith(".bias"),
  });
  const sampler = new Rng(mixSeed(c.seed, 103));
  let step = 0;
  let manifest: CheckpointManifest | undefined;

  if (options.resume) {
    if (!options.runDir) throw new TypeError("Expected a runDir to resume from but found none");
    const ck = await loadCheckpoint(options.runDir);
    const m = ck.manifest;
    const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);
    const { checkpointEvery: _a, ...cfgNow } = c;
    // Keys added after the checkpoint was written (e.g. the vit keys) take their defaults.
    const { checkpointEvery: _b, ...cfgThen } = { ...DEFAULT_TRAIN_CONFIG, ...m.config };
    if (!same(cfgNow, cfgThen)) {
      const diff = Object.keys(cfgNow).filter((k) =>
        !same((cfgNow as Record<string, unknown>)[k], (cfgThen as Record<string, unknown>)[k])
      );
      throw new TypeError(
        `Cannot resume: the checkpoint's config differs in ${diff.join(", ")} (checkpoint ${
          diff.map((k) => JSON.stringify((cfgThen as Record<string, unknown>)[k])).join(", ")
        })`,
      );
    }
    if (m.data.rows !== n || m.data.inputDim !== inputDim || m.data.l !== c.l) {
      throw new TypeError(
        `Cannot resume: the checkpoint was trained on ${m.data.rows} rows of ${m.data.inputDim} values (l=${m.data.l}) but the data has ${n} rows of ${inputDim} (l=${c.l})`,
      );
    }
    // Check every tensor before touching any variable: never half-loaded.
    const targets: [tf.Variable, NamedTensor][] = [];
    for (const [name, v] of params) {
      for (
        const [key, target] of [[name, v], [`adam.m.${name}`, opt.m.get(name)!], [
          `adam.v.${name}`,
          opt.v.get(name)!,
        ]] as const
      ) {
        const t = ck.tensors.get(key);
        if (!t || t.dtype !== "F32" || !same(t.shape, target.shape)) {
          throw new TypeError(
            `Cannot resume: tensor "${key}" in the checkpoint has shape ${
              t ? JSON.stringify(t.shape) : "(missing)"
            }, expected ${JSON.stringify(target.shape)}`,
          );
        }
        targets.push([target, t]);
      }
    }
    for (const [v, t] of targets) {
      const x = tf.tensor(t.data as Float32Array, t.shape);
      v.assign(x);
      x.dispose();
    }
    step = m.step;
    opt.t = m.optimizerT;
    sampler.state = m.rng.samplerState >>> 0;
    manifest = m;
  }

  const checkpoint = async (done: boolean) => {
    if (!options.runDir) return;
    const tensors = new Map<string, NamedTensor>();
    const entries: [string, tf.Variable][] = [];
    for (const [name, v] of params) {
      entries.push([name, v], [`adam.m.${name}`, opt.m.get(name)!], [
        `adam.v.${name}`,
        opt.v.get(name)!,
      ]);
    }
    const datas = await Promise.all(entries.map(([, v]) => v.data() as Promise<Float32Array>));
    entries.forEach(([k, v], i) =>
      tensors.set(k, { dtype: "F32", shape: [...v.shape], data: datas[i]! })
    );
    manifest = await saveCheckpoint(options.runDir, tensors, {
      format: "mlcd-checkpoint",
      formatVersion: 1,
      toolkitVersion: TOOLKIT_VERSION,
      config: c,
      encoder: encoder.spec,
      step,
      totalSteps,
      done,
      optimizerT: opt.t,
      rng: { seed: c.seed, samplerState: sampler.state },
      data: { rows: n, inputDim, l: c.l },
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
  let permEpoch = -1;
  let perm: Uint32Array = new Uint32Array(0);
  let lastLoss = NaN;
  let xb: Float32Array = new Float32Array(0);
  let pb: Uint32Array = new Uint32Array(bs * c.l);
  let rows = bs;
  let ids: Uint32Array = new Uint32Array(0);
  const stream = data.stream?.batches(step, bs, stepsPerEpoch)[Symbol.asyncIterator]();
  const resident = x ? residentRows(x) : undefined;
  try {
    while (step < totalSteps) {
      if (stream) {
        const next = await stream.next();
        if (next.done) {
          throw new RangeError(`Expected a batch for step ${step + 1} but the stream ended`);
        }
        const b = next.value;
        if (b.x.length !== b.rows * inputDim || b.positives.length !== b.rows * c.l) {
          throw new TypeError(
            `Expected a batch of ${b.rows} × ${inputDim} inputs and ${b.rows} × l=${c.l} positives but found ${b.x.length} and ${b.positives.length} values`,
          );
        }
        checkPositives(b.positives);
        xb = b.x;
        pb = b.positives;
        rows = b.rows;
      } else {
        const epoch = Math.floor(step / stepsPerEpoch);
        if (epoch !== permEpoch) {
          perm = permutation(n, mixSeed(c.seed, 104, epoch));
          permEpoch = epoch;
        }
        const off = (step % stepsPerEpoch) * bs;
        ids = perm.subarray(off, off + bs);
        for (let i = 0; i < bs; i++) {
          const r = ids[i]!;
          pb.set(positivesAll.subarray(r * c.l, (r + 1) * c.l), i * c.l);
        }
      }
      const sampleSeed = Math.floor(sampler.next() * 4294967296);
      const sampled = sampleClasses(pb, { classes: c.classes, ratio: c.ratio, seed: sampleSeed });
      const lr = learningRate(step, totalSteps, c.warmupSteps, c.lr);
      if (rows === 0) { // every sample of a streamed batch was skipped: no update this step
        step++;
        continue;
      }
      // Resident inputs: the batch is gathered on the GPU (only its row ids are uploaded).
      const xt = resident ? resident.gather(ids) : tf.tensor2d(xb, [rows, inputDim]);
      const { value, grads } = tf.variableGrads(
        () =>
          mlcdLossOp(gpu, encoder.apply(xt), centers as tf.Tensor2D, pb, {
            sampled,
            scale: c.scale,
            margin: c.margin,
            marginType: c.marginType,
            loss: c.loss,
          }),
        [...params.values()],
      );
      const byName: Record<string, tf.Tensor> = {};
      for (const [name, v] of params) {
        const g = grads[v.name];
        if (g) byName[name] = g;
      }
      opt.step(byName, lr);
      lastLoss = (await value.data())[0]!;
      tf.dispose([xt, value, ...Object.values(grads)]);
      if (!Number.isFinite(lastLoss)) {
        throw new RangeError(`Training diverged: loss is ${lastLoss} at step ${step + 1}`);
      }
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
    await stream?.return?.(); // closes the shard readers, also when a step throws
    resident?.dispose();
  }
  if (options.runDir && (!manifest || !manifest.done || manifest.step !== step)) {
    await checkpoint(true);
  }
  opt.dispose();
  const result: TrainResult = { encoder, centers, step, finalLoss: lastLoss };
  if (manifest) result.manifest = manifest;
  return result;
}
