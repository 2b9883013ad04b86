// Linear probe: multinomial logistic regression on frozen features, trained on the GPU with
// the toolkit's own kernels (kernels/probe_*.wgsl): three passes per mini-batch, one
// submission per epoch.
import type { Gpu } from "../gpu/gpu.ts";
import { createStorage, readBack, upload } from "../gpu/buffers.ts";
import { dispatch, submit } from "../gpu/program.ts";
import type { Matrix } from "../matrix/matrix.ts";
import type { LabelledFeatures } from "./evaluate.ts";
import { checkOptionsObject } from "../_options.ts";
import { mixSeed, permutation } from "../random/rng.ts";
import {
  probeLogitsProgram,
  type ProbeRows,
  probeRowsProgram,
  probeShape,
  probeUpdateProgram,
} from "./_probe_programs.ts";

/** Options of {@linkcode linearProbe}. */
export interface LinearProbeOptions {
  /** Passes over the training features. @default {30} */
  epochs?: number;
  /** Mini-batch size, an integer in `[1, 65535]`. @default {512} */
  batchSize?: number;
  /** Peak Adam learning rate (cosine decay to 0). @default {0.01} */
  lr?: number;
  /** Seed of the mini-batch shuffle. @default {1} */
  seed?: number;
  /** L2 penalty on the weights (added to the loss). @default {1e-4} */
  l2?: number;
  /** Standardise features with the training mean/std. @default {true} */
  standardize?: boolean;
  /** Called after every epoch, once its work on the GPU is done. @default {undefined} */
  onProgress?: (progress: LinearProbeProgress) => void;
}

/** One progress report of {@linkcode linearProbe}. */
export interface LinearProbeProgress {
  /** Epochs done. */
  epoch: number;
  /** Epochs of the run. */
  epochs: number;
  /** Seconds since the probe started. */
  seconds: number;
}

/** Result of {@linkcode linearProbe}. */
export interface LinearProbeResult {
  /** Test top-1 accuracy. */
  top1: number;
  /** Training top-1 accuracy. */
  trainTop1: number;
  /** Final training loss (mean cross-entropy plus the L2 penalty). */
  loss: number;
}

/** Largest mini-batch: the update kernel loops over it, below llvmpipe's 65,535 cap. */
const MAX_BATCH = 65000;
/** Classes are predicted as float32 values (exact below 2^24). */
const MAX_CLASSES = 1 << 20;
const ADAM = { b1: 0.9, b2: 0.999, eps: 1e-8 } as const;

function checkInt(name: string, v: number, lo: number, hi: number): number {
  if (!Number.isInteger(v) || v < lo || v > hi) {
    throw new RangeError(
      `Expected linearProbe's ${name} to be an integer in [${lo}, ${hi}] but found ${v}`,
    );
  }
  return v;
}

function checkPositive(name: string, v: number, allowZero: boolean): number {
  if (!Number.isFinite(v) || v < 0 || (!allowZero && v === 0)) {
    throw new RangeError(
      `Expected linearProbe's ${name} to be a ${
        allowZero ? "non-negative" : "positive"
      } finite number but found ${v}`,
    );
  }
  return v;
}

/** The labels as u32, checked to be integers in [0, MAX_CLASSES). */
function labelsOf(y: ArrayLike<number>, split: string): Uint32Array {
  const out = new Uint32Array(y.length);
  for (let i = 0; i < y.length; i++) {
    const v = y[i]!;
    if (!Number.isInteger(v) || v < 0 || v >= MAX_CLASSES) {
      throw new RangeError(
        `Expected ${split} label ${i} to be an integer in [0, ${MAX_CLASSES}) but found ${v}`,
      );
    }
    out[i] = v;
  }
  return out;
}

/**
 * The rows of `m` zero-padded to `d4` vec4s, standardised with the training columns' mean and
 * std (+1e-6, computed in float64) when `stats` is given.
 */
function padded(m: Matrix, d4: number, stats?: { mean: Float64Array; std: Float64Array }) {
  const d = m.cols, dp = d4 * 4;
  const out = new Float32Array(m.rows * dp);
  for (let i = 0; i < m.rows; i++) {
    for (let j = 0; j < d; j++) {
      const v = m.data[i * d + j]!;
      out[i * dp + j] = stats ? (v - stats.mean[j]!) / stats.std[j]! : v;
    }
  }
  return out;
}

/** The training columns' mean and standard deviation plus 1e-6 (population variance). */
function columnStats(train: Matrix): { mean: Float64Array; std: Float64Array } {
  const { rows: n, cols: d } = train;
  const mean = new Float64Array(d), variance = new Float64Array(d);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < d; j++) mean[j]! += train.data[i * d + j]!;
  }
  for (let j = 0; j < d; j++) mean[j]! /= n;
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < d; j++) {
      const t = train.data[i * d + j]! - mean[j]!;
      variance[j]! += t * t;
    }
  }
  return { mean, std: variance.map((v) => Math.sqrt(v / n) + 1e-6) };
}

/**
 * Trains a softmax classifier on frozen training features (mini-batch Adam with cosine decay
 * and an L2 penalty, zero init, on the GPU) and reports top-1 accuracy on the test features.
 * Deterministic: the mini-batches follow a seeded shuffle per epoch. The training features
 * must fit one storage binding (`gpu.maxBindingBytes`), like the test features.
 *
 * @param gpu The GPU context.
 * @param train Training features `x` and labels `y` (integers in [0, classes)).
 * @param test Test features (same width) and labels.
 * @param options See {@linkcode LinearProbeOptions}.
 * @returns Test and training accuracy, and the final training loss.
 * @throws {TypeError} When the widths differ or a split's label count is not its row count.
 * @throws {RangeError} When an option or a label is out of range, there are no training
 * rows, or the features do not fit one storage binding.
 *
 * @example Usage
 * ```ts ignore
 * const { top1 } = await linearProbe(gpu, { x: trainEmb, y: trainY }, { x: testEmb, y: testY });
 * ```
 */
export async function linearProbe(
  gpu: Gpu,
  train: LabelledFeatures,
  test: LabelledFeatures,
  options: LinearProbeOptions = {},
): Promise<LinearProbeResult> {
  checkOptionsObject("linearProbe", options, "{ epochs: 30 }");
  const t0 = performance.now();
  const { x: trainX, y: trainY } = train;
  const { x: testX, y: testY } = test;
  if (trainX.cols !== testX.cols) {
    throw new TypeError(
      `Expected test features of width ${trainX.cols} like the training features but found ${testX.cols}`,
    );
  }
  if (trainY.length !== trainX.rows || testY.length !== testX.rows) {
    throw new TypeError(
      `Expected ${trainX.rows} training and ${testX.rows} test labels but found ${trainY.length} and ${testY.length}`,
    );
  }
  const epochs = checkInt("epochs", options.epochs ?? 30, 0, 1e6);
  const batchSize = checkInt("batchSize", options.batchSize ?? 512, 1, MAX_BATCH);
  const seed = checkInt("seed", options.seed ?? 1, 0, 2 ** 32 - 1);
  const lr = checkPositive("lr", options.lr ?? 0.01, false);
  const l2 = checkPositive("l2", options.l2 ?? 1e-4, true);
  const n = trainX.rows, nt = testX.rows, d = trainX.cols;
  if (n === 0) {
    throw new RangeError("Expected linearProbe's training split to have rows but found none");
  }
  const ytr = labelsOf(trainY, "training"), yte = labelsOf(testY, "test");
  let classes = 0;
  for (const v of ytr) classes = Math.max(classes, v + 1);
  for (const v of yte) classes = Math.max(classes, v + 1);
  const s = probeShape(d, classes);
  const { d4, C, Cp } = s;
  // The per-row kernel loops three times over the classes.
  if (3 * C + 16 > gpu.quirks.maxLoopIterations) {
    const most = Math.floor((gpu.quirks.maxLoopIterations - 16) / 3);
    throw new RangeError(
      `Expected linearProbe's labels to name at most ${most} classes on this adapter but found ${C}`,
    );
  }
  const bs = Math.min(batchSize, n);
  const perEpoch = Math.ceil(n / bs);
  const rowBytes = d4 * 16, paramBytes = Cp * (d4 + 1) * 16;
  // Multiply-adds per dispatch stay under the adapter's cap: rows of logits per dispatch (a
  // multiple of 4, the rows one invocation computes) and class blocks per update dispatch.
  const macsCap = gpu.quirks.maxMacsPerDispatch;
  const logitRows = Math.max(4, Math.floor(Math.min(macsCap / (Cp * d4 * 4), 1 << 20) / 4) * 4);
  const blocksPerUpdate = Math.max(1, Math.floor(macsCap / (bs * 16 * (d4 + 1) * 4)));
  // Rows of logits per block of the final predictions: as many as fit 64 MiB and a binding.
  const predictRows = Math.min(
    Math.max(n, nt),
    logitRows,
    Math.max(4, Math.floor(Math.min(gpu.maxBindingBytes, 64 << 20) / (4 * Cp) / 4) * 4),
  );
  for (
    const [what, bytes] of [
      ["training features", n * rowBytes],
      ["test features", nt * rowBytes],
      [`a batch's ${bs} × ${Cp} logits`, bs * Cp * 4],
      [`the ${Cp} × ${d4 + 1} × 4 parameters`, paramBytes],
    ] as const
  ) {
    if (bytes > gpu.maxBindingBytes) {
      throw new RangeError(
        `Expected linearProbe's ${what} to fit one storage binding of ${gpu.maxBindingBytes} bytes but they need ${bytes}`,
      );
    }
  }
  const stats = (options.standardize ?? true) ? columnStats(trainX) : undefined;

  const buffers: GPUBuffer[] = [];
  const keep = (b: GPUBuffer) => (buffers.push(b), b);
  try {
    const xTrain = keep(upload(gpu, padded(trainX, d4, stats), "probe.train.x"));
    const xTest = keep(upload(gpu, padded(testX, d4, stats), "probe.test.x"));
    const yTrain = keep(upload(gpu, ytr, "probe.train.y"));
    const yTest = keep(upload(gpu, yte, "probe.test.y"));
    const order = keep(createStorage(gpu, n * 4, "probe.order"));
    const params = keep(createStorage(gpu, paramBytes, "probe.params")); // zero init
    const m = keep(createStorage(gpu, paramBytes, "probe.m"));
    const v = keep(createStorage(gpu, paramBytes, "probe.v"));
    const logits = keep(createStorage(gpu, Math.max(bs, predictRows) * Cp * 4, "probe.logits"));
    const unused = keep(createStorage(gpu, 16, "probe.unused"));
    const predTrain = keep(createStorage(gpu, n * 2 * 4, "probe.train.pred"));
    const predTest = keep(createStorage(gpu, nt * 2 * 4, "probe.test.pred"));
    /** Logits of `rows` rows into the scratch buffer, in dispatches under the MAC cap. */
    const recordLogits = (x: GPUBuffer, rows: number, at: ProbeRows, enc: GPUCommandEncoder) => {
      for (let r = 0; r < rows; r += logitRows) {
        const part = Math.min(logitRows, rows - r);
        const where = "idxOff" in at ? { idxOff: at.idxOff + r } : { rowStart: at.rowStart + r };
        const out = { buffer: logits, offset: r * Cp * 4, size: part * Cp * 4 };
        dispatch(gpu, probeLogitsProgram(s, part, where), [x, order, params, out], enc);
      }
    };

    let t = 0;
    const blocks = Cp / 16;
    for (let e = 0; e < epochs; e++) {
      const perm = permutation(n, mixSeed(seed, e)) as Uint32Array<ArrayBuffer>;
      gpu.device.queue.writeBuffer(order, 0, perm);
      const enc = gpu.device.createCommandEncoder({ label: "probe.epoch" });
      for (let b = 0; b < perEpoch; b++) {
        const idxOff = b * bs, rows = Math.min(n, idxOff + bs) - idxOff;
        const step = {
          lr: lr * 0.5 * (1 + Math.cos(Math.PI * (e * perEpoch + b) / (epochs * perEpoch))),
          l2,
          ...ADAM,
          t: ++t,
        };
        recordLogits(xTrain, rows, { idxOff }, enc);
        dispatch(gpu, probeRowsProgram(s, rows, { idxOff }), [logits, order, yTrain, unused], enc);
        for (let cbOff = 0; cbOff < blocks; cbOff += blocksPerUpdate) {
          const cbCount = Math.min(blocksPerUpdate, blocks - cbOff);
          const program = probeUpdateProgram(s, { batch: rows, idxOff, cbOff, cbCount }, step);
          dispatch(gpu, program, [xTrain, order, logits, params, m, v], enc);
        }
      }
      submit(gpu, enc);
      await gpu.device.queue.onSubmittedWorkDone(); // one epoch in flight at a time
      options.onProgress?.({ epoch: e + 1, epochs, seconds: (performance.now() - t0) / 1000 });
    }

    // Predictions and per-row losses of both splits, then one readback with the parameters.
    const enc = gpu.device.createCommandEncoder({ label: "probe.predict" });
    const splits = [[xTrain, yTrain, predTrain, n], [xTest, yTest, predTest, nt]] as const;
    for (const [x, y, pred, rows] of splits) {
      for (let rowStart = 0; rowStart < rows; rowStart += predictRows) {
        const block = Math.min(predictRows, rows - rowStart);
        recordLogits(x, block, { rowStart }, enc);
        dispatch(gpu, probeRowsProgram(s, block, { rowStart }), [logits, order, y, pred], enc);
      }
    }
    const [trainOut, testOut, weights] = await readBack(gpu, [
      { buffer: predTrain, bytes: n * 2 * 4 },
      { buffer: predTest, bytes: nt * 2 * 4 },
      { buffer: params, bytes: paramBytes },
    ], enc);
    const accuracy = (out: Float32Array, y: Uint32Array) => {
      let hits = 0;
      for (let i = 0; i < y.length; i++) if (out[2 * i] === y[i]) hits++;
      return y.length ? hits / y.length : 0;
    };
    const trainPred = new Float32Array(trainOut!), testPred = new Float32Array(testOut!);
    let nll = 0;
    for (let i = 0; i < n; i++) nll += trainPred[2 * i + 1]!;
    const w = new Float32Array(weights!);
    let squares = 0; // the weights only, not the biases
    for (let c = 0; c < C; c++) {
      for (let j = 0; j < d; j++) squares += w[c * (d4 + 1) * 4 + j]! ** 2;
    }
    return {
      top1: accuracy(testPred, yte),
      trainTop1: accuracy(trainPred, ytr),
      loss: nll / n + l2 * squares,
    };
  } finally {
    for (const b of buffers) b.destroy();
  }
}
