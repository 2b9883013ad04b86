// Test helper: WebDataset shards of real MNIST digits, encoded as PNG by sharp.
import { loadMnist } from "../src/data/mnist.ts";
import { writeShard } from "../src/data/webdataset.ts";
import { encodePng } from "../src/model/images.ts";

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
