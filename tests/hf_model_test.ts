// The Hugging Face tower's forward without PyTorch: chunked batches equal one batch, frozen
// layers leave the trained layers' gradients unchanged, and the encoder spec.
import assert from "node:assert/strict";
import { parseHfVisionSpec } from "../src/hf/hf_config.ts";
import { initHfWeights } from "../src/hf/init_hf_weights.ts";
import { createHfModel } from "../src/hf/load_hf_model.ts";
import { hfVisionForward } from "../src/hf/vision_forward.ts";
import { tf, useTfBackend } from "../src/model/tf.ts";
import { randomMatrix, relErr, testGpu } from "./_gpu.ts";

const MLCD = parseHfVisionSpec({
  model_type: "mlcd_vision_model",
  hidden_size: 32,
  intermediate_size: 40,
  num_hidden_layers: 3,
  num_attention_heads: 4,
  patch_size: 4,
  image_size: 12,
}, "config.json");

Deno.test("hfVisionForward() gives the same pooled outputs in chunks of 2 rows as in one batch", async () => {
  await useTfBackend(await testGpu());
  const w = initHfWeights(MLCD, { seed: 4 });
  const x = randomMatrix(5, 12 * 12 * 3, 9);
  const whole = hfVisionForward(MLCD, w, { inputSize: 12, projection: false });
  const chunked = hfVisionForward(MLCD, w, { inputSize: 12, projection: false, maxRows: 2 });
  const xt = tf.tensor2d(x.data, [5, x.cols]);
  const a = whole.apply(xt), b = chunked.apply(xt);
  assert.deepEqual(b.shape, [5, 32]);
  assert.ok(relErr(await b.data(), await a.data()) < 1e-6);
  tf.dispose([xt, a, b, ...w.values()]);
  whole.dispose();
  chunked.dispose();
});

Deno.test("createHfModel() with trainLayers 1: the last layer's gradients equal full fine-tuning's", async () => {
  await useTfBackend(await testGpu());
  const x = randomMatrix(3, 12 * 12 * 3, 2);
  const xt = tf.tensor2d(x.data, [3, x.cols]);
  const grads = async (trainLayers: number) => {
    const m = createHfModel(MLCD, initHfWeights(MLCD, { seed: 5, trainLayers }), {
      inputSize: 12,
      trainLayers,
    });
    const { grads } = tf.variableGrads(
      () => tf.sum(tf.square(m.encoder.apply(xt))),
      [...m.encoder.params.values()],
    );
    const out = new Map<string, Float32Array>();
    for (const [name, v] of m.encoder.params) {
      out.set(name, await grads[v.name]!.data() as Float32Array);
    }
    tf.dispose(Object.values(grads));
    m.dispose();
    return out;
  };
  const all = await grads(0), last = await grads(1);
  assert.equal(all.size, 4 + 16 * 3 + 2 + 1);
  assert.equal(last.size, 16 + 2);
  for (const [name, g] of last) {
    assert.ok(/layers\.2\.|post_layernorm/.test(name), name);
    assert.ok(relErr(g, all.get(name)!) < 1e-5, name);
  }
  xt.dispose();
});

Deno.test("createHfModel() describes the tower as a vit spec with the pooled size as embedDim", async () => {
  await useTfBackend(await testGpu());
  const clip = parseHfVisionSpec({
    model_type: "clip",
    projection_dim: 8,
    vision_config: {
      hidden_size: 16,
      intermediate_size: 20,
      num_hidden_layers: 1,
      num_attention_heads: 2,
      patch_size: 4,
      image_size: 8,
    },
  }, "config.json");
  const m = createHfModel(clip, initHfWeights(clip, { projection: true }), {
    inputSize: 8,
    projection: true,
  });
  assert.deepEqual(
    { ...m.encoder.spec },
    {
      kind: "vit",
      inputShape: [8, 8, 3],
      embedDim: 8,
      hidden: [],
      channels: [],
      imageSize: 8,
      patch: 4,
      width: 16,
      depth: 1,
      heads: 2,
      mlpRatio: 1.25,
    },
  );
  const y = m.encoder.apply(tf.zeros([2, 8 * 8 * 3]));
  assert.deepEqual(y.shape, [2, 8]);
  y.dispose();
  m.dispose();
  assert.throws(() => hfVisionForward(clip, new Map(), { inputSize: 12, projection: false }), {
    name: "RangeError",
    message:
      "Expected 8 px images for this CLIP model (its position embedding has a 2×2 grid) but found 12 px",
  });
});

Deno.test("hfVisionForward() gives the same outputs and gradients with and without materialised Wᵀ", async () => {
  await useTfBackend(await testGpu());
  const w = initHfWeights(MLCD, { seed: 6, trainLayers: 0 });
  const x = randomMatrix(2, 12 * 12 * 3, 4);
  const xt = tf.tensor2d(x.data, [2, x.cols]);
  const run = async (transposeWeights: boolean) => {
    const f = hfVisionForward(MLCD, w, { inputSize: 12, projection: false, transposeWeights });
    const { value, grads } = tf.variableGrads(() => tf.sum(tf.square(f.apply(xt))), [
      ...w.values(),
    ]);
    const out = [
      await value.data(),
      ...await Promise.all([...w.values()].map((v) => grads[v.name]!.data())),
    ];
    tf.dispose([value, ...Object.values(grads)]);
    f.dispose();
    return out;
  };
  const a = await run(true), b = await run(false);
  a.forEach((t, i) => assert.ok(relErr(b[i]!, t) < 1e-5, `tensor ${i}`));
  tf.dispose([xt, ...w.values()]);
});
