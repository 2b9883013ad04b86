// deno task embed → numpy, and the key join: embed → cluster → assign (keys as ids) → train.
import assert from "node:assert/strict";
import { readArrowLabels, writeArrowKeys } from "../src/data/arrow.ts";
import { readNpy, writeNpy } from "../src/data/npy.ts";
import { metadataPathOf } from "../src/data/clip_layout.ts";
import { readParquetKeys } from "../src/data/parquet.ts";
import { decodeIndex, indexImages } from "../src/data/image_loader.ts";
import { embed } from "../src/model/encoder.ts";
import { useTfBackend } from "../src/model/tf.ts";
import { loadEncoder } from "../src/train/load_encoder.ts";
import { errLines, runDeno } from "./_cli.ts";
import { randomMatrix, testGpu } from "./_gpu.ts";
import { makeMnistShards } from "./_shards.ts";
import { peerTest, pythonPeer } from "./_peer.ts";
import { python } from "./_python.ts";
import { withDir } from "./_tmp.ts";
import { writeShard } from "../src/data/webdataset.ts";
import { encodePng } from "../src/model/images.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const cli = async (args: string[]) => {
  const r = await runDeno([`${ROOT}src/cli/${args[0]}`, ...args.slice(1)]);
  return { code: r.code, out: r.stdout, err: errLines(r.stderr).join("\n") };
};

const NUMPY = await pythonPeer("numpy (apt-get install python3-numpy)", ["numpy"]);

Deno.test("metadataPathOf() maps img_emb_<i> to metadata_<i>.arrow", () => {
  assert.equal(metadataPathOf("emb/img_emb/img_emb_12.npy"), "emb/metadata/metadata_12.arrow");
  assert.equal(metadataPathOf("/a/img_emb/img_emb_0.npy"), "/a/metadata/metadata_0.arrow");
  assert.equal(metadataPathOf("img_emb/img_emb_3.npy"), "metadata/metadata_3.arrow");
  assert.equal(metadataPathOf("emb/x.npy"), undefined);
});

peerTest({
  name:
    "deno task embed writes clip-retrieval's layout that numpy loads in key order; assign joins keys into train",
  needs: [NUMPY],
  fn: async () => {
    await withDir(async (dir) => {
      const m = await makeMnistShards(`${dir}`, { shards: 2, perShard: 40 });
      const run = `${dir}/run`;
      let r = await cli([
        "train.ts",
        "--data",
        dir,
        "--encoder",
        "cnn",
        "--channels",
        "4,8",
        "--embed-dim",
        "16",
        "--image-size",
        "16",
        "--classes",
        "8",
        "--l",
        "2",
        "--batch-size",
        "20",
        "--epochs",
        "1",
        "--kmeans-iters",
        "3",
        "--run-dir",
        run,
      ]);
      assert.equal(r.code, 0, r.err);
      assert.match(r.err, /train: 80 images in 2 shard\(s\)/);

      // Embed shard 1 only, in parts of 30 rows, as float16.
      r = await cli([
        "embed.ts",
        "--checkpoint",
        run,
        "--data",
        `${dir}/{00001..00001}.tar`,
        "--out",
        `${dir}/emb`,
        "--rows-per-file",
        "30",
        "--f16",
        "--json",
      ]);
      assert.equal(r.code, 0, r.err);
      assert.match(r.err, /embed: 40\/40 rows +\d+ rows\/s +ETA/);
      const summary = JSON.parse(r.out);
      assert.equal(summary.rows, 40);
      assert.equal(summary.files.length, 2);

      // numpy loads the parts: shapes, dtype, unit rows; values equal an in-process embedding.
      const np = JSON.parse(
        await python([
          "-c",
          `import numpy as np, json, sys
a = [np.load(f"${dir}/emb/img_emb/img_emb_{i}.npy") for i in range(2)]
print(json.dumps({"shapes": [list(x.shape) for x in a], "dtype": str(a[0].dtype),
  "norms": [float(np.abs(np.linalg.norm(x.astype(np.float64), axis=1) - 1).max()) for x in a],
  "rows": np.concatenate(a).astype(np.float64).tolist()}))`,
        ]),
      );
      assert.deepEqual(np.shapes, [[30, 16], [10, 16]]);
      assert.equal(np.dtype, "float16");
      for (const n of np.norms) assert.ok(n < 3e-3, `row norm off by ${n}`);
      const keys = [
        ...await readParquetKeys(`${dir}/emb/metadata/metadata_0.parquet`),
        ...await readParquetKeys(`${dir}/emb/metadata/metadata_1.parquet`),
      ];
      assert.deepEqual(keys, m.keys.slice(40));

      const gpu = await testGpu();
      await useTfBackend(gpu);
      const { encoder, centers } = await loadEncoder(run);
      centers.dispose();
      const d = await decodeIndex(await indexImages([`${dir}/00001.tar`]), { size: 16 });
      const z = await embed(encoder, d.x, { normalize: true });
      encoder.dispose();
      let worst = 0;
      np.rows.flat().forEach((v: number, i: number) => {
        worst = Math.max(worst, Math.abs(v - z.data[i]!));
      });
      assert.ok(worst < 2e-3, `numpy rows differ from the in-process embedding by ${worst}`);

      // Never overwrite: a second embed into the same --out is exit 2 and one line.
      r = await cli(["embed.ts", "--checkpoint", run, "--data", dir, "--out", `${dir}/emb`]);
      assert.equal(r.code, 2);
      assert.match(
        r.err,
        /^mlcd embed: Refusing to overwrite .*img_emb_\d\.npy: --out already holds embeddings$/m,
      );

      // A corrupt image is skipped, counted and named; the run goes on.
      await Deno.mkdir(`${dir}/bad`);
      await writeShard(`${dir}/bad/00000.tar`, [
        { key: "ok-1", files: new Map([["png", await encodePng(new Uint8Array(64), 8, 8, 1)]]) },
        { key: "broken-2", files: new Map([["jpg", new TextEncoder().encode("no jpeg here")]]) },
        { key: "ok-3", files: new Map([["png", await encodePng(new Uint8Array(64), 8, 8, 1)]]) },
      ]);
      r = await cli([
        "embed.ts",
        "--checkpoint",
        run,
        "--data",
        `${dir}/bad`,
        "--out",
        `${dir}/eb`,
        "--json",
      ]);
      assert.equal(r.code, 0, r.err);
      assert.match(r.err, /embed: skipped broken-2 \(.*bad\/00000\.tar\): Cannot decode image/);
      assert.deepEqual([JSON.parse(r.out).rows, JSON.parse(r.out).skipped], [2, 1]);
      assert.deepEqual(await readParquetKeys(`${dir}/eb/metadata/metadata_0.parquet`), [
        "ok-1",
        "ok-3",
      ]);

      // cluster + assign read emb/ directly; assign writes the keys as the id column.
      r = await cli(["cluster.ts", "--input", `${dir}/emb`, "--k", "8", "--out", `${dir}/c.npy`]);
      assert.equal(r.code, 0, r.err);
      r = await cli([
        "assign.ts",
        "--input",
        `${dir}/emb`,
        "--centers",
        `${dir}/c.npy`,
        "--l",
        "2",
        "--out",
        `${dir}/labels.arrow`,
      ]);
      assert.equal(r.code, 0, r.err);
      const lab = await readArrowLabels(`${dir}/labels.arrow`);
      assert.deepEqual(lab.ids, m.keys.slice(40));

      // train on both shards with labels for shard 1 only: 40 matched, 40 without a label.
      r = await cli([
        "train.ts",
        "--data",
        dir,
        "--labels",
        `${dir}/labels.arrow`,
        "--encoder",
        "cnn",
        "--channels",
        "4",
        "--embed-dim",
        "16",
        "--image-size",
        "16",
        "--classes",
        "8",
        "--l",
        "2",
        "--batch-size",
        "20",
        "--epochs",
        "1",
        "--run-dir",
        `${dir}/run2`,
        "--json",
      ]);
      assert.equal(r.code, 0, r.err);
      assert.match(
        r.err,
        /joined by key: 40 matched, 40 sample\(s\) without a label, 0 label\(s\) without a sample/,
      );
      assert.equal(JSON.parse(r.out).step, 2);
    });
  },
});

Deno.test("deno task embed on input embeddings carries clip-retrieval keys, else numbers the rows", async () => {
  await withDir(async (dir) => {
    const x = randomMatrix(45, 6, 4);
    await Deno.mkdir(`${dir}/in/img_emb`, { recursive: true });
    await Deno.mkdir(`${dir}/in/metadata`, { recursive: true });
    await writeNpy(`${dir}/in/img_emb/img_emb_0.npy`, x.data.slice(0, 30 * 6), [30, 6]);
    await writeNpy(`${dir}/in/img_emb/img_emb_1.npy`, x.data.slice(30 * 6), [15, 6]);
    const keys = Array.from({ length: 45 }, (_, i) => `k${i}`);
    await writeArrowKeys(`${dir}/in/metadata/metadata_0.arrow`, keys.slice(0, 30));
    await writeArrowKeys(`${dir}/in/metadata/metadata_1.arrow`, keys.slice(30));
    let r = await cli([
      "train.ts",
      "--data",
      `${dir}/in`,
      "--hidden",
      "8",
      "--embed-dim",
      "4",
      "--classes",
      "3",
      "--l",
      "1",
      "--epochs",
      "1",
      "--batch-size",
      "15",
      "--kmeans-iters",
      "2",
      "--run-dir",
      `${dir}/run`,
    ]);
    assert.equal(r.code, 0, r.err);
    r = await cli([
      "embed.ts",
      "--checkpoint",
      `${dir}/run`,
      "--data",
      `${dir}/in`,
      "--out",
      `${dir}/a`,
    ]);
    assert.equal(r.code, 0, r.err);
    assert.deepEqual(await readParquetKeys(`${dir}/a/metadata/metadata_0.parquet`), keys);
    const a = await readNpy(`${dir}/a/img_emb/img_emb_0.npy`);
    assert.deepEqual([a.rows, a.cols], [45, 4]);
    // A bare .npy has no metadata: keys are the row numbers.
    await writeNpy(`${dir}/plain.npy`, x.data.slice(0, 12), [2, 6]);
    r = await cli([
      "embed.ts",
      "--checkpoint",
      `${dir}/run`,
      "--data",
      `${dir}/plain.npy`,
      "--out",
      `${dir}/b`,
    ]);
    assert.equal(r.code, 0, r.err);
    assert.deepEqual(await readParquetKeys(`${dir}/b/metadata/metadata_0.parquet`), ["0", "1"]);
    const b = await readNpy(`${dir}/b/img_emb/img_emb_0.npy`);
    // The same rows in a smaller batch: equal up to the GPU's float rounding.
    b.data.forEach((v, i) => assert.ok(Math.abs(v - a.data[i]!) < 1e-5, `value ${i}`));
  });
});
