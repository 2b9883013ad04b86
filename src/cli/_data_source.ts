// Loads a training/eval input set named on the command line: "mnist", embedding files
// (.npy / Parquet / Arrow, files or directories) or a directory of images.
import { loadMnist } from "../data/mnist.ts";
import { readEmbeddings } from "../data/embedding_files.ts";
import { readNpyArray } from "../data/npy.ts";
import { checkRows, type Matrix } from "../matrix/matrix.ts";
import { listImages } from "../model/images.ts";
import { decodeIndex, type ImageIndex, indexImages } from "../data/image_loader.ts";
import { isShardInput } from "../data/webdataset.ts";
import { readArrowLabels } from "../data/arrow.ts";
import { formatSeconds, progress } from "./_cli.ts";

export interface LoadedInputs {
  x: Matrix;
  inputShape: number[];
  kind: "mnist" | "embeddings" | "images";
  /** Labels when the source has them (MNIST). */
  y?: Uint8Array;
  /** Held-out split (MNIST). */
  test?: { x: Matrix; y: Uint8Array };
  /** The image index (images): keys and read order. */
  index?: ImageIndex;
  /** Each row's ordinal in `index` (rows of corrupt images are left out). */
  ordinals?: Uint32Array;
}

/** True when the inputs are images (shards or image files) for an image encoder. */
export async function isImageInput(inputs: string[], encoder: string): Promise<boolean> {
  if (inputs.length === 1 && inputs[0] === "mnist") return false;
  if (await isShardInput(inputs)) return true;
  return encoder !== "head" || (await listImages(inputs)).length > 0;
}

/** Indexes image inputs, reporting damaged shards on stderr. */
export async function indexImageInputs(cmd: string, inputs: string[]): Promise<ImageIndex> {
  const t0 = performance.now();
  let last = t0;
  const index = await indexImages(inputs, {
    onError: (e) => progress(`${cmd}: skipped the rest of a damaged shard: ${e.message}`),
    onShard: (done, total, samples) => {
      const now = performance.now();
      if (now - last < 2000 || done === total) return;
      last = now;
      const rate = done / ((now - t0) / 1000);
      progress(
        `${cmd}: indexing shards ${done}/${total} (${samples} samples) ETA ${
          formatSeconds((total - done) / Math.max(rate, 1e-9))
        }`,
      );
    },
  });
  progress(
    `${cmd}: ${index.keys.length} images in ${index.sources.length} ${
      index.kind === "shards" ? "shard(s)" : "file(s)"
    }`,
  );
  return index;
}

export async function loadInputs(
  inputs: string[],
  o: {
    encoder: string;
    cmd?: string;
    limit?: number;
    testLimit?: number;
    imageSize?: number;
    column?: string;
  },
): Promise<LoadedInputs> {
  if (inputs.length === 1 && inputs[0] === "mnist") {
    const d = loadMnist({ train: o.limit ?? 8000, test: o.testLimit ?? 2000 });
    return {
      x: d.train.x,
      y: d.train.y,
      test: d.test,
      kind: "mnist",
      inputShape: o.encoder === "head" ? [784] : [28, 28, 1],
    };
  }
  if (await isImageInput(inputs, o.encoder)) {
    const cmd = o.cmd ?? "load";
    const index = await indexImageInputs(cmd, inputs);
    if (o.limit !== undefined && o.limit < index.keys.length) {
      index.keys.length = o.limit;
      index.starts = index.starts.map((s) => Math.min(s, o.limit!));
      if (index.kind === "files") index.sources.length = o.limit;
    }
    const size = o.imageSize ?? 32;
    let skipped = 0;
    const d = await decodeIndex(index, {
      size,
      onSkip: (s) => {
        skipped++;
        progress(`${cmd}: skipped ${s.key} (${s.source}): ${s.message}`);
      },
    });
    if (skipped) progress(`${cmd}: ${skipped} corrupt image(s) skipped`);
    return {
      x: d.x,
      inputShape: [size, size, 3],
      kind: "images",
      index,
      ordinals: d.ordinals,
    };
  }
  const files: [string, number][] = [];
  let x = await readEmbeddings(inputs, {
    ...(o.column !== undefined ? { column: o.column } : {}),
    onFile: (file, rows) => files.push([file, rows]),
  });
  // NaN/Inf named by file and row within it.
  let at = 0;
  for (const [file, rows] of files) {
    checkRows(
      { data: x.data.subarray(at * x.cols, (at + rows) * x.cols), rows, cols: x.cols },
      file,
    );
    at += rows;
  }
  if (o.limit !== undefined && o.limit < x.rows) {
    x = { data: x.data.slice(0, o.limit * x.cols), rows: o.limit, cols: x.cols };
  }
  return { x, inputShape: [x.cols], kind: "embeddings" };
}

/**
 * Reads integer labels (`n` or `n × l`) from a .npy file (or an Arrow or Parquet labels file)
 * as Uint32.
 */
export async function readLabels(
  path: string,
  rows: number,
): Promise<{ data: Uint32Array; cols: number }> {
  if (/\.(arrow|feather|ipc|parquet)$/i.test(path)) {
    const t = /\.parquet$/i.test(path)
      ? await (await import("../data/parquet.ts")).readParquetLabels(path)
      : await readArrowLabels(path);
    if (t.rows !== rows) {
      throw new TypeError(`Expected ${path} to hold ${rows} rows of labels but found ${t.rows}`);
    }
    return { data: t.indices, cols: t.l };
  }
  const a = await readNpyArray(path);
  if (a.shape[0] !== rows || a.shape.length > 2) {
    throw new TypeError(
      `Expected ${path} to hold ${rows} rows of labels but found shape ${JSON.stringify(a.shape)}`,
    );
  }
  const out = new Uint32Array(a.data.length);
  for (let i = 0; i < a.data.length; i++) {
    const v = a.data[i]!;
    if (!Number.isInteger(v) || v < 0) {
      throw new RangeError(`Expected non-negative integer labels in ${path} but found ${v}`);
    }
    out[i] = v;
  }
  return { data: out, cols: a.shape.length === 2 ? a.shape[1]! : 1 };
}
