// Loads a training/eval input set named on the command line: "mnist", embedding files
// (.npy / Arrow, files or directories) or a directory of images.
import { loadMnist } from "../data/mnist.ts";
import { readEmbeddings } from "../data/shards.ts";
import { readNpyArray } from "../data/npy.ts";
import { checkRows, type Matrix } from "../matrix/matrix.ts";
import { decodeImages, listImages } from "../model/images.ts";

export interface LoadedInputs {
  x: Matrix;
  inputShape: number[];
  kind: "mnist" | "embeddings" | "images";
  /** Labels when the source has them (MNIST). */
  y?: Uint8Array;
  /** Held-out split (MNIST). */
  test?: { x: Matrix; y: Uint8Array };
}

export async function loadInputs(
  inputs: string[],
  o: {
    encoder: "head" | "cnn" | "vit";
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
  const imgs = o.encoder !== "head" ? await listImages(inputs) : [];
  if (o.encoder !== "head" || imgs.length > 0) {
    const d = await decodeImages(inputs, { size: o.imageSize ?? 32 });
    let x = d.x;
    if (o.limit !== undefined && o.limit < x.rows) {
      x = { data: x.data.slice(0, o.limit * x.cols), rows: o.limit, cols: x.cols };
    }
    return { x, inputShape: d.inputShape, kind: "images" };
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

/** Reads integer labels (`n` or `n × l`) from a .npy file as Uint32. */
export async function readLabels(
  path: string,
  rows: number,
): Promise<{ data: Uint32Array; cols: number }> {
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
