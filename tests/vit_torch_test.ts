// The ViT encoder and the MLCD loss against an independent PyTorch implementation
// (tests/torch_reference.py): same weights from safetensors files written by the toolkit,
// forward outputs, every parameter's gradient, the loss and its input gradients.
import assert from "node:assert/strict";
import { createEncoder, embed, type Encoder, useTfBackend } from "../src/model/mod.ts";
import { tf } from "../src/model/tf.ts";
import { encodeSafetensors, type NamedTensor } from "../src/train/safetensors.ts";
import { resolveTrainConfig } from "../src/train/config.ts";
import { train } from "../src/train/trainer.ts";
import { mlcdLoss } from "../src/loss/mlcd_loss.ts";
import { sampleClasses } from "../src/loss/sample_classes.ts";
import { mlcdLossOp } from "../src/loss/tfjs_op.ts";
import { randomMatrix, rng, testGpu } from "./_gpu.ts";
import { peerTest, pythonPeer } from "./_peer.ts";
import { python } from "./_python.ts";
import { withDir } from "./_tmp.ts";

const SCRIPT = new URL("./torch_reference.py", import.meta.url).pathname;
const TORCH = await pythonPeer("PyTorch (apt-get install python3-torch)", ["torch", "numpy"]);

/** torch_reference.py's answer for a ViT: relative errors. */
interface VitErrors {
  params: number;
  forward: number;
  grads?: Record<string, number>;
}

/** torch_reference.py's answer for one loss evaluation: relative errors. */
interface LossErrors {
  loss: number;
  gradEmbeddings: number;
  gradCenters: number;
}

/** Runs tests/torch_reference.py with `args`; its JSON answer. */
async function torchReference(args: string[]): Promise<unknown> {
  return JSON.parse(await python([SCRIPT, ...args]));
}

const f32 = (shape: number[], data: Float32Array): NamedTensor => ({ dtype: "F32", shape, data });

/** Every parameter set to seeded non-trivial values (LayerNorm gains around 1). */
function randomize(enc: Encoder, seed: number): void {
  const r = rng(seed);
  for (const [name, v] of enc.params) {
    const n = v.size;
    const data = new Float32Array(n);
    const norm = /norm\d?\.weight$/.test(name);
    const scale = norm ? 0.2 : name.endsWith(".bias") ? 0.1 : 0.15;
    for (let i = 0; i < n; i++) data[i] = (norm ? 1 : 0) + (r() * 2 - 1) * scale;
    const t = tf.tensor(data, v.shape);
    v.assign(t);
    t.dispose();
  }
}

async function paramTensors(enc: Encoder, prefix = ""): Promise<Map<string, NamedTensor>> {
  const m = new Map<string, NamedTensor>();
  for (const [name, v] of enc.params) {
    m.set(prefix + name, f32([...v.shape], await v.data() as Float32Array));
  }
  return m;
}

function vitSpecJson(enc: Encoder): string {
  const s = enc.spec;
  return JSON.stringify({
    inputShape: s.inputShape,
    imageSize: s.imageSize,
    patch: s.patch,
    width: s.width,
    depth: s.depth,
    heads: s.heads,
    embedDim: s.embedDim,
  });
}

/** Forward + every gradient of sum(y ∘ R), written with the weights; torch compares. */
async function compareVit(
  inputSide: number,
  imageSize: number,
  seed: number,
): Promise<VitErrors> {
  await useTfBackend(await testGpu());
  const B = 3, C = 3;
  const enc = createEncoder({
    kind: "vit",
    inputShape: [inputSide, inputSide, C],
    embedDim: 10,
    imageSize,
    patch: 6,
    width: 48,
    depth: 2,
    heads: 3,
    mlpRatio: 2.5,
  }, { seed });
  try {
    return await withDir(async (dir) => {
      randomize(enc, seed + 1);
      const x = randomMatrix(B, inputSide * inputSide * C, seed + 2);
      const R = randomMatrix(B, 10, seed + 3);
      const xt = tf.tensor2d(x.data, [B, x.cols]), rt = tf.tensor2d(R.data, [B, 10]);
      const y = enc.apply(xt);
      const { grads } = tf.variableGrads(
        () => tf.sum(tf.mul(enc.apply(xt), rt)) as tf.Scalar,
        [...enc.params.values()],
      );
      const io = new Map<string, NamedTensor>([
        ["x", f32([B, x.cols], x.data)],
        ["y", f32([B, 10], await y.data() as Float32Array)],
        ["R", f32([B, 10], R.data)],
      ]);
      for (const [name, v] of enc.params) {
        const g = grads[v.name];
        assert.ok(g, `no gradient for ${name}`);
        io.set(`grad.${name}`, f32([...v.shape], await g.data() as Float32Array));
      }
      tf.dispose([xt, rt, y, ...Object.values(grads)]);
      await Deno.writeFile(`${dir}/w.safetensors`, encodeSafetensors(await paramTensors(enc)));
      await Deno.writeFile(`${dir}/io.safetensors`, encodeSafetensors(io));
      const r = await torchReference([
        "vit",
        `${dir}/w.safetensors`,
        "",
        `${dir}/io.safetensors`,
        vitSpecJson(enc),
      ]) as VitErrors;
      assert.equal(r.params, enc.params.size);
      return r;
    }, "mlcd_vit_torch_");
  } finally {
    enc.dispose();
  }
}

function assertGrads(r: VitErrors, count: number) {
  const grads = r.grads ?? {};
  assert.equal(Object.keys(grads).length, count);
  for (const [name, e] of Object.entries(grads)) {
    assert.ok(e < 1e-3, `gradient of ${name}: relative error ${e}`);
  }
}

peerTest({
  name:
    "vit encoder matches PyTorch: forward within 1e-4 and every parameter gradient within 1e-3 (image 30, patch 6, width 48, 3 heads, 2 blocks)",
  needs: [TORCH],
  fn: async () => {
    const r = await compareVit(30, 30, 11);
    assert.ok(r.forward < 1e-4, `forward relative error ${r.forward}`);
    assertGrads(r, 4 + 12 * 2 + 3);
  },
});

peerTest({
  name:
    "vit encoder matches PyTorch with bilinearly resized position embeddings (grid 5 learned, 6×6 used)",
  needs: [TORCH],
  fn: async () => {
    const r = await compareVit(38, 30, 21); // 38 px: 6×6 patches of 6, 2 px cropped
    assert.ok(r.forward < 1e-4, `forward relative error ${r.forward}`);
    assertGrads(r, 4 + 12 * 2 + 3);
  },
});

peerTest({
  name: "PyTorch loads a vit checkpoint written by train() and reproduces embed()",
  needs: [TORCH],
  fn: async () => {
    const gpu = await testGpu();
    await useTfBackend(gpu);
    await withDir(async (dir) => {
      const n = 24, side = 12;
      const x = randomMatrix(n, side * side, 5);
      const config = resolveTrainConfig({
        preset: "vit-tiny",
        imageSize: side,
        patch: 4,
        width: 16,
        heads: 2,
        depth: 1,
        embedDim: 8,
        classes: 4,
        l: 1,
        batchSize: 8,
        epochs: 1,
        warmupSteps: 0,
        lr: 0.01,
      });
      const res = await train(
        gpu,
        {
          x,
          inputShape: [side, side, 1],
          positives: new Uint32Array(n).map((_, i) => i % 4),
        },
        config,
        { runDir: dir },
      );
      const y = await embed(res.encoder, x);
      const io = new Map<string, NamedTensor>([
        ["x", f32([n, x.cols], x.data)],
        ["y", f32([n, 8], y.data)],
      ]);
      await Deno.writeFile(`${dir}/io.safetensors`, encodeSafetensors(io));
      const spec = vitSpecJson(res.encoder);
      const file = res.manifest!.file;
      res.encoder.dispose();
      res.centers.dispose();
      const r = await torchReference([
        "vit",
        `${dir}/${file}`,
        "encoder.",
        `${dir}/io.safetensors`,
        spec,
      ]) as VitErrors;
      assert.equal(r.params, 4 + 12 + 3);
      assert.ok(r.forward < 1e-4, `forward relative error ${r.forward}`);
    }, "mlcd_vit_ckpt_");
  },
});

peerTest({
  name: "mlcdLoss() and mlcdLossOp() match a PyTorch autograd MLCD loss (arc, cosine, mlc)",
  needs: [TORCH],
  fn: async () => {
    const gpu = await testGpu();
    await useTfBackend(gpu);
    const n = 7, d = 5, C = 11, l = 3;
    await withDir(async (dir) => {
      const cases = [
        { marginType: "arc", loss: "mlcd", scale: 16, margin: 0.3 },
        { marginType: "arc", loss: "mlcd", scale: 8, margin: 1.2 }, // fallback branch too
        { marginType: "cosine", loss: "mlcd", scale: 24, margin: 0.2 },
        { marginType: "arc", loss: "mlc", scale: 12, margin: 0.3 },
      ] as const;
      const runs: { what: string; file: string; options: string }[] = [];
      for (const [ci, o] of cases.entries()) {
        const E = randomMatrix(n, d, 30 + ci), W = randomMatrix(C, d, 40 + ci);
        const r = rng(50 + ci);
        const positives = new Uint32Array(n * l);
        for (let i = 0; i < n; i++) {
          const picked = new Set<number>();
          while (picked.size < l) picked.add(Math.floor(r() * C));
          positives.set([...picked], i * l);
        }
        const sampled = sampleClasses(positives, { classes: C, ratio: 0.8, seed: 60 + ci });
        const opts = { sampled, ...o };
        const g = await mlcdLoss(gpu, E, W, positives, opts);
        // The tfjs op the trainer uses: same kernels through tf.customGrad.
        const et = tf.tensor2d(E.data, [n, d]), wt = tf.tensor2d(W.data, [C, d]);
        const { value, grads } = tf.valueAndGrads((e: tf.Tensor, w: tf.Tensor) =>
          mlcdLossOp(gpu, e as tf.Tensor2D, w as tf.Tensor2D, positives, opts)
        )([et, wt]);
        const opLoss = (await value.data())[0]!;
        const opGe = await grads[0]!.data() as Float32Array;
        const opGw = await grads[1]!.data() as Float32Array;
        tf.dispose([et, wt, value, ...grads]);
        const ioFor = (loss: number, ge: Float32Array, gw: Float32Array) =>
          encodeSafetensors(
            new Map<string, NamedTensor>([
              ["embeddings", f32([n, d], E.data)],
              ["centers", f32([C, d], W.data)],
              ["positives", { dtype: "U32", shape: [n, l], data: positives }],
              ["sampled", { dtype: "U32", shape: [sampled.length], data: sampled }],
              ["loss", f32([1], new Float32Array([loss]))],
              ["gradEmbeddings", f32([n, d], ge)],
              ["gradCenters", f32([C, d], gw)],
            ]),
          );
        for (
          const [label, bytes] of [
            ["mlcdLoss", ioFor(g.loss, g.gradEmbeddings.data, g.gradCenters.data)],
            ["mlcdLossOp", ioFor(opLoss, opGe, opGw)],
          ] as const
        ) {
          const file = `${dir}/io${runs.length}.safetensors`;
          await Deno.writeFile(file, bytes);
          runs.push({ what: `${label} ${JSON.stringify(o)}`, file, options: JSON.stringify(o) });
        }
      }
      // One torch process for every case (its import dominates).
      const results = await torchReference([
        "loss",
        ...runs.flatMap((r) => [r.file, r.options]),
      ]) as LossErrors[];
      assert.equal(results.length, runs.length);
      results.forEach((t, i) => {
        const what = runs[i]!.what;
        assert.ok(t.loss < 1e-4, `${what}: loss relative error ${t.loss}`);
        assert.ok(
          t.gradEmbeddings < 1e-3,
          `${what}: gradEmbeddings relative error ${t.gradEmbeddings}`,
        );
        assert.ok(t.gradCenters < 1e-3, `${what}: gradCenters relative error ${t.gradCenters}`);
      });
    }, "mlcd_loss_torch_");
  },
});
