import assert from "node:assert/strict";
import { loadMnist, MNIST_PIXELS, MNIST_SIZE } from "../src/data/mod.ts";

Deno.test("loadMnist() returns 784-pixel rows in [0, 1] with digit labels 0-9", () => {
  const { train, test } = loadMnist();
  assert.deepEqual([train.x.rows, train.x.cols, train.x.data.length], [8000, 784, 8000 * 784]);
  assert.deepEqual([test.x.rows, test.x.cols, test.y.length], [2000, 784, 2000]);
  let min = Infinity, max = -Infinity;
  for (const v of train.x.data) {
    if (v < min) min = v;
    if (v > max) max = v;
  }
  assert.equal(min, 0);
  assert.ok(max > 0.99 && max <= 1, `max ${max}`);
  const counts = new Array(10).fill(0);
  for (const d of train.y) counts[d]++;
  assert.ok(counts.every((c) => c > 600 && c < 1000), `class counts ${counts}`);
  // Real digits: every image has ink, and on average about a fifth of the pixels are lit.
  let lit = 0;
  for (let r = 0; r < 100; r++) {
    let s = 0;
    for (let p = 0; p < MNIST_PIXELS; p++) s += train.x.data[r * MNIST_PIXELS + p]! > 0 ? 1 : 0;
    assert.ok(s > 20, `row ${r} has ${s} lit pixels`);
    lit += s;
  }
  assert.ok(lit / 100 > 80 && lit / 100 < 250, `mean lit pixels ${lit / 100}`);
});

Deno.test("loadMnist() is deterministic for a seed and draws disjoint sets", () => {
  const a = loadMnist({ train: 300, test: 200, seed: 7 });
  const b = loadMnist({ train: 300, test: 200, seed: 7 });
  const c = loadMnist({ train: 300, test: 200, seed: 8 });
  assert.deepEqual(a, b);
  assert.notDeepEqual(a.train.y, c.train.y);
  const key = (x: Float32Array, r: number) => x.subarray(r * 784, (r + 1) * 784).join(",");
  const trainRows = new Set(Array.from({ length: 300 }, (_, r) => key(a.train.x.data, r)));
  for (let r = 0; r < 200; r++) assert.ok(!trainRows.has(key(a.test.x.data, r)), `test row ${r}`);
  const all = loadMnist({ train: MNIST_SIZE, test: 0 });
  const counts = new Array(10).fill(0);
  for (const d of all.train.y) counts[d]++;
  assert.deepEqual(counts, [1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978]);
});

Deno.test("loadMnist() throws RangeError when the sets exceed the 10,000 digits", () => {
  assert.throws(() => loadMnist({ train: 9000, test: 1001 }), {
    name: "RangeError",
    message: "Expected train + test to be at most 10000 but found 9000 + 1001 = 10001",
  });
  assert.throws(() => loadMnist({ train: -1 }), {
    name: "RangeError",
    message: "Expected train to be a non-negative integer but found -1",
  });
});
