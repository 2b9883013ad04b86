/**
 * Encoders in tfjs ops on the toolkit's own GPU device: a `head` MLP over vectors, a small
 * `cnn` and a `vit` (presets up to ViT-L/14) over images; `embed` runs one over rows.
 * npm: `@tensorflow/tfjs` and `@tensorflow/tfjs-backend-webgpu`.
 *
 * @example An MLP head
 * ```ts ignore
 * import { createEncoder, embed } from "./model.ts";
 * const enc = createEncoder({ kind: "head", inputShape: [784], embedDim: 128 }, { seed: 1 });
 * const emb = await embed(enc, x);
 * ```
 *
 * @module
 */
export * from "./src/model/encoder.ts";
export { VIT_PRESETS, type VitPresetName, type VitShape } from "./src/model/vit.ts";
export { useTfBackend } from "./src/model/tf.ts";
