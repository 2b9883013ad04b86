// Private to src/data: the seeded sample order of one epoch of an image index, for the image
// loader. Image files: a permutation (training) or the read order. Shards: a permutation of
// the shards, each read in tar order through a shuffle buffer (training), else the read order.
// Nothing is decoded here: a sample comes with its encoded bytes (shards) or a loader (files).

import { mixSeed, permutation, Rng } from "../random/rng.ts";
import { imageExt, type ImageIndex } from "./image_index.ts";
import { readShard } from "./webdataset.ts";

/** One sample of the order, not yet decoded. */
export interface Pending {
  /** The sample's ordinal in the index. */
  ordinal: number;
  /** The sample key. */
  key: string;
  /** The shard or file. */
  source: string;
  /** The encoded image, or a loader of it. */
  bytes: Uint8Array | (() => Promise<Uint8Array>);
}

/** The epoch's order, resolved from the loader's options. */
export interface EpochOrder {
  /** Shuffle (training), or read order. */
  train: boolean;
  /** Seed of the order. */
  seed: number;
  /** Epoch: each epoch's order differs, reproducibly. */
  epoch: number;
  /** Samples held by the shuffle buffer when reading shards (training). */
  shuffleBuffer: number;
  /** Keep only these ordinals. */
  include: (ordinal: number) => boolean;
}

/** The epoch's sample order, as encoded bytes (shards) or loaders (files); nothing decoded. */
export async function* epochSamples(
  index: ImageIndex,
  o: EpochOrder,
  onSkip: (s: { key: string; source: string; message: string }) => void,
): AsyncGenerator<Pending> {
  const { seed, epoch, include } = o;
  if (index.kind === "files") {
    const n = index.sources.length;
    const order = o.train ? permutation(n, mixSeed(seed, 201, epoch)) : null;
    for (let i = 0; i < n; i++) {
      const ord = order ? order[i]! : i;
      if (!include(ord)) continue;
      const file = index.sources[ord]!;
      yield { ordinal: ord, key: index.keys[ord]!, source: file, bytes: () => Deno.readFile(file) };
    }
    return;
  }
  const shardOrder = o.train
    ? permutation(index.sources.length, mixSeed(seed, 202, epoch))
    : Uint32Array.from(index.sources.keys());
  const rng = new Rng(mixSeed(seed, 203, epoch));
  const cap = o.train ? Math.max(1, o.shuffleBuffer) : 1;
  const buf: Pending[] = [];
  for (const si of shardOrder) {
    const shard = index.sources[si]!;
    let ord = index.starts[si]!;
    const end = index.starts[si + 1]!;
    for await (
      const smp of readShard(shard, {
        onError: (e) => onSkip({ key: e.member ?? shard, source: shard, message: e.message }),
      })
    ) {
      const ext = imageExt(smp.files);
      if (!ext) continue;
      if (ord >= end) break; // the shard changed since it was indexed
      const p: Pending = { ordinal: ord, key: smp.key, source: shard, bytes: smp.files.get(ext)! };
      ord++;
      if (!include(p.ordinal)) continue;
      if (cap === 1) {
        yield p;
        continue;
      }
      buf.push(p);
      if (buf.length >= cap) {
        const j = rng.int(buf.length);
        const out = buf[j]!;
        buf[j] = buf[buf.length - 1]!;
        buf.pop();
        yield out;
      }
    }
  }
  while (buf.length) {
    const j = rng.int(buf.length);
    const out = buf[j]!;
    buf[j] = buf[buf.length - 1]!;
    buf.pop();
    yield out;
  }
}
