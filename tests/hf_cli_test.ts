// --model DIR on the command line: embed (clip-retrieval layout, the processor's pixels),
// train (--labels, --train-layers, --save-hf, resume of a finished run), eval, and the
// one-line usage errors. The model is a tiny MLCD tower with random weights written by
// saveHfModel(), so no PyTorch is needed.
import assert from "node:assert/strict";
import { readParquetKeys } from "../src/data/parquet.ts";
import { readNpy, writeNpy } from "../src/data/npy.ts";
import { parseHfVisionSpec } from "../src/hf/hf_config.ts";
import { initHfWeights } from "../src/hf/init_hf_weights.ts";
import { createHfModel, loadHfModel } from "../src/hf/load_hf_model.ts";
import { parsePreprocessorConfig } from "../src/hf/preprocessor_config.ts";
import { saveHfModel } from "../src/hf/save_hf_model.ts";
import { encodePng } from "../src/model/images.ts";
import { tf, useTfBackend } from "../src/model/tf.ts";
import { errLines, runDeno } from "./_cli.ts";
import { rng, testGpu } from "./_gpu.ts";
import { withDir } from "./_tmp.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const cli = async (args: string[]) => {
  const r = await runDeno([`${ROOT}src/cli/${args[0]}`, ...args.slice(1)]);
  return { code: r.code, out: r.stdout, err: errLines(r.stderr).join("\n") };
};

const N = 12;

/** A tiny MLCD model directory and N images of several sizes. */
async function fixture(dir: string): Promise<void> {
  await useTfBackend(await testGpu());
  const config = parseHfVisionSpec({
    model_type: "mlcd_vision_model",
    architectures: ["MLCDVisionModel"],
    hidden_size: 16,
    intermediate_size: 24,
    num_hidden_layers: 2,
    num_attention_heads: 2,
    patch_size: 4,
    image_size: 16,
  }, "config.json");
  const preprocessor = parsePreprocessorConfig({ size: 16, crop_size: 16 }, "p.json");
  const m = createHfModel(config, initHfWeights(config, { seed: 2 }), {
    inputSize: 16,
    preprocessor,
  });
  await saveHfModel(m, `${dir}/model`, { maxShardBytes: 4000 });
  m.dispose();
  await Deno.mkdir(`${dir}/imgs`);
  const r = rng(3);
  for (let i = 0; i < N; i++) {
    const w = 18 + (i % 4) * 7, h = 16 + (i % 3) * 9;
    const px = new Uint8Array(w * h * 3).map(() => Math.floor(r() * 256));
    await Deno.writeFile(
      `${dir}/imgs/im${String(i).padStart(2, "0")}.png`,
      await encodePng(px, w, h, 3),
    );
  }
  await writeNpy(`${dir}/labels.npy`, new Int32Array(N).map((_, i) => i % 3), [N]);
}

Deno.test("embed --model writes the processor's embeddings in clip-retrieval's layout", () =>
  withDir(async (dir) => {
    await fixture(dir);
    const r = await cli([
      "embed.ts",
      "--model",
      `${dir}/model`,
      "--data",
      `${dir}/imgs`,
      "--out",
      `${dir}/emb`,
      "--batch-size",
      "5",
      "--json",
    ]);
    assert.equal(r.code, 0, r.err);
    const summary = JSON.parse(r.out);
    assert.equal(summary.rows, N);
    assert.equal(summary.model, `${dir}/model`);
    const emb = await readNpy(`${dir}/emb/img_emb/img_emb_0.npy`);
    assert.deepEqual([emb.rows, emb.cols], [N, 16]);
    const keys = await readParquetKeys(`${dir}/emb/metadata/metadata_0.parquet`);
    assert.equal(keys[3], "im03");
    // The same rows in-process: processor + tower + L2 normalisation.
    const m = await loadHfModel(await testGpu(), `${dir}/model`);
    const row = await m.transform(await Deno.readFile(`${dir}/imgs/im03.png`), { size: 16 });
    const y = tf.tidy(() => {
      const z = m.encoder.apply(tf.tensor2d(row, [1, row.length]));
      return tf.div(z, tf.norm(z, 2, 1, true));
    });
    const want = await y.data();
    y.dispose();
    m.dispose();
    for (let j = 0; j < 16; j++) assert.ok(Math.abs(emb.data[3 * 16 + j]! - want[j]!) < 1e-5);
  }));

Deno.test("train --model --train-layers 1 --save-hf fine-tunes the last layer and writes the model; eval --model reads it", () =>
  withDir(async (dir) => {
    await fixture(dir);
    const base = [
      "train.ts",
      "--model",
      `${dir}/model`,
      "--data",
      `${dir}/imgs`,
      "--labels",
      `${dir}/labels.npy`,
      "--classes",
      "3",
      "--l",
      "1",
      "--batch-size",
      "4",
      "--epochs",
      "1",
      "--warmup-steps",
      "0",
      "--lr",
      "0.01",
      "--train-layers",
      "1",
      "--run-dir",
      `${dir}/run`,
    ];
    const r = await cli([...base, "--save-hf", `${dir}/tuned`]);
    assert.equal(r.code, 0, r.err);
    const manifest = JSON.parse(await Deno.readTextFile(`${dir}/run/checkpoint.json`));
    assert.equal(manifest.step, 3);
    assert.ok(manifest.tensors.includes("encoder.vision_model.encoder.layers.1.mlp.fc1.weight"));
    assert.ok(!manifest.tensors.includes("encoder.vision_model.encoder.layers.0.mlp.fc1.weight"));
    const gpu = await testGpu();
    const a = await loadHfModel(gpu, `${dir}/model`), b = await loadHfModel(gpu, `${dir}/tuned`);
    let changed = 0;
    for (const [name, v] of a.weights) {
      const x = await v.data(), y = await b.weights.get(name)!.data();
      const same = x.every((e, i) => e === y[i]);
      if (/layers\.1\.|post_layernorm/.test(name)) changed += same ? 0 : 1;
      else assert.ok(same, `${name} changed although frozen`);
    }
    assert.ok(changed > 10, `${changed} trained tensors changed`);
    a.dispose();
    b.dispose();
    // A finished run resumes to the same end; other flags must agree with the record.
    const again = await cli(["train.ts", "--resume", "--run-dir", `${dir}/run`]);
    assert.equal(again.code, 0, again.err);
    const bad = await cli(["train.ts", "--resume", "--run-dir", `${dir}/run`, "--model", dir]);
    assert.equal(bad.code, 2);
    assert.match(bad.err, /Cannot resume .* with different settings: --model/);
    const ev = await cli([
      "eval.ts",
      "--model",
      `${dir}/tuned`,
      "--data",
      `${dir}/imgs`,
      "--labels",
      `${dir}/labels.npy`,
      "--test-data",
      `${dir}/imgs`,
      "--test-labels",
      `${dir}/labels.npy`,
      "--out",
      `${dir}/eval.json`,
      "--no-raw",
    ]);
    assert.equal(ev.code, 0, ev.err);
    const m = JSON.parse(await Deno.readTextFile(`${dir}/eval.json`));
    assert.equal(m.model, `${dir}/tuned`);
    assert.ok(m.knnTop1 >= 0 && m.knnTop1 <= 1, JSON.stringify(m));
  }));

Deno.test("--model usage errors are one line with exit 2, before any work", () =>
  withDir(async (dir) => {
    await fixture(dir);
    // The same tower at 2048 px: one image's attention scores cannot fit a storage binding.
    await Deno.mkdir(`${dir}/big`);
    for (const e of Deno.readDirSync(`${dir}/model`)) {
      await Deno.copyFile(`${dir}/model/${e.name}`, `${dir}/big/${e.name}`);
    }
    await Deno.writeTextFile(
      `${dir}/big/preprocessor_config.json`,
      '{"size": 2048, "crop_size": 2048}',
    );
    const cases: [string[], RegExp][] = [
      [
        [
          "train.ts",
          "--model",
          `${dir}/big`,
          "--data",
          `${dir}/imgs`,
          "--labels",
          `${dir}/labels.npy`,
          "--classes",
          "3",
          "--l",
          "1",
          "--run-dir",
          `${dir}/r`,
        ],
        /^mlcd train: Refusing to load .*\/big: one image needs a \d+ GB activation buffer, over the adapter's \d+ MB storage-binding limit$/,
      ],
      [
        [
          "embed.ts",
          "--model",
          `${dir}/model`,
          "--checkpoint",
          dir,
          "--data",
          dir,
          "--out",
          `${dir}/o`,
        ],
        /^mlcd embed: Expected one of --checkpoint <run dir> and --model <dir>$/,
      ],
      [
        ["train.ts", "--model", `${dir}/model`, "--data", `${dir}/imgs`, "--run-dir", `${dir}/r`],
        /^mlcd train: Expected --labels with --model: /,
      ],
      [
        ["train.ts", "--data", `${dir}/imgs`, "--train-layers", "1", "--run-dir", `${dir}/r`],
        /^mlcd train: Expected --model with --train-layers or --save-hf$/,
      ],
      [
        [
          "train.ts",
          "--model",
          `${dir}/model`,
          "--data",
          `${dir}/imgs`,
          "--labels",
          `${dir}/labels.npy`,
          "--save-hf",
          `${dir}/imgs`,
          "--run-dir",
          `${dir}/r`,
        ],
        /^mlcd train: Refusing to write a model to .*\/imgs: it is not empty \(im\d\d\.png\)$/,
      ],
      [
        ["train.ts", "--model", `${dir}/model`, "--data", `${dir}/imgs`, "--embed-dim", "8"],
        /^mlcd train: --model .* sets embed-dim to 16; drop --embed-dim 8$/,
      ],
      [
        ["eval.ts", "--model", `${dir}/model`, "--data", `${dir}/imgs`],
        /^mlcd eval: Expected --out and no --baseline or --image-size with --model$/,
      ],
    ];
    for (const [args, re] of cases) {
      const r = await cli(args);
      assert.equal(r.code, 2, `${args.join(" ")}: ${r.err}`);
      const lines = r.err.split("\n");
      assert.match(lines.at(-1)!, re);
      assert.equal(lines.filter((l) => l.startsWith("mlcd ")).length, 1, r.err);
    }
    assert.ok(!(await Deno.stat(`${dir}/r`).catch(() => null)), "no run dir was created");
  }));
