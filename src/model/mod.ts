/**
 * Encoders in tfjs-core ops on the toolkit's GPU device (`head` MLP, `cnn`, `vit`), and image
 * decoding for the `cnn` encoder.
 *
 * @example Usage
 * ```ts ignore
 * import { createEncoder, embed } from "./mod.ts";
 * const enc = createEncoder({ kind: "head", inputShape: [784], embedDim: 128 }, 1);
 * ```
 *
 * @module
 */
export * from "./encoder.ts";
export * from "./images.ts";
export * from "./vit.ts";
export { useTfBackend } from "./tf.ts";
