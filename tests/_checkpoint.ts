// Test helper: the checkpoint of an untrained encoder, written in-process without a training
// run (enough for `embed` and `eval`), optionally with its weights changed after the fact.
import { createEncoder, type EncoderSpec } from "../src/model/encoder.ts";
import { useTfBackend } from "../src/model/tf.ts";
import { saveCheckpoint } from "../src/train/checkpoint.ts";
import { DEFAULT_TRAIN_CONFIG } from "../src/train/config.ts";
import type { NamedTensor } from "../src/train/safetensors.ts";
import { TOOLKIT_VERSION } from "../src/version.ts";
import { testGpu } from "./_gpu.ts";

/**
 * Writes `dir/checkpoint.json` and its tensors for a fresh encoder of `spec` (seeded), with
 * `classes` class centers; `edit` may change the tensors before they are saved (the sha256 is
 * computed over what is saved, so the checkpoint verifies).
 */
export async function writeUntrainedCheckpoint(
  dir: string,
  spec: EncoderSpec,
  o: { seed?: number; classes?: number; edit?: (t: Map<string, NamedTensor>) => void } = {},
): Promise<void> {
  await useTfBackend(await testGpu());
  const encoder = createEncoder(spec, { seed: o.seed ?? 1 });
  const tensors = new Map<string, NamedTensor>();
  for (const [name, v] of encoder.params) {
    const data = await v.data() as Float32Array;
    tensors.set(`encoder.${name}`, { dtype: "F32", shape: [...v.shape], data });
  }
  const classes = o.classes ?? 3, d = encoder.spec.embedDim;
  tensors.set("centers", {
    dtype: "F32",
    shape: [classes, d],
    data: new Float32Array(classes * d).map((_, i) => Math.sin(i + 1)),
  });
  o.edit?.(tensors);
  await saveCheckpoint(dir, tensors, {
    format: "mlcd-checkpoint",
    formatVersion: 1,
    toolkitVersion: TOOLKIT_VERSION,
    config: { ...DEFAULT_TRAIN_CONFIG, classes, embedDim: d },
    encoder: encoder.spec,
    step: 0,
    totalSteps: 0,
    done: true,
    optimizerT: 0,
    rng: { seed: 1, samplerState: 0 },
    data: { rows: 0, inputDim: encoder.inputDim, l: 1 },
  });
  encoder.dispose();
}
