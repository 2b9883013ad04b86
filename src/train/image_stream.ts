// Streams augmented image batches with their positives into train(): the bridge between the
// image loader (WebDataset shards or folders) and the trainer, and the key join of labels.
import {
  type ImageIndex,
  type SkippedSample,
  streamImageBatches,
  type StreamImageBatchesOptions,
} from "../data/image_loader.ts";
import type { TrainBatch, TrainStream } from "./train_data.ts";

/** How a label table matched the samples of an {@linkcode ImageIndex}. */
export interface LabelJoin {
  /** For every sample ordinal, its row in the label table, or -1 when it has no label. */
  rowOf: Int32Array;
  /** Samples that have a label. */
  matched: number;
  /** Samples without a label (left out of training). */
  samplesWithoutLabel: number;
  /** Label rows whose key names no sample. */
  labelsWithoutSample: number;
}

/**
 * Joins a label table to the samples: by key when the table has ids (`deno task assign` writes
 * the sample keys as its `id` column), else row `i` labels the `i`-th sample in read order.
 *
 * @param index The samples.
 * @param rows Rows of the label table.
 * @param ids The table's ids, when it has some.
 * @returns The join and its counts.
 * @throws {TypeError} When a table without ids has a different row count than the samples.
 *
 * @example Usage
 * ```ts ignore
 * const { rowOf, samplesWithoutLabel } = joinLabels(index, labels.rows, labels.ids);
 * ```
 */
export function joinLabels(
  index: ImageIndex,
  rows: number,
  ids?: ArrayLike<string | number | bigint>,
): LabelJoin {
  const n = index.keys.length;
  const rowOf = new Int32Array(n).fill(-1);
  if (!ids) {
    if (rows !== n) {
      throw new TypeError(
        `Expected ${n} label rows (one per sample in read order) but found ${rows}; write labels with ids (mlcd assign on embeddings with metadata) to join by key`,
      );
    }
    for (let i = 0; i < n; i++) rowOf[i] = i;
    return { rowOf, matched: n, samplesWithoutLabel: 0, labelsWithoutSample: 0 };
  }
  const byKey = new Map<string, number>();
  for (let r = 0; r < ids.length; r++) byKey.set(String(ids[r]), r);
  let matched = 0;
  const used = new Uint8Array(ids.length);
  for (let i = 0; i < n; i++) {
    const r = byKey.get(index.keys[i]!);
    if (r === undefined) continue;
    rowOf[i] = r;
    if (!used[r]) used[r] = 1;
    matched++;
  }
  let usedCount = 0;
  for (const u of used) usedCount += u;
  return {
    rowOf,
    matched,
    samplesWithoutLabel: n - matched,
    labelsWithoutSample: ids.length - usedCount,
  };
}

/** Options of {@linkcode imageTrainStream}. */
export interface ImageTrainStreamOptions {
  /** Image side. */
  size: number;
  /** Channels. @default {3} */
  channels?: 1 | 3;
  /** Seed of the order and augmentations (the training seed). */
  seed: number;
  /** Labels per sample. */
  l: number;
  /** Augmentation. @default {"crop-flip"} */
  augment?: "crop-flip" | "crop" | "none";
  /** Smallest random-resized crop area. @default {0.35} */
  minScale?: number;
  /** Samples held by the shard shuffle buffer. @default {1000} */
  shuffleBuffer?: number;
  /** Called for every skipped (corrupt) sample. @default {undefined} */
  onSkip?: (s: SkippedSample) => void;
  /** The loader's image transform (a Hugging Face processor). @default {transformImage} */
  transform?: StreamImageBatchesOptions["transform"];
}

/**
 * A {@linkcode TrainStream} over labelled images: epoch `e` reads the samples that have labels
 * in the loader's seeded training order (random-resized crop + flip), batch by batch; resuming
 * at a step skips the epoch's earlier batches without decoding them.
 *
 * @param index The samples.
 * @param rowOf From {@linkcode joinLabels}: every ordinal's row in `positives`, or -1.
 * @param positives `rows × l` positive class ids.
 * @param options See {@linkcode ImageTrainStreamOptions}.
 * @returns The stream.
 *
 * @example Usage
 * ```ts ignore
 * const stream = imageTrainStream(index, join.rowOf, labels, { size: 32, seed: 1, l: 8 });
 * await train(gpu, { stream, inputShape: [32, 32, 3] }, config);
 * ```
 */
export function imageTrainStream(
  index: ImageIndex,
  rowOf: Int32Array,
  positives: Uint32Array,
  options: ImageTrainStreamOptions,
): TrainStream {
  let rows = 0;
  for (const r of rowOf) if (r >= 0) rows++;
  const l = options.l;
  return {
    rows,
    async *batches(fromStep, batchSize, stepsPerEpoch): AsyncGenerator<TrainBatch> {
      let step = fromStep;
      while (true) {
        const epoch = Math.floor(step / stepsPerEpoch);
        const skip = step % stepsPerEpoch;
        const src = streamImageBatches(index, {
          size: options.size,
          channels: options.channels ?? 3,
          batchSize,
          train: true,
          seed: options.seed,
          epoch,
          shuffleBuffer: options.shuffleBuffer ?? 1000,
          augment: options.augment ?? "crop-flip",
          minScale: options.minScale ?? 0.35,
          include: (o) => rowOf[o]! >= 0,
          skipBatches: skip,
          maxBatches: stepsPerEpoch - skip,
          ...(options.onSkip ? { onSkip: options.onSkip } : {}),
          ...(options.transform ? { transform: options.transform } : {}),
        });
        for await (const b of src) {
          const p = new Uint32Array(b.rows * l);
          for (let i = 0; i < b.rows; i++) {
            const r = rowOf[b.ordinals[i]!]!;
            p.set(positives.subarray(r * l, (r + 1) * l), i * l);
          }
          yield { x: b.x, positives: p, rows: b.rows };
          step++;
        }
        // An epoch whose samples ran out early (skipped images) ends with empty steps.
        while (step % stepsPerEpoch !== 0 || step === fromStep) {
          yield { x: new Float32Array(0), positives: new Uint32Array(0), rows: 0 };
          step++;
        }
      }
    },
  };
}
