import assert from "node:assert/strict";
import { AdamW, DEFAULT_TRAIN_CONFIG, resolveTrainConfig, train } from "../src/train/mod.ts";
import { learningRate } from "../src/train/adamw.ts";
import { parseConfigValue } from "../src/train/config.ts";
import { mixSeed, permutation, Rng } from "../src/random/rng.ts";
import { tf, useTfBackend } from "../src/model/tf.ts";
import { randomMatrix, testGpu } from "./_gpu.ts";
import { errLines, runDeno } from "./_cli.ts";
import { withDir } from "./_tmp.ts";

const ROOT = new URL("..", import.meta.url).pathname;

Deno.test("resolveTrainConfig() applies defaults and rejects unknown keys and bad values", () => {
  assert.equal(resolveTrainConfig({}).l, 8);
  assert.equal(resolveTrainConfig({ l: 1, loss: "mlc" }).loss, "mlc");
  assert.throws(() => resolveTrainConfig({ lrr: 1 }), (e: Error) => {
    assert.equal(e.name, "TypeError");
    assert.match(e.message, /^Unknown config key "lrr"; expected one of encoder, hidden/);
    return true;
  });
  assert.throws(() => resolveTrainConfig({ ratio: 0 }), {
    name: "RangeError",
    message: "Expected ratio to be a number in (0, 1] but found 0",
  });
  assert.throws(() => resolveTrainConfig({ loss: "ce" }), {
    name: "RangeError",
    message: 'Expected loss to be one of "mlcd", "mlc" but found "ce"',
  });
  assert.throws(() => resolveTrainConfig({ batchSize: 2.5 }), RangeError);
  assert.throws(() => resolveTrainConfig({ classes: 4, l: 5 }), {
    name: "RangeError",
    message: "Expected l to be in [1, classes=4] but found 5",
  });
  assert.deepEqual(parseConfigValue("hidden", "256,128"), [256, 128]);
  assert.equal(parseConfigValue("lr", "3e-4"), 3e-4);
  assert.throws(() => parseConfigValue("lr", "fast"), RangeError);
});

Deno.test("learningRate() warms up linearly then decays along a cosine to 0", () => {
  assert.equal(learningRate(0, 100, 10, 1), 0.1);
  assert.equal(learningRate(9, 100, 10, 1), 1);
  assert.equal(learningRate(10, 100, 10, 1), 1);
  assert.ok(Math.abs(learningRate(55, 100, 10, 1) - 0.5) < 1e-12);
  assert.ok(learningRate(99, 100, 10, 1) < 1e-3);
});

Deno.test("Rng and permutation() are deterministic and restorable from the state", () => {
  const a = new Rng(3);
  a.next();
  const b = new Rng(0, a.state);
  assert.equal(a.next(), b.next());
  const p = permutation(11, 5);
  assert.deepEqual([...p].sort((x, y) => x - y), [...Array(11).keys()]);
  assert.deepEqual(p, permutation(11, 5));
  assert.notDeepEqual(p, permutation(11, 6));
  assert.notEqual(mixSeed(1, 2), mixSeed(2, 1));
});

Deno.test("AdamW.step() matches a float64 reference with decoupled weight decay", async () => {
  await useTfBackend(await testGpu());
  const p0 = [0.5, -1, 2], grads = [[0.1, -0.2, 0.3], [0.05, 0.4, -0.1]];
  const w = tf.variable(tf.tensor1d(p0), true), b = tf.variable(tf.tensor1d([1]), true);
  const opt = new AdamW(new Map([["w", w], ["x.bias", b]]), { weightDecay: 0.2 });
  const ref = [...p0], m = [0, 0, 0], v = [0, 0, 0];
  grads.forEach((g, t) => {
    const lr = 0.01 * (t + 1);
    const gt = tf.tensor1d(g);
    opt.step({ w: gt, "x.bias": tf.tensor1d([1]) }, lr);
    for (let i = 0; i < 3; i++) {
      m[i] = 0.9 * m[i]! + 0.1 * g[i]!;
      v[i] = 0.999 * v[i]! + 0.001 * g[i]! ** 2;
      const mh = m[i]! / (1 - 0.9 ** (t + 1)), vh = v[i]! / (1 - 0.999 ** (t + 1));
      ref[i] = ref[i]! * (1 - lr * 0.2) - lr * mh / (Math.sqrt(vh) + 1e-8);
    }
  });
  const got = await w.data();
  for (let i = 0; i < 3; i++) {
    assert.ok(Math.abs(got[i]! - ref[i]!) < 1e-6, `${got[i]} vs ${ref[i]}`);
  }
  // biases get no weight decay: two steps of ~lr each with gradient 1
  assert.ok(Math.abs((await b.data())[0]! - (1 - 0.01 - 0.02)) < 1e-5);
  opt.dispose();
  w.dispose();
  b.dispose();
});

Deno.test("train() lowers the MLCD loss and is deterministic for a seed", async () => {
  const gpu = await testGpu();
  // 3 separable groups, positives = the group's 2 classes
  const n = 48, x = randomMatrix(n, 5, 3);
  const positives = new Uint32Array(n * 2);
  for (let i = 0; i < n; i++) {
    x.data[i * 5 + (i % 3)]! += 4;
    positives[i * 2] = (i % 3) * 2;
    positives[i * 2 + 1] = (i % 3) * 2 + 1;
  }
  const config = resolveTrainConfig({
    classes: 6,
    l: 2,
    hidden: [16],
    embedDim: 8,
    batchSize: 16,
    epochs: 8,
    warmupSteps: 2,
    lr: 0.01,
    ratio: 0.5,
  });
  const losses: number[] = [];
  const a = await train(gpu, { x, inputShape: [5], positives }, config, {
    onStep: (p) => losses.push(p.loss),
  });
  const b = await train(gpu, { x, inputShape: [5], positives }, config);
  assert.equal(losses.length, 24);
  assert.ok(losses.at(-1)! < losses[0]! * 0.7, `${losses[0]} → ${losses.at(-1)}`);
  assert.deepEqual(await a.centers.data(), await b.centers.data());
  // The seed is honoured: one epoch with seed 1 (the default) starts exactly like the 8-epoch
  // run above (same init, same first batch), one epoch with seed 2 does not, and ends elsewhere.
  assert.equal(config.seed, 1);
  const first: number[] = [], other: number[] = [];
  const d = await train(gpu, { x, inputShape: [5], positives }, { ...config, epochs: 1 }, {
    onStep: (p) => first.push(p.loss),
  });
  const c = await train(gpu, { x, inputShape: [5], positives }, { ...config, seed: 2, epochs: 1 }, {
    onStep: (p) => other.push(p.loss),
  });
  assert.deepEqual([first.length, other.length], [3, 3]);
  assert.equal(first[0], losses[0], "seed 1: the first step repeats");
  assert.notEqual(other[0], losses[0], "seed 2: another init or batch");
  assert.notDeepEqual(await c.centers.data(), await d.centers.data(), "seed 2 ends elsewhere");
  for (const r of [a, b, c, d]) {
    r.encoder.dispose();
    r.centers.dispose();
  }
  await assert.rejects(
    () => train(gpu, { x, inputShape: [5], positives: positives.subarray(0, 10) }, config),
    { name: "TypeError", message: "Expected 48 × l=2 positives but found 10 values" },
  );
  await assert.rejects(
    () => train(gpu, { x, inputShape: [5], positives: positives.map(() => 6) }, config),
    { name: "RangeError", message: "Expected positive class ids in [0, 5] but found 6" },
  );
});

async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const r = await runDeno(args, { cwd: ROOT });
  return { code: r.code, out: r.stdout, err: errLines(r.stderr).join("\n") };
}

Deno.test("deno task train --help documents every config key", async () => {
  const r = await cli(["src/cli/train.ts", "--help"]);
  assert.equal(r.code, 0);
  for (const k of Object.keys(DEFAULT_TRAIN_CONFIG)) {
    assert.ok(r.out.includes(`--${k.replace(/[A-Z]/g, (c) => "-" + c.toLowerCase())} `), k);
  }
  for (const f of ["--data", "--config", "--run-dir", "--resume", "--labels"]) {
    assert.ok(r.out.includes(f));
  }
  const e = await cli(["src/cli/eval.ts", "--help"]);
  assert.equal(e.code, 0);
  for (
    const f of ["--checkpoint", "--data", "--labels", "--test-data", "--knn-k", "--out", "--json"]
  ) {
    assert.ok(e.out.includes(f), f);
  }
});

Deno.test("train and eval CLIs: bad input is one clear line and exit code 2", async () => {
  await withDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/bad.json`, JSON.stringify({ epochs: 1, learningrate: 3 }));
    let r = await cli(["src/cli/train.ts", "--config", `${dir}/bad.json`, "--data", "mnist"]);
    assert.equal(r.code, 2);
    assert.match(r.err, /^mlcd train: Unknown config key "learningrate"; expected one of /);
    assert.equal(r.err.split("\n").length, 1);
    r = await cli(["src/cli/train.ts", "--data", `${dir}/missing.npy`, "--run-dir", `${dir}/r`]);
    assert.equal(r.code, 2);
    assert.match(r.err.split("\n").at(-1)!, /^mlcd train: .*missing\.npy/);
    r = await cli(["src/cli/train.ts", "--data", "mnist", "--l", "0"]);
    assert.equal(r.code, 2);
    assert.equal(r.err, "mlcd train: Expected l to be an integer >= 1 but found 0");
    r = await cli(["src/cli/eval.ts", "--checkpoint", `${dir}/nothing`, "--data", "mnist"]);
    assert.equal(r.code, 2);
    assert.match(r.err.split("\n").at(-1)!, /^mlcd eval: No checkpoint in .*nothing/);
    // a checkpoint trained on 6-wide rows against 784-wide MNIST: dimension mismatch
    const gpu = await testGpu();
    const x = randomMatrix(20, 6, 1);
    const res = await train(
      gpu,
      {
        x,
        inputShape: [6],
        positives: new Uint32Array(20).map((_, i) => i % 3),
      },
      resolveTrainConfig({ classes: 3, l: 1, hidden: [4], embedDim: 2, epochs: 1, batchSize: 10 }),
      {
        runDir: `${dir}/ck`,
      },
    );
    res.encoder.dispose();
    res.centers.dispose();
    r = await cli([
      "src/cli/eval.ts",
      "--checkpoint",
      `${dir}/ck`,
      "--data",
      "mnist",
      "--limit",
      "50",
      "--test-limit",
      "20",
    ]);
    assert.equal(r.code, 2);
    assert.equal(
      r.err.split("\n").at(-1),
      "mlcd eval: Expected data rows of 6 values (the checkpoint's encoder input) but found 784",
    );
    // Issue 13 item 1: eval never writes its metrics over the checkpoint it reads.
    const manifest = await Deno.readTextFile(`${dir}/ck/checkpoint.json`);
    r = await cli([
      "src/cli/eval.ts",
      "--checkpoint",
      `${dir}/ck`,
      "--data",
      "mnist",
      "--out",
      `${dir}/ck/../ck/checkpoint.json`,
    ]);
    assert.equal(r.code, 2);
    assert.match(
      r.err,
      /^mlcd eval: Refusing to overwrite the input .*checkpoint\.json with --out /,
    );
    assert.equal(await Deno.readTextFile(`${dir}/ck/checkpoint.json`), manifest);
  }, "mlcd_cli_");
});
