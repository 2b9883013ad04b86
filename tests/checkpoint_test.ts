import assert from "node:assert/strict";
import {
  decodeSafetensors,
  encodeSafetensors,
  loadCheckpoint,
  loadEncoder,
  type NamedTensor,
  resolveTrainConfig,
  saveCheckpoint,
  train,
} from "../src/train/mod.ts";
import { resolveEncoderSpec } from "../src/model/encoder.ts";
import { useTfBackend } from "../src/model/tf.ts";
import { randomMatrix, testGpu } from "./_gpu.ts";
import { withDir } from "./_tmp.ts";

Deno.test("encodeSafetensors() round-trips F32 and U32 tensors in the standard layout", () => {
  const t = new Map<string, NamedTensor>([
    ["a", { dtype: "F32", shape: [2, 3], data: new Float32Array([1, 2, 3, 4, 5, -6.5]) }],
    ["b", { dtype: "U32", shape: [1], data: new Uint32Array([4294967295]) }],
    ["empty", { dtype: "F32", shape: [0, 4], data: new Float32Array(0) }],
  ]);
  const bytes = encodeSafetensors(t, { k: "v" });
  const hlen = Number(new DataView(bytes.buffer).getBigUint64(0, true));
  assert.equal((8 + hlen) % 8, 0);
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + hlen)));
  assert.deepEqual(header.a, { dtype: "F32", shape: [2, 3], data_offsets: [0, 24] });
  const back = decodeSafetensors(bytes);
  assert.deepEqual(back.metadata, { k: "v" });
  assert.deepEqual([...back.tensors.get("a")!.data], [1, 2, 3, 4, 5, -6.5]);
  assert.equal(back.tensors.get("b")!.data[0], 4294967295);
});

Deno.test("decodeSafetensors() refuses truncated and malformed files", () => {
  const ok = encodeSafetensors(
    new Map([["w", { dtype: "F32", shape: [4], data: new Float32Array(4) } as NamedTensor]]),
  );
  assert.throws(() => decodeSafetensors(ok.subarray(0, ok.length - 1), "w.st"), {
    name: "TypeError",
    message: 'Cannot read w.st: tensor "w" has data offsets [0,16] outside 15 bytes',
  });
  assert.throws(() => decodeSafetensors(ok.subarray(0, 5), "w.st"), TypeError);
  const bad = ok.slice();
  bad[8] = 0x7b + 1; // break the JSON
  assert.throws(() => decodeSafetensors(bad, "w.st"), {
    name: "TypeError",
    message: "Cannot read w.st: the header is not valid JSON",
  });
});

async function tinyRun(dir: string) {
  const gpu = await testGpu();
  await useTfBackend(gpu);
  const x = randomMatrix(40, 6, 1);
  const positives = new Uint32Array(40 * 2).map((_, i) => (i * 3 + (i >> 1)) % 5);
  const config = resolveTrainConfig({
    classes: 5,
    l: 2,
    hidden: [8],
    embedDim: 4,
    batchSize: 16,
    epochs: 2,
    warmupSteps: 1,
    ratio: 1,
  });
  const r = await train(gpu, { x, inputShape: [6], positives }, config, { runDir: dir });
  return { r, x, positives, config, gpu };
}

Deno.test("train() writes a verifiable checkpoint that loadEncoder() restores", async () => {
  await withDir(async (dir) => {
    const { r, x } = await tinyRun(dir);
    const { manifest, tensors } = await loadCheckpoint(dir);
    assert.equal(manifest.format, "mlcd-checkpoint");
    assert.equal(manifest.step, 4);
    assert.equal(manifest.done, true);
    assert.match(manifest.sha256, /^[0-9a-f]{64}$/);
    assert.ok(tensors.has("centers") && tensors.has("adam.m.encoder.fc0.weight"));
    const { encoder, centers } = await loadEncoder(dir);
    assert.deepEqual(centers.shape, [5, 4]);
    const { embed } = await import("../src/model/encoder.ts");
    const a = await embed(r.encoder, x), b = await embed(encoder, x);
    assert.deepEqual(a.data, b.data);
    encoder.dispose();
    centers.dispose();
    r.encoder.dispose();
    r.centers.dispose();
  }, "mlcd_ckpt_");
});

Deno.test("loadCheckpoint() refuses a corrupt tensor file and a broken manifest", async () => {
  await withDir(async (dir) => {
    const { r } = await tinyRun(dir);
    r.encoder.dispose();
    r.centers.dispose();
    const m = JSON.parse(await Deno.readTextFile(`${dir}/checkpoint.json`));
    const f = `${dir}/${m.file}`;
    const bytes = await Deno.readFile(f);
    bytes[bytes.length - 3]! ^= 0xff;
    await Deno.writeFile(f, bytes);
    await assert.rejects(() => loadCheckpoint(dir), (e: Error) => {
      assert.equal(e.name, "TypeError");
      assert.match(e.message, /^Refusing corrupt checkpoint .*: sha256 [0-9a-f]+ does not match/);
      return true;
    });
    await Deno.writeTextFile(`${dir}/checkpoint.json`, "{ nope");
    await assert.rejects(() => loadCheckpoint(dir), {
      name: "TypeError",
      message: `Cannot read checkpoint ${dir}/checkpoint.json: the manifest is not valid JSON`,
    });
    await Deno.remove(`${dir}/checkpoint.json`);
    await assert.rejects(() => loadCheckpoint(dir), Deno.errors.NotFound);
  }, "mlcd_ckpt_");
});

Deno.test("loadEncoder() names a wrong dtype and checks the manifest's sizes before allocating", async () => {
  await useTfBackend(await testGpu()); // as eval and embed run it
  await withDir(async (dir) => {
    // A checkpoint written by hand (no training): a head encoder 6 → 8 → 4 and 5 centers.
    const f32 = (shape: number[]): NamedTensor => ({
      dtype: "F32",
      shape,
      data: new Float32Array(shape.reduce((a, b) => a * b, 1)),
    });
    const tensors = new Map<string, NamedTensor>([
      ["encoder.fc0.weight", { dtype: "U32", shape: [6, 8], data: new Uint32Array(48) }],
      ["encoder.fc0.bias", f32([8])],
      ["encoder.fc1.weight", f32([8, 4])],
      ["encoder.fc1.bias", f32([4])],
      ["centers", f32([5, 4])],
    ]);
    const fields = {
      format: "mlcd-checkpoint" as const,
      formatVersion: 1 as const,
      toolkitVersion: "test",
      config: resolveTrainConfig({ classes: 5, l: 2, hidden: [8], embedDim: 4 }),
      encoder: resolveEncoderSpec({ kind: "head", inputShape: [6], embedDim: 4, hidden: [8] }),
      step: 1,
      totalSteps: 1,
      done: true,
      optimizerT: 1,
      rng: { seed: 1, samplerState: 0 },
      data: { rows: 5, inputDim: 6, l: 2 },
    };
    await saveCheckpoint(dir, tensors, fields);
    await assert.rejects(() => loadEncoder(dir), {
      name: "TypeError",
      message:
        `Cannot load checkpoint ${dir}: tensor "encoder.fc0.weight" is U32 [6,8], expected F32 [6,8]`,
    });
    // A manifest whose encoder needs 2e9 × 6 values: refused by the file's shapes, not by the
    // allocator ("Array buffer allocation failed").
    tensors.set("encoder.fc0.weight", f32([6, 8]));
    await saveCheckpoint(dir, tensors, {
      ...fields,
      encoder: { ...fields.encoder, hidden: [2e9] },
    });
    await assert.rejects(() => loadEncoder(dir), {
      name: "TypeError",
      message:
        `Cannot load checkpoint ${dir}: tensor "encoder.fc0.weight" is F32 [6,8], expected F32 [6,2000000000]`,
    });
  }, "mlcd_ckpt_");
});

Deno.test("train({ resume }) refuses a checkpoint with a different config or data shape", async () => {
  await withDir(async (dir) => {
    const { r, x, positives, config, gpu } = await tinyRun(dir);
    r.encoder.dispose();
    r.centers.dispose();
    await assert.rejects(
      () =>
        train(gpu, { x, inputShape: [6], positives }, { ...config, lr: 0.5 }, {
          runDir: dir,
          resume: true,
        }),
      {
        name: "TypeError",
        message: "Cannot resume: the checkpoint's config differs in lr (checkpoint 0.001)",
      },
    );
    const x7 = randomMatrix(40, 7, 1);
    await assert.rejects(
      () =>
        train(gpu, { x: x7, inputShape: [7], positives }, config, { runDir: dir, resume: true }),
      {
        name: "TypeError",
        message:
          "Cannot resume: the checkpoint was trained on 40 rows of 6 values (l=2) but the data has 40 rows of 7 (l=2)",
      },
    );
    // A tensor of the wrong dtype (sha256 updated): named with its dtype, not as a shape mismatch.
    const { manifest, tensors } = await loadCheckpoint(dir);
    const w = tensors.get("encoder.fc0.weight")!;
    tensors.set("encoder.fc0.weight", { ...w, dtype: "U32", data: new Uint32Array(w.data) });
    await saveCheckpoint(dir, tensors, manifest);
    await assert.rejects(
      () => train(gpu, { x, inputShape: [6], positives }, config, { runDir: dir, resume: true }),
      {
        name: "TypeError",
        message:
          'Cannot resume: tensor "encoder.fc0.weight" in the checkpoint is U32 [6,8], expected F32 [6,8]',
      },
    );
  }, "mlcd_ckpt_");
});
