// Test helpers: embedding shards (.npy and Arrow files) of given rows, and WebDataset shards of
// real MNIST digits, encoded as PNG by sharp.
import { writeArrowEmbeddings } from "../src/data/arrow.ts";
import { writeNpy } from "../src/data/npy.ts";
import type { Matrix } from "../src/matrix/matrix.ts";
import { randomMatrix } from "./_gpu.ts";

/** A shard's file format: float32 .npy, float16 .npy, or an Arrow IPC file. */
export type ShardFormat = "npy" | "npy-f16" | "arrow";

/** What {@linkcode writeShards} wrote. */
export interface WrittenShards {
  /** The shard files, in order. */
  paths: string[];
  /** Each shard's rows as its file holds them (rounded to float16 for "npy-f16"). */
  parts: Matrix[];
  /** All rows as the files hold them, shard after shard. */
  data: Float32Array;
}

/** Options of {@linkcode writeShards}. */
export interface WriteShardsOptions {
  /** Shard i's file name without its extension. @default {(i) => `emb_${i}`} */
  name?: (i: number) => string;
  /** Shard i's format is `formats[i % formats.length]`. @default {["npy"]} */
  formats?: ShardFormat[];
}

/**
 * Writes rows as embedding shards of `sizes` rows each into `dir` (created when missing): the
 * rows of `x`, or standard normal rows of `x.cols` values from `x.seed`. The sizes must add up
 * to the rows.
 */
export async function writeShards(
  dir: string,
  x: Matrix | { cols: number; seed: number },
  sizes: number[],
  options: WriteShardsOptions = {},
): Promise<WrittenShards> {
  const total = sizes.reduce((a, b) => a + b, 0);
  const m = "data" in x ? x : randomMatrix(total, x.cols, x.seed);
  if (m.rows !== total) throw new Error(`shard sizes add up to ${total}, not ${m.rows} rows`);
  const name = options.name ?? ((i: number) => `emb_${i}`);
  const formats = options.formats ?? ["npy"];
  await Deno.mkdir(dir, { recursive: true });
  const paths: string[] = [], parts: Matrix[] = [];
  const data = new Float32Array(m.data.length);
  let at = 0;
  for (const [i, rows] of sizes.entries()) {
    const part = { data: m.data.slice(at * m.cols, (at + rows) * m.cols), rows, cols: m.cols };
    const format = formats[i % formats.length]!;
    const path = `${dir}/${name(i)}.${format === "arrow" ? "arrow" : "npy"}`;
    if (format === "arrow") await writeArrowEmbeddings(path, part);
    else if (format === "npy") await writeNpy(path, part.data, [rows, m.cols]);
    else {
      await writeNpy(path, part.data, [rows, m.cols], { dtype: "f2" });
      part.data = new Float32Array(new Float16Array(part.data)); // what the file holds
    }
    data.set(part.data, at * m.cols);
    paths.push(path);
    parts.push(part);
    at += rows;
  }
  return { paths, parts, data };
}

/** What {@linkcode makeMnistShards} wrote. */
export interface MnistShards {
  /** Shard paths. */
  shards: string[];
  /** Sample keys in read order. */
  keys: string[];
  /** The digit of each sample, in read order. */
  labels: Uint8Array;
}

/**
 * Writes `shards` tar files of `perShard` MNIST digits each (`{key}.png` + `{key}.cls` +
 * `{key}.json`) into `dir`, from the digits at `offset` of a seeded MNIST split; with `text`, the
 * JSON also holds img2dataset's `url` and `caption`.
 */
export async function makeMnistShards(
  dir: string,
  o: { shards: number; perShard: number; offset?: number; prefix?: string; text?: boolean },
): Promise<MnistShards> {
  // Loaded here, so that a test that needs only writeShards loads neither mnist nor sharp.
  const { loadMnist } = await import("../src/data/mnist.ts");
  const { writeShard } = await import("../src/data/webdataset.ts");
  const { encodePng } = await import("../src/model/images.ts");
  const n = o.shards * o.perShard, off = o.offset ?? 0;
  const { train } = loadMnist({ train: n + off, test: 0, seed: 99 });
  const keys: string[] = [], labels = new Uint8Array(n), shards: string[] = [];
  for (let s = 0; s < o.shards; s++) {
    const samples = [];
    for (let i = 0; i < o.perShard; i++) {
      const r = off + s * o.perShard + i;
      const px = new Uint8Array(784);
      for (let p = 0; p < 784; p++) px[p] = Math.round(train.x.data[r * 784 + p]! * 255);
      const key = `${o.prefix ?? ""}${String(s).padStart(5, "0")}${String(i).padStart(4, "0")}`;
      const y = train.y[r]!;
      labels[s * o.perShard + i] = y;
      keys.push(key);
      samples.push({
        key,
        files: new Map([
          ["png", await encodePng(px, 28, 28, 1)],
          ["cls", new TextEncoder().encode(String(y))],
          [
            "json",
            new TextEncoder().encode(JSON.stringify(
              o.text
                ? { key, label: y, url: `https://example.com/${key}.png`, caption: `digit ${y}` }
                : { key, label: y },
            )),
          ],
        ]),
      });
    }
    const path = `${dir}/${String(s).padStart(5, "0")}.tar`;
    await writeShard(path, samples);
    shards.push(path);
  }
  return { shards, keys, labels };
}
