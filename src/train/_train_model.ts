// Private to src/train: the model that train() optimises (the encoder, the learnable class
// centers and AdamW over both), built from the config, and one optimisation step of it.
import type { Gpu } from "../gpu/gpu.ts";
import type { GpuMatrix } from "../gpu/gpu_matrix.ts";
import { mlcdLossOp } from "../loss/tfjs_op.ts";
import { createEncoder, embed, type Encoder } from "../model/encoder.ts";
import { tf } from "../model/tf.ts";
import { vitDecays } from "../model/vit.ts";
import { mixSeed, Rng } from "../random/rng.ts";
import { AdamW } from "./adamw.ts";
import type { TrainConfig } from "./config.ts";
import type { TrainData } from "./train_data.ts";

/** The trained model and its optimizer. */
export interface TrainModel {
  /** The encoder. */
  encoder: Encoder;
  /** The learnable class centers, `classes × embedDim`. */
  centers: tf.Variable;
  /** Every parameter by checkpoint name: `encoder.<name>` and `centers`. */
  params: Map<string, tf.Variable>;
  /** AdamW over `params`. */
  opt: AdamW;
}

/**
 * Builds the encoder (seeded by `config.seed`; or takes `given`, a ready one to fine-tune), the
 * class centers (`config.centersInit`) and AdamW (weight decay as the encoder kind wants it), in
 * that order.
 */
export async function createTrainModel(
  c: TrainConfig,
  data: TrainData,
  x: GpuMatrix | undefined,
  n: number,
  given?: Encoder,
): Promise<TrainModel> {
  const encoder = given ?? createEncoder({
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
  const inputDim = data.inputShape.reduce((a, b) => a * b, 1);
  if (encoder.spec.embedDim !== c.embedDim || encoder.inputDim !== inputDim) {
    throw new TypeError(
      `Expected an encoder from ${inputDim} inputs to embedDim=${c.embedDim} but found ${encoder.inputDim} to ${encoder.spec.embedDim}`,
    );
  }
  const centersInit = await initialCenters(encoder, data, x, c, n);
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
  return { encoder, centers, params, opt };
}

/**
 * The centers' starting values: k-means centroids in embedding space, else the normalised mean
 * of each cluster's initial embeddings (`assignments`), for `centersInit: "kmeans"`; small
 * seeded normal values otherwise.
 */
async function initialCenters(
  encoder: Encoder,
  data: TrainData,
  x: GpuMatrix | undefined,
  c: TrainConfig,
  n: number,
): Promise<tf.Tensor> {
  if (c.centersInit === "kmeans") {
    const k = data.centroids;
    if (k && k.rows === c.classes && k.cols === c.embedDim) {
      return tf.tensor2d(k.data, [k.rows, k.cols]);
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
      return tf.tensor2d(w, [c.classes, c.embedDim]);
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
    return tf.tensor2d(w, [c.classes, c.embedDim]);
  }
}

/**
 * One optimisation step on a batch: the loss, its gradients and the AdamW update at `lr`.
 * Disposes `xt`. Returns the loss; a loss that is not finite is a RangeError naming the step
 * (`step` steps are done before this one).
 */
export async function trainStep(
  gpu: Gpu,
  model: TrainModel,
  xt: tf.Tensor2D,
  positives: Uint32Array,
  sampled: Uint32Array,
  c: TrainConfig,
  lr: number,
  step: number,
): Promise<number> {
  const { encoder, centers, params, opt } = model;
  const { value, grads } = tf.variableGrads(
    () =>
      mlcdLossOp(gpu, encoder.apply(xt), centers as tf.Tensor2D, positives, {
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
  const loss = (await value.data())[0]!;
  tf.dispose([xt, value, ...Object.values(grads)]);
  if (!Number.isFinite(loss)) {
    throw new RangeError(`Training diverged: loss is ${loss} at step ${step + 1}`);
  }
  return loss;
}
