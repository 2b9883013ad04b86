/**
 * Training with the MLCD loss: the config object, AdamW, the training loop with checkpoints
 * and exact resume, checkpoint loading, safetensors, image training streams and the MLCD loss
 * as a differentiable tfjs op. npm: tfjs (`@tensorflow/tfjs`,
 * `@tensorflow/tfjs-backend-webgpu`), and `sharp` and `tar-stream` for image streams.
 *
 * @example Train an MLP on pseudo-labels
 * ```ts ignore
 * import { createGpu, pseudoLabels } from "./mod.ts";
 * import { resolveTrainConfig, train } from "./train.ts";
 * const gpu = await createGpu();
 * const config = resolveTrainConfig({ classes: 300, l: 8, epochs: 5 });
 * const { indices: positives } = await pseudoLabels(gpu, x, { classes: 300, l: 8 });
 * const { encoder } = await train(gpu, { x, inputShape: [784], positives }, config);
 * ```
 *
 * @module
 */
export * from "./src/train/mod.ts";
export * from "./src/loss/tfjs_op.ts";
