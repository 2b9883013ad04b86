// Linear probe: multinomial logistic regression on frozen features, trained on the GPU (tfjs).
import type { Gpu } from "../gpu/gpu.ts";
import type { LabelledFeatures } from "./evaluate.ts";
import { tf, useTfBackend } from "../model/tf.ts";
import { AdamW } from "../train/adamw.ts";
import { checkOptionsObject } from "../_options.ts";
import { mixSeed, permutation } from "../random/rng.ts";

/** Options of {@linkcode linearProbe}. */
export interface LinearProbeOptions {
  /** Passes over the training features. @default {30} */
  epochs?: number;
  /** Mini-batch size. @default {512} */
  batchSize?: number;
  /** Peak Adam learning rate (cosine decay to 0). @default {0.01} */
  lr?: number;
  /** Seed of the mini-batch shuffle. @default {1} */
  seed?: number;
  /** L2 penalty on the weights (added to the loss). @default {1e-4} */
  l2?: number;
  /** Standardise features with the training mean/std. @default {true} */
  standardize?: boolean;
}

/** Result of {@linkcode linearProbe}. */
export interface LinearProbeResult {
  /** Test top-1 accuracy. */
  top1: number;
  /** Training top-1 accuracy. */
  trainTop1: number;
  /** Final training loss. */
  loss: number;
}

/**
 * Trains a softmax classifier on frozen training features (mini-batch Adam, on the shared
 * GPU device) and reports top-1 accuracy on the test features. Deterministic (zero init).
 *
 * @param gpu The GPU context.
 * @param train Training features `x` and labels `y` (integers in [0, classes)).
 * @param test Test features (same width) and labels.
 * @param options See {@linkcode LinearProbeOptions}.
 * @returns Test and training accuracy.
 * @throws {TypeError} When the widths differ or a split's label count is not its row count.
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
  let classes = 0;
  for (let i = 0; i < trainY.length; i++) classes = Math.max(classes, trainY[i]! + 1);
  for (let i = 0; i < testY.length; i++) classes = Math.max(classes, testY[i]! + 1);
  const epochs = options.epochs ?? 30;
  const batchSize = options.batchSize ?? 512;
  const seed = options.seed ?? 1;
  const lr = options.lr ?? 0.01;
  const l2 = options.l2 ?? 1e-4;
  await useTfBackend(gpu);
  const d = trainX.cols;
  const [xtr, xte] = tf.tidy(() => {
    let a: tf.Tensor2D = tf.tensor2d(trainX.data, [trainX.rows, d]);
    let b: tf.Tensor2D = tf.tensor2d(testX.data, [testX.rows, d]);
    if (options.standardize ?? true) {
      const { mean, variance } = tf.moments(a, 0);
      const std = tf.add(tf.sqrt(variance), 1e-6);
      a = tf.div(tf.sub(a, mean), std);
      b = tf.div(tf.sub(b, mean), std);
    }
    return [a, b];
  });
  const n = trainX.rows;
  const bs = Math.min(batchSize, n);
  const perEpoch = Math.ceil(n / bs);
  const ytr = tf.tidy(() => tf.oneHot(tf.tensor1d(Int32Array.from(trainY), "int32"), classes));
  const w = tf.variable(tf.zeros([d, classes]), false);
  const bias = tf.variable(tf.zeros([classes]), false);
  const opt = new AdamW(new Map([["w", w], ["b", bias]]), {});
  // Mini-batches: CPU adapters run tfjs' per-row and long-reduction kernels slowly on
  // full-batch shapes; small batches are fast everywhere. Seeded shuffle: deterministic.
  for (let e = 0; e < epochs; e++) {
    const perm = permutation(n, mixSeed(seed, e));
    for (let b = 0; b < perEpoch; b++) {
      const idx = Int32Array.from(perm.subarray(b * bs, Math.min(n, (b + 1) * bs)));
      const [gw, gb] = tf.tidy(() => {
        const it = tf.tensor1d(idx, "int32");
        const xb = tf.gather(xtr, it), yb = tf.gather(ytr, it);
        const g = tf.div(tf.sub(tf.softmax(tf.add(tf.matMul(xb, w), bias)), yb), idx.length);
        return [tf.add(tf.matMul(xb, g, true, false), tf.mul(w, 2 * l2)), tf.sum(g, 0)];
      });
      opt.step(
        { w: gw, b: gb },
        lr * 0.5 * (1 + Math.cos(Math.PI * (e * perEpoch + b) / (epochs * perEpoch))),
      );
      tf.dispose([gw, gb]);
    }
    await bias.data(); // keep the queue bounded
  }
  const lossT = tf.tidy(() => {
    const logp = tf.logSoftmax(tf.add(tf.matMul(xtr, w), bias));
    return tf.add(
      tf.neg(tf.div(tf.sum(tf.mul(ytr, logp)), n)),
      tf.mul(tf.sum(tf.square(w)), l2),
    ) as tf.Scalar;
  });
  const acc = async (x: tf.Tensor2D, y: ArrayLike<number>) => {
    const pred = tf.tidy(() => tf.argMax(tf.add(tf.matMul(x, w), bias), 1));
    const p = await pred.data();
    pred.dispose();
    let c = 0;
    for (let i = 0; i < y.length; i++) if (p[i] === y[i]) c++;
    return y.length ? c / y.length : 0;
  };
  const top1 = await acc(xte, testY);
  const trainTop1 = await acc(xtr, trainY);
  const loss = (await lossT.data())[0]!;
  tf.dispose([xtr, xte, ytr, w, bias, lossT]);
  opt.dispose();
  return { top1, trainTop1, loss };
}
