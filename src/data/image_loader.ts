/**
 * The streaming image loader behind `train`, `eval` and `embed`: WebDataset shards or image
 * folders are indexed once (keys only, `image_index.ts`), then read in a seeded order (the
 * private `_sample_order.ts`), decoded and augmented by sharp in a bounded pool, and handed out
 * as batches through a prefetch queue of a few batches. The images in memory are the shuffle buffer, the pool and the queue, whatever the
 * dataset size; the index holds only the sample keys.
 *
 * @module
 */

import { transformImage, type TransformImageOptions } from "../model/images.ts";
import { mixSeed, Rng } from "../random/rng.ts";
import type { ImageIndex } from "./image_index.ts";
import { epochSamples, type Pending } from "./_sample_order.ts";

export { type ImageIndex, indexImages } from "./image_index.ts";

/** One batch of decoded images. */
export interface ImageBatch {
  /** `rows × size·size·channels` CLIP-normalised HWC values. */
  x: Float32Array;
  /** Rows in the batch (fewer than asked when images failed to decode, or at the end). */
  rows: number;
  /** Each row's sample key. */
  keys: string[];
  /** Each row's ordinal in the {@linkcode ImageIndex}. */
  ordinals: Uint32Array;
}

/** A sample that was skipped because it could not be read or decoded. */
export interface SkippedSample {
  /** The sample key (or the shard, when the shard itself is damaged). */
  key: string;
  /** The shard or file. */
  source: string;
  /** Why. */
  message: string;
}

/** Options of {@linkcode streamImageBatches}. */
export interface StreamImageBatchesOptions {
  /** Output side length. */
  size: number;
  /** 3 (RGB) or 1 (grey). @default {3} */
  channels?: 1 | 3;
  /** Rows per batch. @default {256} */
  batchSize?: number;
  /**
   * Training mode: seeded shuffle (shard order plus a shuffle buffer; a full permutation for
   * image files) and random-resized crop + flip. Off: read order, resize + centre crop.
   * @default {false}
   */
  train?: boolean;
  /** Seed of the order and the augmentations. @default {1} */
  seed?: number;
  /** Epoch: the order and augmentations of every epoch differ, and are reproducible. @default {0} */
  epoch?: number;
  /** Samples held by the shuffle buffer when reading shards. @default {1000} */
  shuffleBuffer?: number;
  /**
   * Augmentation in training mode: random-resized crop and flip, the crop alone, or none.
   * @default {"crop-flip"}
   */
  augment?: "crop-flip" | "crop" | "none";
  /** Smallest random-resized crop area. @default {0.35} */
  minScale?: number;
  /** Keep only these ordinals (e.g. the samples that have labels). @default {undefined} */
  include?: (ordinal: number) => boolean;
  /** Skip this many batches of the epoch's order without decoding them (resume). @default {0} */
  skipBatches?: number;
  /** Stop after this many batches. @default {Infinity} */
  maxBatches?: number;
  /** Images decoded at once (sharp works on libvips threads). @default {8} */
  concurrency?: number;
  /** Batches decoded ahead of the consumer. @default {3} */
  prefetch?: number;
  /** Called for every skipped (corrupt) sample. @default {undefined} */
  onSkip?: (s: SkippedSample) => void;
  /**
   * Turns an encoded image into a row, e.g. a Hugging Face model's processor (`hfImageTransform`).
   * @default {transformImage}
   */
  transform?: (bytes: Uint8Array, options: TransformImageOptions) => Promise<Float32Array>;
}

/**
 * Streams decoded batches of an {@linkcode ImageIndex}: the seeded epoch order, a bounded pool
 * of sharp decodes and a prefetch queue of a few batches. Batch `b` of an epoch always holds
 * the samples at positions `[b·batchSize, (b+1)·batchSize)` of that epoch's order, with the same
 * augmentation (seeded by seed, epoch and ordinal), so a resumed run (`skipBatches`) sees the
 * same images in the same order. A sample that fails to decode is skipped and reported; its
 * batch is one row shorter.
 *
 * @param index From {@linkcode indexImages}.
 * @param options See {@linkcode StreamImageBatchesOptions}.
 * @returns The batches.
 *
 * @example Usage
 * ```ts ignore
 * for await (const b of streamImageBatches(index, { size: 32, batchSize: 64 })) use(b.x, b.keys);
 * ```
 */
export async function* streamImageBatches(
  index: ImageIndex,
  options: StreamImageBatchesOptions,
): AsyncGenerator<ImageBatch> {
  const size = options.size, ch = options.channels ?? 3;
  if (!Number.isInteger(size) || size < 1 || size > 4096) {
    throw new RangeError(`Expected size to be an integer in [1, 4096] but found ${size}`);
  }
  const bs = options.batchSize ?? 256, skip = options.skipBatches ?? 0;
  const maxBatches = options.maxBatches ?? Infinity;
  const per = size * size * ch;
  const seed = options.seed ?? 1, epoch = options.epoch ?? 0;
  const onSkip = options.onSkip ?? (() => {});
  const concurrency = Math.max(1, options.concurrency ?? 8);
  const prefetch = Math.max(1, options.prefetch ?? 3);
  const augment = options.augment ?? "crop-flip";

  const decode = async (p: Pending): Promise<Float32Array | null> => {
    try {
      const bytes = typeof p.bytes === "function" ? await p.bytes() : p.bytes;
      const rng = new Rng(mixSeed(seed, 204, epoch, p.ordinal));
      return await (options.transform ?? transformImage)(bytes, {
        size,
        channels: ch,
        ...(options.train && augment !== "none"
          ? {
            augment: {
              random: () => rng.next(),
              minScale: options.minScale ?? 0.35,
              flip: augment === "crop-flip",
            },
          }
          : {}),
      });
    } catch (e) {
      onSkip({ key: p.key, source: p.source, message: (e as Error).message });
      return null;
    }
  };

  // Producer: positions → decoded rows → batches, into a queue of at most `prefetch` batches.
  const queue: (ImageBatch | Error | null)[] = [];
  let wake: (() => void) | undefined, space: (() => void) | undefined;
  let stopped = false;
  const notify = () => {
    wake?.();
    wake = undefined;
  };
  const producer = (async () => {
    const src = epochSamples(index, {
      train: !!options.train,
      seed,
      epoch,
      shuffleBuffer: options.shuffleBuffer ?? 1000,
      include: options.include ?? (() => true),
    }, onSkip);
    try {
      let pos = 0, made = 0;
      let group: Pending[] = [];
      const flush = async () => {
        const rows = await mapPool(group, decode, concurrency);
        const ok = rows.filter((r) => r !== null).length;
        const b: ImageBatch = {
          x: new Float32Array(ok * per),
          rows: ok,
          keys: [],
          ordinals: new Uint32Array(ok),
        };
        let r = 0;
        group.forEach((p, i) => {
          const v = rows[i];
          if (!v) return;
          b.x.set(v, r * per);
          b.keys.push(p.key);
          b.ordinals[r++] = p.ordinal;
        });
        group = [];
        while (queue.length >= prefetch && !stopped) await new Promise<void>((r) => space = r);
        if (stopped) return;
        queue.push(b);
        made++;
        notify();
      };
      for await (const p of src) {
        if (stopped || made >= maxBatches) break;
        const batchNo = Math.floor(pos++ / bs);
        if (batchNo < skip) continue;
        group.push(p);
        if (group.length === bs) await flush();
      }
      if (group.length && !stopped && made < maxBatches) await flush();
      queue.push(null);
    } catch (e) {
      queue.push(e as Error);
    } finally {
      await src.return(undefined);
      notify();
    }
  })();
  try {
    while (true) {
      while (queue.length === 0) await new Promise<void>((r) => wake = r);
      const b = queue.shift()!;
      space?.();
      space = undefined;
      if (b === null) return;
      if (b instanceof Error) throw b;
      yield b;
    }
  } finally {
    stopped = true;
    space?.();
    await producer;
  }
}

/** Maps `fn` over `items` with at most `limit` calls in flight; results in input order. */
async function mapPool<T, R>(items: T[], fn: (t: T) => Promise<R>, limit: number): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/**
 * Decodes every sample of an index in read order (resize + centre crop) into one matrix: for
 * evaluation sets and pixel k-means, where all rows are needed at once anyway.
 *
 * @param index From {@linkcode indexImages}.
 * @param options Size, channels, concurrency, `onSkip` and `onBatch` progress.
 * @returns Rows in read order (skipped samples left out) and their keys.
 *
 * @example Usage
 * ```ts ignore
 * const { x, keys } = await decodeIndex(await indexImages(["shards/"]), { size: 32 });
 * ```
 */
export async function decodeIndex(
  index: ImageIndex,
  options: Omit<StreamImageBatchesOptions, "train" | "skipBatches" | "maxBatches"> & {
    onBatch?: (done: number, total: number) => void;
  },
): Promise<
  { x: { data: Float32Array; rows: number; cols: number }; keys: string[]; ordinals: Uint32Array }
> {
  const per = options.size * options.size * (options.channels ?? 3);
  const total = index.keys.length;
  const data = new Float32Array(total * per);
  const keys: string[] = [], ordinals = new Uint32Array(total);
  let rows = 0;
  for await (const b of streamImageBatches(index, { ...options, train: false })) {
    data.set(b.x, rows * per);
    for (let i = 0; i < b.rows; i++) {
      keys.push(b.keys[i]!);
      ordinals[rows + i] = b.ordinals[i]!;
    }
    rows += b.rows;
    options.onBatch?.(rows, total);
  }
  return {
    x: { data: rows === total ? data : data.slice(0, rows * per), rows, cols: per },
    keys,
    ordinals: ordinals.slice(0, rows),
  };
}
