// The warm-up scales with the run: warmupSteps "auto" (the default) is a tenth of the steps,
// at most the paper's 2000; a given warm-up not shorter than the run is kept but warned about,
// through train()'s onLog and its result.
import assert from "node:assert/strict";
import { learningRate } from "../src/train/adamw.ts";
import { DEFAULT_TRAIN_CONFIG, parseConfigValue, resolveTrainConfig } from "../src/train/config.ts";
import { resolveWarmup } from "../src/train/warmup.ts";
import { train } from "../src/train/trainer.ts";
import { randomMatrix, testGpu } from "./_gpu.ts";

Deno.test('resolveWarmup() of "auto" is a tenth of the steps, rounded up, at most 2000', () => {
  assert.equal(DEFAULT_TRAIN_CONFIG.warmupSteps, "auto");
  const auto = resolveTrainConfig({});
  for (
    const [total, want] of [[0, 0], [1, 1], [10, 1], [11, 2], [33, 4], [313, 32], [20000, 2000], [
      1e6,
      2000,
    ]]
  ) {
    assert.deepEqual(resolveWarmup(auto, { totalSteps: total! }), { warmupSteps: want });
  }
});

Deno.test("resolveWarmup() keeps a given warm-up and warns when it is not shorter than the run", () => {
  const at = (w: number) =>
    resolveWarmup(resolveTrainConfig({ warmupSteps: w }), { totalSteps: 33 });
  assert.deepEqual(at(5), { warmupSteps: 5 });
  assert.deepEqual(at(32), { warmupSteps: 32 });
  assert.deepEqual(at(100), {
    warmupSteps: 100,
    warning:
      'warmupSteps 100 is not shorter than the run\'s 33 steps: the learning rate rises only to 0.000330 of its peak 0.001 and never decays; set warmupSteps below 33, or "auto" (4 steps here)',
  });
  assert.deepEqual(at(33), {
    warmupSteps: 33,
    warning:
      'warmupSteps 33 is not shorter than the run\'s 33 steps: the learning rate reaches its peak 0.001 only at the last step and never decays; set warmupSteps below 33, or "auto" (4 steps here)',
  });
  assert.throws(() => resolveWarmup(resolveTrainConfig({}), { totalSteps: -1 }), {
    name: "RangeError",
    message: "Expected resolveWarmup's totalSteps to be an integer >= 0 but found -1",
  });
});

Deno.test('warmupSteps takes "auto" or an integer >= 0, from a config and from a flag', () => {
  assert.equal(resolveTrainConfig({ warmupSteps: 0 }).warmupSteps, 0);
  assert.equal(resolveTrainConfig({ warmupSteps: "auto" }).warmupSteps, "auto");
  for (const bad of [-1, 2.5, "fast", null]) {
    assert.throws(() => resolveTrainConfig({ warmupSteps: bad }), {
      name: "RangeError",
      message: `Expected warmupSteps to be an integer >= 0 or "auto" but found ${
        typeof bad === "string" ? `"${bad}"` : bad
      }`,
    });
  }
  assert.equal(parseConfigValue("warmupSteps", "auto"), "auto");
  assert.equal(parseConfigValue("warmupSteps", "100"), 100);
  assert.throws(() => parseConfigValue("warmupSteps", "soon"), {
    name: "RangeError",
    message: "Expected warmupSteps to be a decimal number but found soon",
  });
});

Deno.test("train() follows the resolved warm-up and passes its warning to onLog and the result", async () => {
  const gpu = await testGpu();
  const n = 64, x = randomMatrix(n, 6, 1);
  const positives = Uint32Array.from({ length: n * 2 }, (_, i) => (i >> 1) % 4 * 2 + (i & 1));
  const base = { classes: 8, l: 2, hidden: [8], embedDim: 4, batchSize: 16, epochs: 3, lr: 0.01 };
  // 4 steps per epoch, 12 in all: "auto" warms up over 2.
  const lrs: number[] = [];
  const logs: string[] = [];
  const auto = await train(gpu, { x, inputShape: [6], positives }, resolveTrainConfig(base), {
    onStep: (p) => lrs.push(p.lr),
    onLog: (m) => logs.push(m),
  });
  assert.equal(auto.warmupSteps, 2);
  assert.equal(auto.warnings.length, 0);
  assert.equal(logs.length, 0);
  assert.deepEqual(lrs, Array.from({ length: 12 }, (_, s) => learningRate(s, 12, 2, 0.01)));
  const long = await train(
    gpu,
    { x, inputShape: [6], positives },
    resolveTrainConfig({ ...base, warmupSteps: 100 }),
    { onLog: (m) => logs.push(m) },
  );
  assert.equal(long.warmupSteps, 100);
  assert.equal(long.warnings.length, 1);
  assert.match(long.warnings[0]!, /^warmupSteps 100 is not shorter than the run's 12 steps/);
  assert.deepEqual(logs, long.warnings);
  for (const r of [auto, long]) {
    r.encoder.dispose();
    r.centers.dispose();
  }
});
