// Private to src/train: a training run's state in its checkpoint (every parameter and its
// AdamW moments, the step, the optimizer's step count and the negative sampler's state):
// written by saveTrainState, checked whole and then restored by restoreTrainState.
import { tf } from "../model/tf.ts";
import { TOOLKIT_VERSION } from "../version.ts";
import { type CheckpointManifest, loadCheckpoint, saveCheckpoint } from "./checkpoint.ts";
import { DEFAULT_TRAIN_CONFIG, type TrainConfig } from "./config.ts";
import type { NamedTensor } from "./safetensors.ts";
import type { StreamedTensor } from "./safetensors_stream.ts";
import type { TrainModel } from "./_train_model.ts";

/** The data a run trains on, as a checkpoint records it (checked on resume). */
export interface TrainDataShape {
  /** Samples per epoch. */
  rows: number;
  /** Values per input sample. */
  inputDim: number;
}

/** Where a run stands, as its checkpoint records it besides the tensors. */
export interface TrainPosition {
  /** Steps done. */
  step: number;
  /** Steps of the run. */
  totalSteps: number;
  /** True when training finished. */
  done: boolean;
  /** The negative sampler's RNG state. */
  samplerState: number;
}

/** Every variable of the state under its checkpoint name: each parameter, then its moments. */
function stateVariables(model: TrainModel): [string, tf.Variable][] {
  const entries: [string, tf.Variable][] = [];
  for (const [name, v] of model.params) {
    entries.push([name, v], [`adam.m.${name}`, model.opt.m.get(name)!], [
      `adam.v.${name}`,
      model.opt.v.get(name)!,
    ]);
  }
  return entries;
}

/** Writes the run's state as the checkpoint in `runDir` (see `saveCheckpoint`). */
export async function saveTrainState(
  runDir: string,
  model: TrainModel,
  c: TrainConfig,
  data: TrainDataShape,
  at: TrainPosition,
): Promise<CheckpointManifest> {
  // Each variable is read from the device when the checkpoint file reaches it.
  const tensors = new Map<string, StreamedTensor>();
  for (const [k, v] of stateVariables(model)) {
    tensors.set(k, {
      dtype: "F32",
      shape: [...v.shape],
      data: () => v.data() as Promise<Float32Array>,
    });
  }
  return await saveCheckpoint(runDir, tensors, {
    format: "mlcd-checkpoint",
    formatVersion: 1,
    toolkitVersion: TOOLKIT_VERSION,
    config: c,
    encoder: model.encoder.spec,
    step: at.step,
    totalSteps: at.totalSteps,
    done: at.done,
    optimizerT: model.opt.t,
    rng: { seed: c.seed, samplerState: at.samplerState },
    data: { rows: data.rows, inputDim: data.inputDim, l: c.l },
  });
}

/**
 * Restores the checkpoint in `runDir` into `model` (parameters, moments, the optimizer's step
 * count) after checking that its config (but `checkpointEvery`), its data and every tensor's
 * shape match: a TypeError "Cannot resume: …" naming the difference, and no variable touched.
 * With `extend`, `c.epochs` may be larger than the checkpoint's (the run is trained further).
 * Returns its manifest: the step and the sampler's state to continue from.
 */
export async function restoreTrainState(
  runDir: string,
  model: TrainModel,
  c: TrainConfig,
  data: TrainDataShape,
  options: { extend?: boolean } = {},
): Promise<CheckpointManifest> {
  const ck = await loadCheckpoint(runDir);
  const m = ck.manifest;
  const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);
  const { checkpointEvery: _a, ...cfgNow } = c;
  // Keys added after the checkpoint was written (e.g. the vit keys) take their defaults.
  const { checkpointEvery: _b, ...cfgThen } = { ...DEFAULT_TRAIN_CONFIG, ...m.config };
  if (options.extend && cfgNow.epochs > cfgThen.epochs) cfgThen.epochs = cfgNow.epochs;
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
  if (m.data.rows !== data.rows || m.data.inputDim !== data.inputDim || m.data.l !== c.l) {
    throw new TypeError(
      `Cannot resume: the checkpoint was trained on ${m.data.rows} rows of ${m.data.inputDim} values (l=${m.data.l}) but the data has ${data.rows} rows of ${data.inputDim} (l=${c.l})`,
    );
  }
  // Check every tensor before touching any variable: never half-loaded.
  const targets: [tf.Variable, NamedTensor][] = [];
  for (const [key, target] of stateVariables(model)) {
    const t = ck.tensors.get(key);
    if (!t || t.dtype !== "F32" || !same(t.shape, target.shape)) {
      throw new TypeError(
        `Cannot resume: tensor "${key}" in the checkpoint is ${
          t ? `${t.dtype} ${JSON.stringify(t.shape)}` : "missing"
        }, expected F32 ${JSON.stringify(target.shape)}`,
      );
    }
    targets.push([target, t]);
  }
  for (const [v, t] of targets) {
    const x = tf.tensor(t.data as Float32Array, t.shape);
    v.assign(x);
    x.dispose();
  }
  model.opt.t = m.optimizerT;
  return m;
}
