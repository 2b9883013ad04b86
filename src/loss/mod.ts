/**
 * The MLCD loss (Multi-label Cluster Discrimination, paper Eq. 5) on the GPU: forward and
 * backward WGSL kernels with Partial-FC negative sampling, the multi-label softmax (MLC)
 * baseline, a float64 reference, and a differentiable tfjs op on the same device.
 *
 * @example Usage
 * ```ts ignore
 * import { mlcdLoss, sampleClasses } from "./mod.ts";
 * const sampled = sampleClasses(positives, { classes: centers.rows, ratio: 0.1, seed: step });
 * const { loss, gradEmbeddings, gradCenters } = await mlcdLoss(
 *   gpu, embeddings, centers, positives, { sampled },
 * );
 * ```
 *
 * @module
 */
export * from "./mlcd_loss.ts";
export * from "./mlcd_loss_reference.ts";
export * from "./sample_classes.ts";
export * from "./tfjs_op.ts";
