import assert from "node:assert/strict";
import {
  createEncoder,
  decodeImages,
  embed,
  resolveEncoderSpec,
  useTfBackend,
} from "../src/model/mod.ts";
import { tf } from "../src/model/tf.ts";
import { randomMatrix, testGpu } from "./_gpu.ts";
import { withDir } from "./_tmp.ts";

Deno.test("createEncoder() builds a head MLP with named parameters and the right output shape", async () => {
  await useTfBackend(await testGpu());
  const enc = createEncoder({ kind: "head", inputShape: [7], embedDim: 3, hidden: [5] }, {
    seed: 1,
  });
  assert.deepEqual([...enc.params.keys()], ["fc0.weight", "fc0.bias", "fc1.weight", "fc1.bias"]);
  assert.deepEqual(enc.params.get("fc0.weight")!.shape, [7, 5]);
  const x = randomMatrix(4, 7, 2);
  const z = await embed(enc, x);
  assert.equal(z.rows, 4);
  assert.equal(z.cols, 3);
  // float64 reference of relu(x W0 + b0) W1 + b1 (biases are zero at init)
  const w0 = await enc.params.get("fc0.weight")!.data(),
    w1 = await enc.params.get("fc1.weight")!.data();
  for (let r = 0; r < 4; r++) {
    const h = Array.from({ length: 5 }, (_, j) => {
      let s = 0;
      for (let i = 0; i < 7; i++) s += x.data[r * 7 + i]! * w0[i * 5 + j]!;
      return Math.max(0, s);
    });
    for (let o = 0; o < 3; o++) {
      let s = 0;
      for (let j = 0; j < 5; j++) s += h[j]! * w1[j * 3 + o]!;
      assert.ok(Math.abs(s - z.data[r * 3 + o]!) < 1e-4);
    }
  }
  const wide = createEncoder({ kind: "head", inputShape: [7], embedDim: 3, hidden: [64] }, {
    seed: 1,
  });
  const zn = await embed(wide, x, { normalize: true, batchSize: 3 });
  wide.dispose();
  for (let r = 0; r < 4; r++) {
    let s = 0;
    for (let o = 0; o < 3; o++) s += zn.data[r * 3 + o]! ** 2;
    assert.ok(Math.abs(s - 1) < 1e-5);
  }
  enc.dispose();
});

Deno.test("createEncoder() is deterministic for a seed and differs across seeds", async () => {
  await useTfBackend(await testGpu());
  const spec = { kind: "head" as const, inputShape: [6], embedDim: 2, hidden: [] };
  const a = createEncoder(spec, { seed: 5 }),
    b = createEncoder(spec, { seed: 5 }),
    c = createEncoder(spec, { seed: 6 });
  const [wa, wb, wc] = await Promise.all([a, b, c].map((e) => e.params.get("fc0.weight")!.data()));
  assert.deepEqual(wa, wb);
  assert.notDeepEqual(wa, wc);
  [a, b, c].forEach((e) => e.dispose());
});

Deno.test("createEncoder() builds a cnn on odd image sizes", async () => {
  await useTfBackend(await testGpu());
  const enc = createEncoder(
    { kind: "cnn", inputShape: [9, 7, 3], embedDim: 4, channels: [2, 3] },
    { seed: 1 },
  );
  assert.deepEqual(enc.params.get("fc0.weight")!.shape, [3 * 2 * 3, 4]); // 9×7 → 5×4 → 3×2
  const z = tf.tidy(() => enc.apply(tf.ones([2, 9 * 7 * 3]) as tf.Tensor2D));
  assert.deepEqual(z.shape, [2, 4]);
  z.dispose();
  enc.dispose();
});

Deno.test("resolveEncoderSpec() rejects bad specs with clear errors", () => {
  assert.throws(() => resolveEncoderSpec({ kind: "rnn" as "head", inputShape: [3], embedDim: 2 }), {
    name: "RangeError",
    message: 'Expected encoder to be "head", "cnn" or "vit" but found "rnn"',
  });
  assert.throws(() => resolveEncoderSpec({ kind: "cnn", inputShape: [3], embedDim: 2 }), {
    name: "TypeError",
    message: 'Expected inputShape of a "cnn" encoder to be [height, width, channels] but found [3]',
  });
  assert.throws(
    () => resolveEncoderSpec({ kind: "head", inputShape: [3], embedDim: 0 }),
    RangeError,
  );
});

Deno.test("embed() throws TypeError on an input width mismatch", async () => {
  await useTfBackend(await testGpu());
  const enc = createEncoder({ kind: "head", inputShape: [4], embedDim: 2 }, { seed: 1 });
  await assert.rejects(() => embed(enc, randomMatrix(2, 5, 1)), {
    name: "TypeError",
    message: "Expected input rows of 4 values (the encoder's input) but found 5",
  });
  enc.dispose();
});

Deno.test("decodeImages() decodes png/jpg/webp files, resizes and normalises to [-1, 1]", async () => {
  const { default: sharp } = await import("npm:sharp@0.35.5");
  await withDir(async (dir) => {
    const red = { width: 10, height: 6, channels: 3 as const, background: { r: 255, g: 0, b: 0 } };
    await sharp({ create: red }).png().toFile(`${dir}/a.png`);
    await sharp({ create: { ...red, background: { r: 0, g: 0, b: 255 } } }).webp({ lossless: true })
      .toFile(`${dir}/b.webp`);
    await Deno.mkdir(`${dir}/sub`);
    await sharp({ create: { ...red, background: { r: 0, g: 255, b: 0 } } }).jpeg({ quality: 100 })
      .toFile(`${dir}/sub/c.jpg`);
    await Deno.writeTextFile(`${dir}/notes.txt`, "ignored");
    const d = await decodeImages([dir], { size: 4 });
    assert.deepEqual(d.inputShape, [4, 4, 3]);
    assert.equal(d.x.rows, 3);
    assert.deepEqual(d.files.map((f) => f.slice(dir.length)), ["/a.png", "/b.webp", "/sub/c.jpg"]);
    const px = (r: number) =>
      Array.from(d.x.data.subarray(r * 48, r * 48 + 3), (v) => Math.round(v));
    assert.deepEqual(px(0), [1, -1, -1]);
    assert.deepEqual(px(1), [-1, -1, 1]);
    assert.deepEqual(px(2), [-1, 1, -1]);
    await Deno.writeTextFile(`${dir}/broken.png`, "not an image");
    await assert.rejects(() => decodeImages([dir], { size: 4 }), TypeError);
    await assert.rejects(() => decodeImages([`${dir}/sub`], { size: 0 }), RangeError);
  }, "mlcd_images_");
});
