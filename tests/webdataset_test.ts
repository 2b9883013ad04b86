// WebDataset shards and the streaming image loader, on real MNIST digits encoded as PNG.
import assert from "node:assert/strict";
import { expandBraces, listShards, readShard, writeShard } from "../src/data/webdataset.ts";
import {
  decodeIndex,
  indexImages,
  type SkippedSample,
  streamImageBatches,
} from "../src/data/image_loader.ts";
import { CLIP_MEAN, CLIP_STD, encodePng, randomResizedCropBox } from "../src/model/images.ts";
import { imageTrainStream, joinLabels } from "../src/train/image_stream.ts";
import { loadMnist } from "../src/data/mnist.ts";
import { makeMnistShards } from "./_shards.ts";
import { rng } from "./_gpu.ts";
import { withDir } from "./_tmp.ts";

const enc = new TextEncoder();

Deno.test("expandBraces() expands padded ranges and lists, and rejects bad patterns", () => {
  assert.deepEqual(expandBraces("s/{00008..00010}.tar"), [
    "s/00008.tar",
    "s/00009.tar",
    "s/00010.tar",
  ]);
  assert.deepEqual(expandBraces("{a,b}/{1..2}.tar"), ["a/1.tar", "a/2.tar", "b/1.tar", "b/2.tar"]);
  assert.deepEqual(expandBraces("plain.tar"), ["plain.tar"]);
  assert.deepEqual(expandBraces("{7..7}"), ["7"]);
  assert.throws(() => expandBraces("s/{3..1}.tar"), {
    name: "RangeError",
    message:
      "Expected the range {3..1} in s/{3..1}.tar to end at or after its start but found 1 < 3",
  });
  assert.throws(() => expandBraces("s/{1..2.tar"), RangeError);
});

Deno.test("listShards() sorts a directory's .tar files, expands patterns and names a missing shard", async () => {
  await withDir(async (dir) => {
    for (const n of ["00001.tar", "00000.tar", "notes.txt"]) {
      await Deno.writeFile(`${dir}/${n}`, new Uint8Array());
    }
    assert.deepEqual(await listShards([dir]), [`${dir}/00000.tar`, `${dir}/00001.tar`]);
    assert.deepEqual(await listShards([`${dir}/{00000..00001}.tar`]), [
      `${dir}/00000.tar`,
      `${dir}/00001.tar`,
    ]);
    await assert.rejects(() => listShards([`${dir}/{00000..00002}.tar`]), {
      name: "NotFound",
      message: `No such shard or directory: ${dir}/00002.tar`,
    });
  });
});

Deno.test("readShard() groups members by key in tar order and survives a truncated shard", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/a.tar`;
    const big = new Uint8Array(3000).map((_, i) => i % 251);
    await writeShard(path, [
      { key: "x/001", files: new Map([["jpg", enc.encode("one")], ["json", enc.encode("{}")]]) },
      { key: "x/002", files: new Map([["seg.png", big]]) },
      { key: "x/003", files: new Map([["jpg", enc.encode("three")]]) },
    ]);
    const got = [];
    for await (const s of readShard(path)) got.push(s);
    assert.deepEqual(got.map((s) => s.key), ["x/001", "x/002", "x/003"]);
    assert.deepEqual([...got[0]!.files.keys()], ["jpg", "json"]);
    assert.equal(new TextDecoder().decode(got[0]!.files.get("jpg")), "one");
    assert.deepEqual(got[1]!.files.get("seg.png"), big);

    // Cut the shard inside x/002's data: x/001 is kept, the damage is reported, no throw.
    const bytes = await Deno.readFile(path);
    await Deno.writeFile(`${dir}/cut.tar`, bytes.subarray(0, 512 * 4 + 1000));
    const errors: string[] = [];
    const kept = [];
    for await (const s of readShard(`${dir}/cut.tar`, { onError: (e) => errors.push(e.message) })) {
      kept.push(s.key);
    }
    assert.deepEqual(kept, ["x/001"]);
    assert.equal(errors.length, 1);
    assert.match(errors[0]!, /cut\.tar at member x\/002\.seg\.png/);
    // Without onError the damage is a RangeError naming the shard.
    await assert.rejects(async () => {
      for await (const _ of readShard(`${dir}/cut.tar`)) { /* drain */ }
    }, (e: Error) => e instanceof RangeError && e.message.includes("cut.tar"));
  });
});

Deno.test("streamImageBatches() eval mode: read order, CLIP normalisation of the exact pixels (float64 reference)", async () => {
  await withDir(async (dir) => {
    const m = await makeMnistShards(dir, { shards: 2, perShard: 7 });
    const index = await indexImages([dir]);
    assert.equal(index.kind, "shards");
    assert.deepEqual(index.keys, m.keys);
    assert.deepEqual(index.starts, [0, 7, 14]);
    const { train } = loadMnist({ train: 14, test: 0, seed: 99 });
    const keys: string[] = [];
    let row = 0;
    for await (const b of streamImageBatches(index, { size: 28, batchSize: 5 })) {
      assert.ok(b.rows <= 5);
      for (let r = 0; r < b.rows; r++, row++) {
        keys.push(b.keys[r]!);
        for (let p = 0; p < 784; p++) {
          const v = Math.round(train.x.data[row * 784 + p]! * 255) / 255;
          for (let c = 0; c < 3; c++) {
            const want = (v - CLIP_MEAN[c]!) / CLIP_STD[c]!;
            const got = b.x[(r * 784 + p) * 3 + c]!;
            if (Math.abs(got - want) > 1e-5) {
              assert.fail(`row ${row} pixel ${p} channel ${c}: ${got} vs ${want}`);
            }
          }
        }
      }
    }
    assert.deepEqual(keys, m.keys);
  });
});

Deno.test("streamImageBatches() train mode is seeded: same batches for a seed, resumable with skipBatches, new order per epoch", async () => {
  await withDir(async (dir) => {
    await makeMnistShards(dir, { shards: 3, perShard: 9 });
    const index = await indexImages([`${dir}/{00000..00002}.tar`]);
    const run = async (o: { epoch: number; skipBatches?: number; seed?: number }) => {
      const out = [];
      for await (
        const b of streamImageBatches(index, {
          size: 16,
          batchSize: 4,
          train: true,
          shuffleBuffer: 5,
          seed: o.seed ?? 7,
          epoch: o.epoch,
          skipBatches: o.skipBatches ?? 0,
          concurrency: 3,
          prefetch: 2,
        })
      ) out.push(b);
      return out;
    };
    const a = await run({ epoch: 0 }), b = await run({ epoch: 0 });
    assert.equal(a.length, 7); // 27 samples in batches of 4
    assert.deepEqual(a.map((x) => x.keys), b.map((x) => x.keys));
    assert.deepEqual(a.map((x) => [...x.x]), b.map((x) => [...x.x]));
    const all = a.flatMap((x) => x.keys);
    assert.deepEqual([...all].sort(), [...index.keys].sort(), "every sample once per epoch");
    assert.notDeepEqual(all, index.keys, "shuffled");
    const resumed = await run({ epoch: 0, skipBatches: 3 });
    assert.deepEqual(resumed.map((x) => x.keys), a.slice(3).map((x) => x.keys));
    assert.deepEqual(resumed.map((x) => [...x.x]), a.slice(3).map((x) => [...x.x]));
    const e1 = await run({ epoch: 1 });
    assert.notDeepEqual(e1.flatMap((x) => x.keys), all);
    // Augmented pixels differ from the eval transform of the same image.
    const ev = await decodeIndex(index, { size: 16 });
    const o = a[0]!.ordinals[0]!;
    const evRow = ev.x.data.subarray(o * 768, (o + 1) * 768);
    assert.notDeepEqual([...a[0]!.x.subarray(0, 768)], [...evRow]);
  });
});

Deno.test("streamImageBatches() skips, counts and names a corrupt image; folders stream the same way", async () => {
  await withDir(async (dir) => {
    const png = await encodePng(new Uint8Array(64).fill(200), 8, 8, 1);
    await writeShard(`${dir}/00000.tar`, [
      { key: "good1", files: new Map([["png", png]]) },
      { key: "bad", files: new Map([["png", enc.encode("not a png at all")]]) },
      { key: "meta-only", files: new Map([["json", enc.encode("{}")]]) },
      { key: "good2", files: new Map([["png", png]]) },
    ]);
    const index = await indexImages([dir]);
    assert.deepEqual(
      index.keys,
      ["good1", "bad", "good2"],
      "samples without an image are left out",
    );
    const skipped: SkippedSample[] = [];
    const d = await decodeIndex(index, { size: 4, onSkip: (s) => skipped.push(s) });
    assert.deepEqual(d.keys, ["good1", "good2"]);
    assert.deepEqual([...d.ordinals], [0, 2]);
    assert.equal(skipped.length, 1);
    assert.equal(skipped[0]!.key, "bad");
    assert.equal(skipped[0]!.source, `${dir}/00000.tar`);

    const img = `${dir}/imgs`;
    await Deno.mkdir(`${img}/sub`, { recursive: true });
    await Deno.writeFile(`${img}/b.png`, png);
    await Deno.writeFile(`${img}/sub/a.png`, png);
    const fi = await indexImages([img]);
    assert.equal(fi.kind, "files");
    assert.deepEqual(fi.keys, ["b", "sub/a"]);
    const fd = await decodeIndex(fi, { size: 4 });
    assert.equal(fd.x.rows, 2);
    const v = (200 / 255 - CLIP_MEAN[0]) / CLIP_STD[0];
    assert.ok(Math.abs(fd.x.data[0]! - v) < 1e-5);
  });
});

Deno.test("randomResizedCropBox() always returns a non-empty box inside the image", () => {
  const r = rng(3);
  for (let t = 0; t < 500; t++) {
    const w = 1 + Math.floor(r() * 60), h = 1 + Math.floor(r() * 60);
    const [l, top, cw, ch] = randomResizedCropBox(w, h, r, 0.35);
    assert.ok(l >= 0 && top >= 0 && cw >= 1 && ch >= 1 && l + cw <= w && top + ch <= h);
  }
});

Deno.test("joinLabels() joins by key and counts samples without labels and labels without samples", () => {
  const index = {
    kind: "shards" as const,
    sources: ["s.tar"],
    keys: ["a", "b", "c", "d"],
    starts: [0, 4],
    errors: [],
  };
  const j = joinLabels(index, 3, ["d", "zz", "b"]);
  assert.deepEqual([...j.rowOf], [-1, 2, -1, 0]);
  assert.equal(j.matched, 2);
  assert.equal(j.samplesWithoutLabel, 2);
  assert.equal(j.labelsWithoutSample, 1);
  assert.deepEqual([...joinLabels(index, 4).rowOf], [0, 1, 2, 3]);
  assert.throws(() => joinLabels(index, 3), TypeError);
});

Deno.test("imageTrainStream() from step k equals the tail of a run from step 0, across epochs", async () => {
  await withDir(async (dir) => {
    await makeMnistShards(dir, { shards: 2, perShard: 6 });
    const index = await indexImages([dir]);
    const l = 2;
    const rowOf = Int32Array.from(index.keys, (_, i) => (i === 3 ? -1 : i)); // one unlabelled
    const positives = Uint32Array.from({ length: index.keys.length * l }, (_, i) => i % 5);
    const s = imageTrainStream(index, rowOf, positives, { size: 8, seed: 2, l, shuffleBuffer: 4 });
    assert.equal(s.rows, 11);
    const take = async (from: number, n: number) => {
      const out = [];
      for await (const b of s.batches(from, 3, 3)) {
        out.push(b);
        if (out.length === n) break;
      }
      return out;
    };
    const full = await take(0, 7), tail = await take(4, 3);
    assert.deepEqual(tail.map((b) => [...b.x]), full.slice(4).map((b) => [...b.x]));
    assert.deepEqual(tail.map((b) => [...b.positives]), full.slice(4).map((b) => [...b.positives]));
    assert.ok(full.every((b) => b.rows === 3));
  });
});
