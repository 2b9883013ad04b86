import assert from "node:assert/strict";
import { mlcdLoss } from "../src/loss/mlcd_loss.ts";
import { mlcdLossOp, mlcdLossTf } from "../src/loss/tfjs_op.ts";
import { mlcdLossReference } from "../src/loss/mlcd_loss_reference.ts";
import type { MlcdLossOptions } from "../src/loss/mlcd_loss_options.ts";
import { sampleClasses } from "../src/loss/sample_classes.ts";
import { tf, useTfBackend } from "../src/model/tf.ts";
import { randomMatrix, randomPositives, relErr, testGpu } from "./_gpu.ts";

const n = 37, C = 1001, d = 77, l = 8;

for (
  const options of [
    { marginType: "arc" },
    { marginType: "cosine" },
    { loss: "mlc" },
    { marginType: "arc", scale: 128, sampling: false },
  ] as (MlcdLossOptions & { sampling?: boolean })[]
) {
  Deno.test(
    `mlcdLossOp() gradients match mlcdLoss and mlcdLossTf through tf.grads (${
      JSON.stringify(options)
    })`,
    async () => {
      const gpu = await testGpu();
      await useTfBackend(gpu);
      const E = randomMatrix(n, d, 1), W = randomMatrix(C, d, 2);
      const positives = randomPositives(n, l, C, 3);
      const { sampling, ...opts } = options;
      if (sampling !== false) {
        opts.sampled = sampleClasses(positives, { classes: C, ratio: 0.1, seed: 4 });
      }
      const ref = await mlcdLoss(gpu, E, W, positives, opts);
      // The independent answer: float64, from the paper's formula on class ids, with its own
      // validation and defaults (no shared preparation with mlcdLoss, mlcdLossOp or mlcdLossTf).
      const f64 = mlcdLossReference({ embeddings: E, centers: W, positives, ...opts });
      const e = tf.tensor2d(E.data, [n, d]), w = tf.tensor2d(W.data, [C, d]);
      const before = tf.memory().numTensors;
      for (const [name, f] of [["op", mlcdLossOp], ["tf", null]] as const) {
        const vg = tf.valueAndGrads((a, b) =>
          f
            ? f(gpu, a as tf.Tensor2D, b as tf.Tensor2D, positives, opts)
            : mlcdLossTf(a as tf.Tensor2D, b as tf.Tensor2D, positives, opts)
        );
        const { value, grads } = vg([e, w]);
        const [v, ge, gw] = await Promise.all([value.data(), grads[0]!.data(), grads[1]!.data()]);
        tf.dispose([value, ...grads]);
        assert.ok(Math.abs(v[0]! - ref.loss) <= 1e-5 * ref.loss, `${name}: ${v[0]} vs ${ref.loss}`);
        // "op": mlcdLossOp wraps mlcdLoss's own kernels, so agreeing to 1e-6 checks plumbing
        // only (tf.grads feeds the upstream gradient and returns the kernels' gradients).
        // "tf": mlcdLossTf is built from tfjs ops, the real cross-check of the kernels; it and
        // the kernels are both checked against the float64 reference below.
        const tol = name === "op" ? 1e-6 : 1e-3;
        assert.ok(relErr(ge, ref.gradEmbeddings.data) <= tol, `${name} grad embeddings`);
        assert.ok(relErr(gw, ref.gradCenters.data) <= tol, `${name} grad centers`);
        assert.ok(Math.abs(v[0]! - f64.loss) <= 1e-5 * f64.loss, `${name}: ${v[0]} vs ${f64.loss}`);
        assert.ok(relErr(ge, f64.gradEmbeddings) <= 1e-3, `${name} grad embeddings vs float64`);
        assert.ok(relErr(gw, f64.gradCenters) <= 1e-3, `${name} grad centers vs float64`);
      }
      assert.equal(tf.memory().numTensors, before, "no tensor leaks");
      tf.dispose([e, w]);
    },
  );
}

Deno.test("mlcdLossOp() scales its gradients by the upstream gradient", async () => {
  const gpu = await testGpu();
  await useTfBackend(gpu);
  const E = randomMatrix(5, 6, 1), W = randomMatrix(9, 6, 2);
  const positives = randomPositives(5, 2, 9, 3);
  const e = tf.tensor2d(E.data, [5, 6]), w = tf.tensor2d(W.data, [9, 6]);
  const g1 = tf.grads((a, b) => mlcdLossOp(gpu, a as tf.Tensor2D, b as tf.Tensor2D, positives));
  const g3 = tf.grads((a, b) =>
    tf.mul(mlcdLossOp(gpu, a as tf.Tensor2D, b as tf.Tensor2D, positives), 3)
  );
  const [a1, a3] = [g1([e, w]), g3([e, w])];
  const x1 = await a1[0]!.data(), x3 = await a3[0]!.data();
  for (let i = 0; i < x1.length; i++) assert.ok(Math.abs(x3[i]! - 3 * x1[i]!) < 1e-5);
  tf.dispose([e, w, ...a1, ...a3]);
});

Deno.test("mlcdLossOp() throws RangeError on bad positives", async () => {
  const gpu = await testGpu();
  await useTfBackend(gpu);
  const e = tf.zeros([2, 3]) as tf.Tensor2D, w = tf.ones([4, 3]) as tf.Tensor2D;
  assert.throws(() => mlcdLossOp(gpu, e, w, new Uint32Array([0, 4])), {
    name: "RangeError",
    message: "Expected positives[1] (row 1) to be a class id in [0, 3] but found 4",
  });
  assert.throws(() => mlcdLossTf(e, w, new Uint32Array([1, 1, 2])), {
    name: "TypeError",
    message: "Expected positives.length to be a positive multiple of n = 2 but found 3",
  });
  tf.dispose([e, w]);
});

Deno.test("mlcdLossOp() and mlcdLossTf() take mlcdLoss's one call shape (mlcdLossTf without the gpu) and refuse others with a TypeError showing it", async () => {
  const gpu = await testGpu();
  await useTfBackend(gpu);
  const E = randomMatrix(3, 4, 1), W = randomMatrix(10, 4, 2);
  const positives = new Uint32Array([0, 1, 2]);
  const e = tf.tensor2d(E.data, [3, 4]), w = tf.tensor2d(W.data, [10, 4]);
  const oneObject = (form: string) => ({
    name: "TypeError",
    message:
      `Expected ${form} but found one object { embeddings, centers, positives, ... } in place of the embeddings`,
  });
  try {
    assert.throws(
      // @ts-expect-error: one input object
      () => mlcdLossOp(gpu, { embeddings: e, centers: w, positives }),
      oneObject("mlcdLossOp(gpu, embeddings, centers, positives, options)"),
    );
    assert.throws(
      // @ts-expect-error: one input object
      () => mlcdLossTf({ embeddings: e, centers: w, positives }),
      oneObject("mlcdLossTf(embeddings, centers, positives, options)"),
    );
    assert.throws(
      // @ts-expect-error: mlcdLossTf takes no gpu
      () => mlcdLossTf(gpu, e, w, positives, {}),
      {
        name: "TypeError",
        message:
          "Expected mlcdLossTf(embeddings, centers, positives, options), which takes no gpu, but found a Gpu as the first argument",
      },
    );
    const positional = (fn: string) => ({
      name: "TypeError",
      message:
        `Expected the options of ${fn}() to be an object such as { sampled, scale: 64, margin: 0.3 } but found 32`,
    });
    // @ts-expect-error: a scale where the options go
    assert.throws(() => mlcdLossTf(e, w, positives, 32), positional("mlcdLossTf"));
    // @ts-expect-error: a scale where the options go
    assert.throws(() => mlcdLossOp(gpu, e, w, positives, 32), positional("mlcdLossOp"));
    // The one form in all three gives one loss.
    const options = { scale: 16, marginType: "cosine" } as const;
    const host = await mlcdLoss(gpu, E, W, positives, options);
    for (
      const t of [mlcdLossOp(gpu, e, w, positives, options), mlcdLossTf(e, w, positives, options)]
    ) {
      const v = (await t.data())[0]!;
      t.dispose();
      assert.ok(Math.abs(v - host.loss) <= 1e-5 * Math.abs(host.loss), `${v} vs ${host.loss}`);
    }
  } finally {
    tf.dispose([e, w]);
  }
});
