// Restores a trained encoder (and its centers) from a checkpoint directory.
import { createEncoder, type Encoder } from "../model/encoder.ts";
import { tf } from "../model/tf.ts";
import { type CheckpointManifest, loadCheckpoint } from "./checkpoint.ts";

/**
 * Loads the encoder of a checkpoint written by `train` (shapes checked before any weight is
 * assigned). Call `useTfBackend(gpu)` first.
 *
 * @param dir The run directory holding `checkpoint.json`.
 * @returns The encoder, the class centers (`classes × embedDim`) and the manifest.
 *
 * @example Usage
 * ```ts ignore
 * await useTfBackend(gpu);
 * const { encoder } = await loadEncoder("runs/demo/mlcd-l8");
 * ```
 */
export async function loadEncoder(
  dir: string,
): Promise<{ encoder: Encoder; centers: tf.Tensor2D; manifest: CheckpointManifest }> {
  const { manifest, tensors } = await loadCheckpoint(dir);
  if ([...tensors.keys()].some((k) => k.startsWith("encoder.vision_model."))) {
    throw new TypeError(
      `Cannot load checkpoint ${dir} on its own: it fine-tunes a Hugging Face model; resume it with train --model, or write the model with --save-hf and use --model`,
    );
  }
  const encoder = createEncoder(manifest.encoder, { seed: 0 });
  const pending: [tf.Variable, Float32Array][] = [];
  for (const [name, v] of encoder.params) {
    const t = tensors.get(`encoder.${name}`);
    if (!t || t.dtype !== "F32" || JSON.stringify(t.shape) !== JSON.stringify(v.shape)) {
      encoder.dispose();
      throw new TypeError(
        `Cannot load checkpoint ${dir}: tensor "encoder.${name}" has shape ${
          t ? JSON.stringify(t.shape) : "(missing)"
        }, expected ${JSON.stringify(v.shape)}`,
      );
    }
    pending.push([v, t.data as Float32Array]);
  }
  const c = tensors.get("centers");
  if (!c || c.shape.length !== 2 || c.shape[1] !== manifest.encoder.embedDim) {
    encoder.dispose();
    throw new TypeError(
      `Cannot load checkpoint ${dir}: the "centers" tensor is missing or malformed`,
    );
  }
  for (const [v, data] of pending) {
    const x = tf.tensor(data, v.shape);
    v.assign(x);
    x.dispose();
  }
  const centers = tf.tensor2d(c.data as Float32Array, c.shape as [number, number]);
  return { encoder, centers, manifest };
}
