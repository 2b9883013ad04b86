/**
 * Encoders in tfjs-core ops on the toolkit's GPU device (`head` MLP, `cnn`, `vit`), and image
 * decoding for the `cnn` encoder.
 *
 * @example Usage
 * ```ts ignore
 * import { createEncoder, embed } from "./mod.ts";
 * const enc = createEncoder({ kind: "head", inputShape: [784], embedDim: 128 }, { seed: 1 });
 * ```
 *
 * @module
 */
export * from "./encoder.ts";
export {
  CLIP_MEAN,
  CLIP_STD,
  type DecodedImages,
  decodeImages,
  type DecodeImagesOptions,
  decodeRgb,
  IMAGE_EXTENSIONS,
  listImages,
  type RgbImage,
  transformImage,
  type TransformImageOptions,
} from "./images.ts";
export { VIT_PRESETS, type VitPresetName, type VitShape } from "./vit.ts";
export { useTfBackend } from "./tf.ts";
