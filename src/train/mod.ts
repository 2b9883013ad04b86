/**
 * Training: the config object, AdamW, the MLCD training loop with checkpoints and exact
 * resume, pseudo-labels (k-means + top-l assignment), checkpoint loading and the run
 * directory's lifecycle.
 *
 * @example Usage
 * ```ts ignore
 * import { pseudoLabels, resolveTrainConfig, train } from "./mod.ts";
 * const config = resolveTrainConfig({ classes: 300, l: 8, epochs: 5 });
 * const { indices: positives } = await pseudoLabels(gpu, x, { classes: 300, l: 8 });
 * const { encoder } = await train(gpu, { x, inputShape: [784], positives }, config, { runDir: "runs/a" });
 * ```
 *
 * @module
 */
export { AdamW, type AdamWOptions } from "./adamw.ts";
export { type CheckpointManifest, loadCheckpoint, saveCheckpoint } from "./checkpoint.ts";
export { DEFAULT_TRAIN_CONFIG, resolveTrainConfig, type TrainConfig } from "./config.ts";
export {
  AUTO_WARMUP_FRACTION,
  AUTO_WARMUP_MAX,
  type ResolvedWarmup,
  resolveWarmup,
} from "./warmup.ts";
export * from "./load_encoder.ts";
export * from "./pseudo_labels.ts";
export * from "./safetensors.ts";
export { safetensorsStream, type StreamedTensor } from "./safetensors_stream.ts";
export * from "./trainer.ts";
export { imageTrainStream, type ImageTrainStreamOptions } from "./image_stream.ts";
export { openRunDir, type OpenRunOptions, type RunDir } from "./run_dir.ts";
export { readRunRecord, RUN_RECORD_NAME, type RunRecord, type RunSources } from "./run_record.ts";
