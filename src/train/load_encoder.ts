// Restores a trained encoder (and its centers) from a checkpoint directory.
import { createEncoder, type Encoder, encoderParamShapes } from "../model/encoder.ts";
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
  // Rule: the file's tensors are checked against the manifest's encoder (name, dtype, shape)
  // before anything is allocated, so a manifest naming an encoder that its file does not hold
  // (e.g. `hidden: [2e9]`) is refused, not attempted.
  const bad = (why: string) => new TypeError(`Cannot load checkpoint ${dir}: ${why}`);
  const spec = manifest.encoder;
  let shapes: [string, number[]][];
  try {
    if (spec?.kind === "vit" && !(spec.depth <= tensors.size)) {
      throw new RangeError(`depth ${spec.depth} exceeds the file's ${tensors.size} tensors`);
    }
    shapes = encoderParamShapes(spec);
  } catch (e) {
    throw bad(`the manifest's encoder is invalid: ${(e as Error).message}`);
  }
  for (const [name, shape] of shapes) {
    const t = tensors.get(`encoder.${name}`);
    if (!t || t.dtype !== "F32" || JSON.stringify(t.shape) !== JSON.stringify(shape)) {
      throw bad(
        `tensor "encoder.${name}" is ${
          t ? `${t.dtype} ${JSON.stringify(t.shape)}` : "missing"
        }, expected F32 ${JSON.stringify(shape)}`,
      );
    }
  }
  const c = tensors.get("centers");
  if (!c || c.dtype !== "F32" || c.shape.length !== 2 || c.shape[1] !== spec.embedDim) {
    throw bad(
      `tensor "centers" is ${
        c ? `${c.dtype} ${JSON.stringify(c.shape)}` : "missing"
      }, expected F32 [classes,${spec.embedDim}]`,
    );
  }
  const encoder = createEncoder(spec, { seed: 0 });
  for (const [name, v] of encoder.params) {
    const x = tf.tensor(tensors.get(`encoder.${name}`)!.data as Float32Array, v.shape);
    v.assign(x);
    x.dispose();
  }
  const centers = tf.tensor2d(c.data as Float32Array, c.shape as [number, number]);
  return { encoder, centers, manifest };
}
