import assert from "node:assert/strict";
import { sampleClasses } from "../src/loss/sample_classes.ts";
import { rng } from "./_gpu.ts";

Deno.test("sampleClasses() keeps every positive and fills up to round(ratio × C), sorted", () => {
  const positives = new Uint32Array([5, 999, 5, 0, 42]);
  const s = sampleClasses(positives, { classes: 1001, ratio: 0.1, seed: 3 });
  assert.equal(s.length, 100);
  for (const p of [0, 5, 42, 999]) assert.ok(s.includes(p), `missing positive ${p}`);
  for (let i = 1; i < s.length; i++) assert.ok(s[i - 1]! < s[i]!, "sorted, distinct");
  assert.ok(s[s.length - 1]! < 1001);
});

Deno.test("sampleClasses() is deterministic for a seed and differs across seeds", () => {
  const positives = new Uint32Array([1, 2, 3]);
  assert.deepEqual(
    sampleClasses(positives, { classes: 500, ratio: 0.2, seed: 9 }),
    sampleClasses(positives, { classes: 500, ratio: 0.2, seed: 9 }),
  );
  assert.notDeepEqual(
    sampleClasses(positives, { classes: 500, ratio: 0.2, seed: 9 }),
    sampleClasses(positives, { classes: 500, ratio: 0.2, seed: 10 }),
  );
  const a = sampleClasses(positives, { classes: 500, ratio: 0.2, seed: rng(4) });
  const b = sampleClasses(positives, { classes: 500, ratio: 0.2, seed: rng(4) });
  assert.deepEqual(a, b);
});

Deno.test("sampleClasses() returns all positives when they exceed the budget", () => {
  const positives = new Uint32Array([9, 7, 5, 3, 1, 7]);
  assert.deepEqual([...sampleClasses(positives, { classes: 20, ratio: 0.1, seed: 1 })], [
    1,
    3,
    5,
    7,
    9,
  ]);
  assert.deepEqual([...sampleClasses(new Uint32Array([2]), { classes: 4, ratio: 1, seed: 1 })], [
    0,
    1,
    2,
    3,
  ]);
  assert.deepEqual([...sampleClasses(new Uint32Array([2]), { classes: 4, ratio: 0, seed: 1 })], [
    2,
  ]);
});

Deno.test("sampleClasses() draws the other classes uniformly", () => {
  const counts = new Float64Array(50);
  const positives = new Uint32Array([0]);
  const trials = 4000;
  const r = rng(77);
  for (let t = 0; t < trials; t++) {
    for (const c of sampleClasses(positives, { classes: 50, ratio: 0.2, seed: r })) counts[c]!++;
  }
  assert.equal(counts[0], trials);
  // Each other class is drawn with probability 9/49; binomial sd ≈ 24 over 4000 trials.
  const expected = trials * 9 / 49;
  for (let c = 1; c < 50; c++) {
    assert.ok(
      Math.abs(counts[c]! - expected) < 5 * 24.5,
      `class ${c}: ${counts[c]} vs ${expected}`,
    );
  }
});

Deno.test("sampleClasses() throws RangeError on bad ids, classes or ratio", () => {
  assert.throws(() => sampleClasses(new Uint32Array([1, 10]), { classes: 10 }), {
    name: "RangeError",
    message: "Expected positives[1] to be a class id in [0, 9] but found 10",
  });
  assert.throws(() => sampleClasses(new Uint32Array([1]), { classes: 0 }), {
    name: "RangeError",
    message: "Expected classes to be a positive integer but found 0",
  });
  assert.throws(() => sampleClasses(new Uint32Array([1]), { classes: 10, ratio: 1.5 }), {
    name: "RangeError",
    message: "Expected ratio to be in [0, 1] but found 1.5",
  });
});

Deno.test("sampleClasses() takes one options object: a positional count is a TypeError", () => {
  assert.throws(
    // @ts-expect-error: the old positional form sampleClasses(positives, C, ratio, seed)
    () => sampleClasses(new Uint32Array([1]), 10, 0.1, 1),
    {
      name: "TypeError",
      message:
        "Expected the options of sampleClasses() to be an object such as { classes: 1000, ratio: 0.1, seed: 1 } but found 10",
    },
  );
});
