// A run interrupted while streaming augmented images from shards, then resumed, ends with the
// weights of an uninterrupted run: the loader's order and crops are seeded per epoch and sample.
import assert from "node:assert/strict";
import { indexImages } from "../src/data/image_loader.ts";
import { resolveTrainConfig } from "../src/train/config.ts";
import { loadCheckpoint } from "../src/train/checkpoint.ts";
import { imageTrainStream } from "../src/train/image_stream.ts";
import { train } from "../src/train/trainer.ts";
import { testGpu } from "./_gpu.ts";
import { makeMnistShards } from "./_shards.ts";
import { withDir } from "./_tmp.ts";

class Stop extends Error {}

Deno.test("train() on a streamed image set resumes to the uninterrupted run's weights", async () => {
  await withDir(async (dir) => {
    await makeMnistShards(dir, { shards: 2, perShard: 20 });
    const index = await indexImages([dir]);
    const l = 2;
    const positives = Uint32Array.from({ length: 40 * l }, (_, i) => (i * 3 + (i >> 1)) % 5);
    const rowOf = Int32Array.from(index.keys, (_, i) => i);
    const config = resolveTrainConfig({
      encoder: "cnn",
      channels: [4],
      embedDim: 8,
      classes: 5,
      l,
      batchSize: 8,
      epochs: 2,
      warmupSteps: 2,
      checkpointEvery: 3,
      imageSize: 12,
    });
    const data = () => ({
      stream: imageTrainStream(index, rowOf, positives, {
        size: 12,
        seed: config.seed,
        l,
        shuffleBuffer: 6,
      }),
      inputShape: [12, 12, 3],
    });
    const gpu = await testGpu();
    const full = await train(gpu, data(), config, { runDir: `${dir}/a` });
    full.encoder.dispose();
    full.centers.dispose();
    assert.equal(full.step, 10); // 40 samples / 8 per batch × 2 epochs

    // Stop after the checkpoint at step 6 (mid epoch 2), then resume.
    await assert.rejects(
      () =>
        train(gpu, data(), config, {
          runDir: `${dir}/b`,
          onCheckpoint: (m) => {
            if (m.step === 6) throw new Stop();
          },
        }),
      Stop,
    );
    assert.equal((await loadCheckpoint(`${dir}/b`)).manifest.step, 6);
    const resumed = await train(gpu, data(), config, { runDir: `${dir}/b`, resume: true });
    resumed.encoder.dispose();
    resumed.centers.dispose();
    const a = await loadCheckpoint(`${dir}/a`), b = await loadCheckpoint(`${dir}/b`);
    assert.equal(b.manifest.step, 10);
    for (const [name, t] of a.tensors) {
      const u = b.tensors.get(name)!;
      let worst = 0;
      for (let i = 0; i < t.data.length; i++) {
        worst = Math.max(worst, Math.abs(Number(t.data[i]) - Number(u.data[i])));
      }
      assert.ok(worst <= 1e-6, `${name} differs by ${worst}`);
    }
  });
});
