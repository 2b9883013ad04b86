// Bad Hugging Face model directories: one error naming the file or tensor, before any weight
// is read; and the memory check that refuses what cannot fit the adapter.
import assert from "node:assert/strict";
import type { Gpu } from "../src/gpu/gpu.ts";
import { hfParamShapes, parseHfVisionSpec } from "../src/hf/hf_config.ts";
import { loadHfModel } from "../src/hf/load_hf_model.ts";
import { checkHfFits, hfMemoryPlan } from "../src/hf/memory.ts";
import { parsePreprocessorConfig } from "../src/hf/preprocessor_config.ts";
import { encodeSafetensorsHeader } from "../src/hf/safetensors_file.ts";
import { testGpu } from "./_gpu.ts";
import { withDir } from "./_tmp.ts";

const CONFIG = {
  model_type: "mlcd_vision_model",
  hidden_size: 16,
  intermediate_size: 24,
  num_hidden_layers: 2,
  num_attention_heads: 2,
  patch_size: 4,
  image_size: 16,
};
const PP = { size: 16, crop_size: 16 };

/** Writes a model directory; `edit` may change the tensor list before it is written. */
async function writeModel(
  dir: string,
  o: {
    config?: Record<string, unknown>;
    pp?: Record<string, unknown> | null;
    shards?: number;
    edit?: (t: [string, string, number[]][]) => void;
  } = {},
): Promise<void> {
  const config = o.config ?? CONFIG;
  await Deno.writeTextFile(`${dir}/config.json`, JSON.stringify(config));
  if (o.pp !== null) {
    await Deno.writeTextFile(`${dir}/preprocessor_config.json`, JSON.stringify(o.pp ?? PP));
  }
  const c = parseHfVisionSpec(
    config.model_type === "clip_vision_model" ? config : CONFIG,
    "x",
  ); // the shapes of the fixture (an MLCD one unless it is a CLIP config)
  const tensors = hfParamShapes(c, false).map(([n, s]) =>
    [n, "F32", s] as [string, string, number[]]
  );
  o.edit?.(tensors);
  const shards = o.shards ?? 1;
  const per = Math.ceil(tensors.length / shards);
  const map: Record<string, string> = {};
  for (let s = 0; s < shards; s++) {
    const part = tensors.slice(s * per, (s + 1) * per);
    const name = shards === 1
      ? "model.safetensors"
      : `model-0000${s + 1}-of-0000${shards}.safetensors`;
    const { header, dataBytes } = encodeSafetensorsHeader(part);
    const bytes = new Uint8Array(header.length + dataBytes);
    bytes.set(header);
    await Deno.writeFile(`${dir}/${name}`, bytes);
    for (const [n] of part) map[n] = name;
  }
  if (shards > 1) {
    await Deno.writeTextFile(
      `${dir}/model.safetensors.index.json`,
      JSON.stringify({ metadata: {}, weight_map: map }),
    );
  }
}

async function loadError(dir: string): Promise<Error> {
  const gpu = await testGpu();
  try {
    const m = await loadHfModel(gpu, dir);
    m.dispose();
  } catch (e) {
    return e as Error;
  }
  throw new Error("expected loadHfModel() to throw");
}

Deno.test("loadHfModel() loads a well-formed directory (the fixture of the error tests)", () =>
  withDir(async (dir) => {
    await writeModel(dir, { shards: 2 });
    const gpu = await testGpu();
    const m = await loadHfModel(gpu, dir);
    assert.equal(m.weights.size, 4 + 16 * 2 + 2 + 1);
    assert.equal(m.encoder.spec.embedDim, 16);
    m.dispose();
  }));

Deno.test("loadHfModel() names a missing tensor", () =>
  withDir(async (dir) => {
    await writeModel(dir, {
      edit: (t) => t.splice(t.findIndex(([n]) => n.endsWith("fc2.bias")), 1),
    });
    const e = await loadError(dir);
    assert.equal(e.name, "TypeError");
    assert.equal(
      e.message,
      `Cannot load ${dir}: tensor "vision_model.encoder.layers.0.mlp.fc2.bias" is missing (expected shape [16])`,
    );
  }));

Deno.test("loadHfModel() names a tensor of the wrong shape and its shard", () =>
  withDir(async (dir) => {
    await writeModel(dir, {
      shards: 2,
      edit: (t) => t.find(([n]) => n.endsWith("layers.1.mlp.fc1.weight"))![2] = [24, 15],
    });
    const e = await loadError(dir);
    assert.equal(e.name, "TypeError");
    assert.equal(
      e.message,
      `Cannot load ${dir}/model-00002-of-00002.safetensors: tensor "vision_model.encoder.layers.1.mlp.fc1.weight" has shape [24,15], expected [24,16]`,
    );
  }));

Deno.test("loadHfModel() names a tensor of an unsupported dtype", () =>
  withDir(async (dir) => {
    await writeModel(dir, {
      edit: (t) => t.find(([n]) => n.endsWith("class_pos_emb"))![1] = "I32",
    });
    const e = await loadError(dir);
    assert.equal(
      e.message,
      `Cannot load ${dir}/model.safetensors: tensor "vision_model.class_pos_emb" has dtype I32, expected F32, F16 or BF16`,
    );
  }));

Deno.test("loadHfModel() names a truncated shard before reading any weight", () =>
  withDir(async (dir) => {
    await writeModel(dir, { shards: 3 });
    const shard = `${dir}/model-00002-of-00003.safetensors`;
    const bytes = await Deno.readFile(shard);
    await Deno.writeFile(shard, bytes.subarray(0, bytes.length - 5));
    const e = await loadError(dir);
    assert.equal(e.name, "TypeError");
    assert.match(
      e.message,
      new RegExp(
        `^Cannot read ${shard}: tensor ".+" ends at byte \\d+ but the file has ${
          bytes.length - 5
        } bytes \\(truncated\\?\\)$`,
      ),
    );
  }));

Deno.test("loadHfModel() names an unknown model_type, activation, or missing file", () =>
  withDir(async (dir) => {
    await writeModel(dir, { config: { ...CONFIG, model_type: "siglip_vision_model" } });
    assert.equal(
      (await loadError(dir)).message,
      `Cannot load ${dir}/config.json: model_type "siglip_vision_model" is not supported (expected mlcd, mlcd_vision_model, clip_vision_model, clip)`,
    );
    await writeModel(dir, { config: { ...CONFIG, hidden_act: "silu" } });
    const e = await loadError(dir);
    assert.equal(e.name, "TypeError");
    assert.equal(
      e.message,
      `Cannot load ${dir}/config.json: hidden_act "silu" is not supported (expected "gelu" or "quick_gelu")`,
    );
    await Deno.remove(`${dir}/preprocessor_config.json`);
    await writeModel(dir, { pp: null });
    assert.equal(
      (await loadError(dir)).message,
      `Cannot load ${dir}/preprocessor_config.json: the file does not exist`,
    );
    await Deno.writeTextFile(`${dir}/preprocessor_config.json`, "{}");
    await Deno.remove(`${dir}/model.safetensors`);
    assert.match(
      (await loadError(dir)).message,
      /neither model\.safetensors nor model\.safetensors\.index\.json exists/,
    );
  }));

Deno.test("loadHfModel() refuses a CLIP processor size that its position embedding lacks", () =>
  withDir(async (dir) => {
    const config = { ...CONFIG, model_type: "clip_vision_model", hidden_act: "quick_gelu" };
    await writeModel(dir, { config, pp: { size: 24, crop_size: 24 } });
    const e = await loadError(dir);
    assert.equal(e.name, "RangeError");
    assert.equal(
      e.message,
      `Cannot load ${dir}: ${dir}/preprocessor_config.json makes 24 px images but the CLIP position embedding has a 4×4 grid (image_size 16)`,
    );
    await writeModel(dir, { config });
    const gpu = await testGpu();
    const m = await loadHfModel(gpu, dir);
    assert.equal(m.config.kind, "clip");
    m.dispose();
  }));

Deno.test("loadHfModel() refuses, before loading, one image whose attention cannot fit a binding", () =>
  withDir(async (dir) => {
    // 2048 px with patch 4: 262,145 tokens, a 550 GB attention matrix per image.
    await writeModel(dir, { pp: { size: 2048, crop_size: 2048 } });
    const e = await loadError(dir);
    assert.equal(e.name, "RangeError");
    assert.match(
      e.message,
      new RegExp(
        `^Refusing to load ${dir}: one image needs a \\d+ GB activation buffer, over the adapter's \\d+ MB storage-binding limit$`,
      ),
    );
  }));

Deno.test("checkHfFits() refuses bigG fine-tuning on a CPU adapter with too little host memory", () => {
  const c = parseHfVisionSpec({ model_type: "mlcd_vision_model" }, "config.json");
  const plan = hfMemoryPlan(c, { inputSize: 448, trainLayers: 0 });
  const gpu = { maxBindingBytes: 2 ** 31, quirks: { profile: "cpu" } } as unknown as Gpu;
  assert.throws(
    () => checkHfFits(gpu, plan, { name: "bigG", batchSize: 8, hostBytes: 64e9 }),
    (e: Error) =>
      e instanceof RangeError &&
      /^Refusing to load bigG: fine-tuning with batch 8 needs about \d+ GB \(weights 7\.4 GB, gradients and AdamW 29 GB, activations \d+ GB\) but this CPU adapter's host has 64 GB$/
        .test(e.message),
  );
  // Embedding fits, in chunks that keep every buffer within the binding limit.
  const infer = hfMemoryPlan(c, { inputSize: 448 });
  const rows = checkHfFits(gpu, infer, { hostBytes: 64e9 });
  assert.equal(rows, Math.floor(2 ** 31 / infer.largestActivationBytes));
  assert.ok(rows * infer.largestActivationBytes <= 2 ** 31);
});

Deno.test("parsePreprocessorConfig() accepts the integer and object forms and names bad values", () => {
  const a = parsePreprocessorConfig({ size: 336, crop_size: 336 }, "p.json");
  const b = parsePreprocessorConfig(
    { size: { shortest_edge: 336 }, crop_size: { height: 336, width: 336 } },
    "p.json",
  );
  assert.deepEqual([a.size, a.cropSize], [b.size, b.cropSize]);
  assert.deepEqual(parsePreprocessorConfig({ size: { height: 9, width: 7 } }, "p.json").size, {
    height: 9,
    width: 7,
  });
  assert.throws(() => parsePreprocessorConfig({ resample: 1 }, "p.json"), {
    name: "TypeError",
    message: "Cannot load p.json: resample 1 is not supported (3 = bicubic or 2 = bilinear)",
  });
  assert.throws(() => parsePreprocessorConfig({ size: "big" }, "p.json"), {
    name: "TypeError",
    message:
      'Cannot load p.json: expected size to be an integer or {height, width} but found "big"',
  });
});
