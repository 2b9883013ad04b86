// The ViT encoder: preset parameter counts against the standard models, config and flags,
// shapes and errors, and exact resume of a vit run. (PyTorch numerics: vit_torch_test.ts.)
import assert from "node:assert/strict";
import { createEncoder, embed, useTfBackend, VIT_PRESETS } from "../src/model/mod.ts";
import { bilinearWeights, vitDecays, vitParamShapes } from "../src/model/vit.ts";
import { resolveTrainConfig } from "../src/train/config.ts";
import { train } from "../src/train/trainer.ts";
import { loadCheckpoint } from "../src/train/checkpoint.ts";
import type { EncoderSpec } from "../src/model/encoder.ts";
import { batchMatMulRegisters } from "../src/model/_batch_matmul.ts";
import { tf } from "../src/model/tf.ts";
import { randomMatrix, testGpu } from "./_gpu.ts";
import { errLines, runDeno } from "./_cli.ts";
import { withDir } from "./_tmp.ts";

const count = (shapes: [string, number[]][]) =>
  shapes.reduce((a, [, s]) => a + s.reduce((x, y) => x * y, 1), 0);

Deno.test("VIT_PRESETS have the standard models' parameter counts (before the projection)", () => {
  // timm's ViTs at 224 px with num_classes=0 (no head): vit_small_patch16_224 22,050,664 with
  // its 1000-class head (384·1000 + 1000), vit_base_patch32_224 88,224,232 and
  // vit_base_patch16_224 86,567,656 with theirs (768·1000 + 1000).
  assert.equal(count(vitParamShapes(VIT_PRESETS["vit-s/16"], 3, 0)), 22_050_664 - 385_000);
  assert.equal(count(vitParamShapes(VIT_PRESETS["vit-b/32"], 3, 0)), 88_224_232 - 769_000);
  assert.equal(count(vitParamShapes(VIT_PRESETS["vit-b/16"], 3, 0)), 86_567_656 - 769_000);
  assert.equal(count(vitParamShapes(VIT_PRESETS["vit-b/16"], 3, 0)), 85_798_656);
  // ViT-L/14 in timm's layout; CLIP's ViT-L/14 visual tower (303,966,208) has no patch bias,
  // an extra pre-LayerNorm and a 1024×768 projection.
  const l14 = count(vitParamShapes(VIT_PRESETS["vit-l/14"], 3, 0));
  assert.equal(l14, 303_178_752);
  assert.equal(l14 - 1024 + 2 * 1024 + 1024 * 768, 303_966_208);
  // The toy preset (README's table).
  assert.equal(count(vitParamShapes(VIT_PRESETS["vit-tiny"], 3, 0)), 74_432);
  // The projection adds width × embedDim.
  assert.equal(
    count(vitParamShapes(VIT_PRESETS["vit-b/32"], 3, 512)),
    87_455_232 + 768 * 512,
  );
});

Deno.test("createEncoder() builds a vit whose variables are exactly vitParamShapes()", async () => {
  await useTfBackend(await testGpu());
  const spec: EncoderSpec = {
    kind: "vit",
    inputShape: [20, 20, 3],
    embedDim: 7,
    ...VIT_PRESETS["vit-tiny"],
    imageSize: 20,
    patch: 5,
  };
  const enc = createEncoder(spec, { seed: 3 });
  try {
    const shapes = vitParamShapes({ ...VIT_PRESETS["vit-tiny"], imageSize: 20, patch: 5 }, 3, 7);
    assert.deepEqual(
      [...enc.params].map(([k, v]) => [k, v.shape]),
      shapes,
    );
    assert.equal(enc.params.get("pos_embed")!.shape[0], 1 + 16);
    const z = await embed(enc, randomMatrix(5, 1200, 1), { batchSize: 2 });
    assert.equal(z.rows, 5);
    assert.equal(z.cols, 7);
    assert.ok(z.data.every(Number.isFinite));
    // Same seed, same weights; another seed, other weights.
    const again = createEncoder(spec, { seed: 3 });
    const other = createEncoder(spec, { seed: 4 });
    const w = (e: typeof enc) => e.params.get("blocks.1.attn.qkv.weight")!.data();
    assert.deepEqual(await w(again), await w(enc));
    assert.notDeepEqual(await w(other), await w(enc));
    again.dispose();
    other.dispose();
  } finally {
    enc.dispose();
  }
});

Deno.test("createEncoder() rejects vit shapes it cannot build", async () => {
  await useTfBackend(await testGpu());
  const base: EncoderSpec = { kind: "vit", inputShape: [16, 16, 3], embedDim: 4 };
  assert.throws(() => createEncoder({ ...base, width: 30, heads: 4 }, { seed: 1 }), {
    name: "RangeError",
    message: "Expected width to be a multiple of heads=4 but found 30",
  });
  assert.throws(() => createEncoder({ ...base, imageSize: 16, patch: 32 }, { seed: 1 }), {
    name: "RangeError",
    message: "Expected patch to be at most imageSize=16 but found 32",
  });
  assert.throws(() => createEncoder({ ...base, inputShape: [3, 16, 3], patch: 4 }, { seed: 1 }), {
    name: "RangeError",
    message: "Expected images of at least patch=4 pixels per side but found 3×16",
  });
  assert.throws(() => createEncoder({ ...base, inputShape: [256] }, { seed: 1 }), {
    name: "TypeError",
    message:
      'Expected inputShape of a "vit" encoder to be [height, width, channels] but found [256]',
  });
});

Deno.test("bilinearWeights() matches half-pixel bilinear interpolation and keeps identity", () => {
  // 2 → 4 (torch align_corners=False): sources -0.25→0 (clamped), 0.25, 0.75, 1.25→(1, 1)
  assert.deepEqual(
    [...bilinearWeights(4, 2)],
    [1, 0, 0.75, 0.25, 0.25, 0.75, 0, 1],
  );
  const id = bilinearWeights(3, 3);
  assert.deepEqual([...id], [1, 0, 0, 0, 1, 0, 0, 0, 1]);
  const down = bilinearWeights(2, 5); // sources 0.75 and 3.25
  assert.deepEqual([...down], [0.25, 0.75, 0, 0, 0, 0, 0, 0, 0.75, 0.25]);
});

Deno.test("resolveTrainConfig() applies a vit preset and lets explicit keys override it", () => {
  const c = resolveTrainConfig({ preset: "vit-b/32", depth: 6 });
  assert.equal(c.encoder, "vit");
  assert.equal(c.imageSize, 224);
  assert.equal(c.patch, 32);
  assert.equal(c.width, 768);
  assert.equal(c.heads, 12);
  assert.equal(c.depth, 6);
  // The resolved config re-resolves to itself (as resume compares it).
  assert.deepEqual(resolveTrainConfig({ ...c }), c);
  assert.throws(() => resolveTrainConfig({ preset: "vit-h/14" }), {
    name: "RangeError",
    message:
      'Expected preset to be one of "none", "vit-tiny", "vit-s/16", "vit-b/32", "vit-b/16", "vit-l/14" but found "vit-h/14"',
  });
  assert.throws(() => resolveTrainConfig({ encoder: "vit", width: 50, heads: 3 }), {
    name: "RangeError",
    message: "Expected width to be a multiple of heads=3 but found 50",
  });
  assert.throws(() => resolveTrainConfig({ encoder: "vit", mlpRatio: 0 }), {
    name: "RangeError",
    message: "Expected mlpRatio to be a number in (0, 1000] but found 0",
  });
  assert.ok(vitDecays("encoder.blocks.0.mlp.fc1.weight"));
  for (const n of ["encoder.pos_embed", "encoder.cls_token", "encoder.norm.weight", "x.bias"]) {
    assert.equal(vitDecays(n), false, n);
  }
  assert.equal(vitDecays("encoder.blocks.3.norm2.weight"), false);
});

Deno.test("deno task train: --preset with flag overrides; bad vit flags exit 2 with one line", async () => {
  const r = await runDeno([
    "src/cli/train.ts",
    "--data",
    "mnist",
    "--preset",
    "vit-s/16",
    "--heads",
    "5",
  ]);
  assert.equal(r.code, 2);
  assert.deepEqual(errLines(r.stderr), [
    "mlcd train: Expected width to be a multiple of heads=5 but found 384",
  ]);
  const h = await runDeno(["src/cli/train.ts", "--help"]);
  for (const f of ["--preset", "--image-size", "--patch", "--width", "--depth", "--heads"]) {
    assert.ok(h.stdout.includes(f), f);
  }
  assert.ok(h.stdout.includes("--mlp-ratio"));
});

Deno.test("train() with a vit resumes exactly from a mid-run checkpoint", async () => {
  const gpu = await testGpu();
  await withDir(async (dir) => {
    const n = 24, side = 10;
    const data = {
      x: randomMatrix(n, side * side, 9),
      inputShape: [side, side, 1],
      positives: new Uint32Array(n * 2).map((_, i) => (i * 7 + (i >> 1)) % 5),
    };
    for (let i = 0; i < n; i++) {
      if (data.positives[2 * i] === data.positives[2 * i + 1]) {
        data.positives[2 * i + 1] = (data.positives[2 * i]! + 1) % 5;
      }
    }
    const config = resolveTrainConfig({
      preset: "vit-tiny",
      imageSize: 8, // position grid 4×4 learned, 5×5 used: resized every step
      patch: 2,
      width: 12,
      heads: 3,
      depth: 1,
      embedDim: 6,
      classes: 5,
      l: 2,
      batchSize: 8,
      epochs: 2,
      warmupSteps: 1,
      checkpointEvery: 2,
      lr: 0.01,
    });
    const full = await train(gpu, data, config, { runDir: `${dir}/a` });
    full.encoder.dispose();
    full.centers.dispose();
    await assert.rejects(
      () =>
        train(gpu, data, config, {
          runDir: `${dir}/b`,
          onStep: (p) => {
            if (p.step === 5) throw new Error("crash");
          },
        }),
      /crash/,
    );
    assert.equal((await loadCheckpoint(`${dir}/b`)).manifest.step, 4);
    const resumed = await train(gpu, data, config, { runDir: `${dir}/b`, resume: true });
    resumed.encoder.dispose();
    resumed.centers.dispose();
    const a = await loadCheckpoint(`${dir}/a`), b = await loadCheckpoint(`${dir}/b`);
    assert.equal(a.manifest.step, 6);
    assert.equal(b.manifest.step, 6);
    const names = [...a.tensors.keys()].filter((k) => k.startsWith("encoder."));
    assert.equal(names.length, 4 + 12 + 3);
    for (const k of names) assert.deepEqual(b.tensors.get(k)!.data, a.tensors.get(k)!.data, k);
    assert.deepEqual(b.tensors.get("centers")!.data, a.tensors.get("centers")!.data);
  }, "mlcd_vit_resume_");
});

Deno.test("batchMatMulRegisters() matches a float64 reference, values and both gradients, in all four layouts", async () => {
  await useTfBackend(await testGpu());
  for (
    const [batch, M, K, N] of [[3, 7, 5, 9], [2, 1, 1, 1], [1, 13, 33, 6], [5, 4, 8, 4]] as [
      number,
      number,
      number,
      number,
    ][]
  ) {
    for (const tA of [false, true]) {
      for (const tB of [false, true]) {
        const what = `batch ${batch} M ${M} K ${K} N ${N} tA ${tA} tB ${tB}`;
        const a = randomMatrix(batch, M * K, M + K), b = randomMatrix(batch, K * N, K + N + 1);
        const r = randomMatrix(batch, M * N, 99);
        // element accessors of op(A) [M, K] and op(B) [K, N] in the stored layouts
        const ai = (z: number, i: number, k: number) => z * M * K + (tA ? k * M + i : i * K + k);
        const bi = (z: number, k: number, j: number) => z * K * N + (tB ? j * K + k : k * N + j);
        const c = new Float64Array(batch * M * N);
        const ga = new Float64Array(batch * M * K), gb = new Float64Array(batch * K * N);
        for (let z = 0; z < batch; z++) {
          for (let i = 0; i < M; i++) {
            for (let j = 0; j < N; j++) {
              const rr = r.data[z * M * N + i * N + j]!;
              let acc = 0;
              for (let k = 0; k < K; k++) {
                acc += a.data[ai(z, i, k)]! * b.data[bi(z, k, j)]!;
                ga[ai(z, i, k)]! += rr * b.data[bi(z, k, j)]!;
                gb[bi(z, k, j)]! += rr * a.data[ai(z, i, k)]!;
              }
              c[z * M * N + i * N + j] = acc;
            }
          }
        }
        const at = tf.tensor3d(a.data, tA ? [batch, K, M] : [batch, M, K]);
        const bt = tf.tensor3d(b.data, tB ? [batch, N, K] : [batch, K, N]);
        const rt = tf.tensor3d(r.data, [batch, M, N]);
        const y = batchMatMulRegisters(at, bt, tA, tB);
        assert.deepEqual(y.shape, [batch, M, N], what);
        const { grads } = tf.valueAndGrads((x: tf.Tensor, w: tf.Tensor) =>
          tf.sum(tf.mul(batchMatMulRegisters(x as tf.Tensor3D, w as tf.Tensor3D, tA, tB), rt))
        )([at, bt]);
        const close = (got: ArrayLike<number>, want: Float64Array, label: string) => {
          assert.equal(got.length, want.length, label);
          for (let i = 0; i < want.length; i++) {
            assert.ok(
              Math.abs(got[i]! - want[i]!) < 1e-4 * (1 + Math.abs(want[i]!)),
              `${label} [${i}]`,
            );
          }
        };
        close(await y.data(), c, `${what} value`);
        close(await grads[0]!.data(), ga, `${what} dA`);
        close(await grads[1]!.data(), gb, `${what} dB`);
        tf.dispose([at, bt, rt, y, ...grads]);
      }
    }
  }
  assert.throws(
    () => batchMatMulRegisters(tf.zeros([2, 3, 4]), tf.zeros([2, 5, 6])),
    {
      name: "TypeError",
      message:
        "Expected matching batch and inner sizes but found [2,3,4] and [2,5,6] (transposeA false, transposeB false)",
    },
  );
});
