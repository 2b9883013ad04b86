// deno task train on images (WebDataset shards or folders): labels joined by sample key or
// pseudo-labels from k-means of the pixels, then a streamed, augmented TrainStream.
import type { Gpu } from "../gpu/gpu.ts";
import { readArrowLabels } from "../data/arrow.ts";
import { writeFileAtomic } from "../fs/atomic.ts";
import { clusterSizes, writeKmeansStats } from "../eval/run_report.ts";
import { decodeIndex } from "../data/image_loader.ts";
import { mixSeed } from "../random/rng.ts";
import type { TrainConfig } from "../train/config.ts";
import {
  imageTrainStream,
  type ImageTrainStreamOptions,
  joinLabels,
} from "../train/image_stream.ts";
import type { ImageIndex } from "../data/image_loader.ts";
import { pseudoLabels } from "../train/pseudo_labels.ts";
import { encodeSafetensors } from "../train/safetensors.ts";
import { readRunLabels } from "../train/run_dir.ts";
import type { TrainData } from "../train/trainer.ts";
import { indexImageInputs, readLabels } from "./_data_source.ts";
import { progress } from "./_cli.ts";
import { kmeansProgress } from "./_kmeans_progress.ts";

/** What the image run's labels give: each indexed sample's row (-1: none), the rows' positives. */
interface ImageLabels {
  rowOf: Int32Array;
  positives: Uint32Array;
  write?: () => Promise<void>;
}

type OnSkip = (s: { key: string; source: string; message: string }) => void;

/** Options of {@linkcode prepareImageTraining}. */
interface ImageRunOptions {
  runDir: string;
  labels?: string;
  resume: boolean;
  limit?: number;
  imageSize: number;
  /** The image transform (a Hugging Face model's processor); default the loader's. */
  transform?: ImageTrainStreamOptions["transform"];
}

/** Builds the streamed training data of an image run. */
export async function prepareImageTraining(
  gpu: Gpu,
  inputs: string[],
  config: TrainConfig,
  o: ImageRunOptions,
): Promise<{ data: TrainData; n: number; write?: () => Promise<void> }> {
  // Nothing is written here: the caller runs `write` once every input is validated.
  const index = await indexImageInputs("train", inputs);
  if (o.limit !== undefined && o.limit < index.keys.length) {
    index.keys.length = o.limit;
    index.starts = index.starts.map((s) => Math.min(s, o.limit!));
    if (index.kind === "files") index.sources.length = o.limit;
  }
  const size = o.imageSize;
  let skipped = 0;
  const onSkip: OnSkip = (s) => {
    skipped++;
    progress(`train: skipped ${s.key} (${s.source}): ${s.message} [${skipped} skipped]`);
  };
  const { rowOf, positives, write } = o.labels
    ? await givenLabels(index, config, o.labels, o)
    : await imagePseudoLabels(gpu, index, config, o, onSkip);
  const stream = imageTrainStream(index, rowOf, positives, {
    size,
    seed: config.seed,
    l: config.l,
    augment: config.augment,
    minScale: config.minCropScale,
    onSkip,
    ...(o.transform ? { transform: o.transform } : {}),
  });
  if (config.classes > stream.rows) {
    throw new RangeError(
      `Expected classes to be at most the ${stream.rows} samples but found ${config.classes}`,
    );
  }
  progress(
    `train: streaming ${stream.rows} labelled images, ${size}×${size}×3, augment ${config.augment}`,
  );
  return {
    data: { stream, inputShape: [size, size, 3] },
    n: stream.rows,
    ...(write ? { write } : {}),
  };
}

/** `--labels`: joined to the samples by key (Parquet with keys, Arrow with ids) or in read order. */
async function givenLabels(
  index: ImageIndex,
  config: TrainConfig,
  labels: string,
  o: ImageRunOptions,
): Promise<ImageLabels> {
  const l = config.l;
  let rows: number, ids: ArrayLike<string | number | bigint> | undefined, positives: Uint32Array;
  if (/\.(arrow|feather|ipc|parquet)$/i.test(labels)) {
    // Parquet labels (deno task assign --out labels.parquet) carry the sample keys as `key`.
    const t = /\.parquet$/i.test(labels)
      ? await (await import("../data/parquet.ts")).readParquetLabels(labels)
      : await readArrowLabels(labels);
    if (t.l !== l) {
      throw new TypeError(`Expected ${labels} to hold l=${l} labels per row but found ${t.l}`);
    }
    positives = t.indices;
    rows = t.rows;
    ids = t.ids;
  } else {
    const t = await readLabels(labels, index.keys.length);
    if (t.cols !== l) {
      throw new TypeError(`Expected ${labels} to hold l=${l} labels per row but found ${t.cols}`);
    }
    positives = t.data;
    rows = index.keys.length;
  }
  const j = joinLabels(index, rows, ids);
  progress(
    `train: labels ${labels}${
      ids ? " joined by key" : " in read order"
    }: ${j.matched} matched, ${j.samplesWithoutLabel} sample(s) without a label, ${j.labelsWithoutSample} label(s) without a sample`,
  );
  const assignments = new Uint32Array(positives.length / l).map((_, i) => positives[i * l]!);
  const sizes = clusterSizesOf(assignments, j.rowOf, config.classes);
  return {
    rowOf: j.rowOf,
    positives,
    ...(o.resume ? {} : { write: () => writeKmeansStats(o.runDir, [], sizes) }),
  };
}

/** Pseudo-labels of the pixels: from the run's labels.safetensors on resume, else computed. */
async function imagePseudoLabels(
  gpu: Gpu,
  index: ImageIndex,
  config: TrainConfig,
  o: ImageRunOptions,
  onSkip: OnSkip,
): Promise<ImageLabels> {
  const l = config.l, size = o.imageSize;
  const labelsPath = `${o.runDir}/labels.safetensors`;
  let cached: { p: Uint32Array; ord: Uint32Array } | undefined;
  let write: (() => Promise<void>) | undefined;
  if (o.resume) {
    const f = await readRunLabels(labelsPath);
    const p = f.get("positives"), ord = f.get("ordinals");
    if (!p || !ord || p.shape[1] !== l || p.shape[0] !== ord.shape[0]) {
      throw new TypeError(
        `Cannot resume: ${labelsPath} holds pseudo-labels of shape ${
          JSON.stringify(p?.shape ?? null)
        } and ${ord ? "" : "no "}image ordinals, but the run needs n × l=${l} with ordinals`,
      );
    }
    cached = { p: p.data as Uint32Array, ord: ord.data as Uint32Array };
  }
  if (!cached) {
    progress(`train: decoding ${index.keys.length} images (${size} px) for k-means`);
    const d = await decodeIndex(index, { size, onSkip });
    if (config.classes > d.x.rows) {
      throw new RangeError(
        `Expected classes to be at most the ${d.x.rows} samples but found ${config.classes}`,
      );
    }
    progress(
      `cluster: spherical k-means of the pixels into C=${config.classes} (${config.kmeansIters} iterations)`,
    );
    const { stats, onIteration } = kmeansProgress();
    const pl = await pseudoLabels(gpu, d.x, {
      classes: config.classes,
      l,
      niter: config.kmeansIters,
      init: config.kmeansInit,
      seed: mixSeed(config.seed, 1),
      onIteration,
    });
    write = async () => {
      await writeFileAtomic(
        labelsPath,
        encodeSafetensors(
          new Map(
            [
              ["positives", { dtype: "U32", shape: [d.x.rows, l], data: pl.indices }],
              ["assignments", { dtype: "U32", shape: [d.x.rows], data: pl.assignments }],
              ["ordinals", { dtype: "U32", shape: [d.x.rows], data: d.ordinals }],
            ] as const,
          ),
        ),
      );
      await writeKmeansStats(
        o.runDir,
        stats,
        clusterSizes(pl.assignments, { k: config.classes }),
      );
    };
    cached = { p: pl.indices, ord: d.ordinals };
  } else progress(`train: pseudo-labels from ${labelsPath}`);
  const rowOf = new Int32Array(index.keys.length).fill(-1);
  cached.ord.forEach((ord, r) => rowOf[ord] = r);
  return { rowOf, positives: cached.p, ...(write ? { write } : {}) };
}

function clusterSizesOf(assign: Uint32Array, rowOf: Int32Array, k: number): Uint32Array {
  const s = new Uint32Array(k);
  for (const r of rowOf) if (r >= 0 && assign[r]! < k) s[assign[r]!]!++;
  return s;
}
