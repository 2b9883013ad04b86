// linearProbe() against a float64 reference of the same algorithm (seeded mini-batches,
// softmax cross-entropy with an L2 penalty, Adam with bias correction and cosine decay, zero
// init, standardised features), on odd shapes: feature widths and class counts that are not
// multiples of the kernels' 4 and 16, a batch larger than the split, one class, one feature.
import assert from "node:assert/strict";
import { linearProbe, type LinearProbeOptions } from "../src/eval/linear_probe.ts";
import type { Matrix } from "../src/matrix/matrix.ts";
import { mixSeed, permutation } from "../src/random/rng.ts";
import { randomMatrix, rng, testGpu } from "./_gpu.ts";

interface Split {
  x: Matrix;
  y: Uint32Array;
}

/** The probe in float64: the algorithm linearProbe() documents, step by step. */
function probeReference(
  train: Split,
  test: Split,
  o: Required<Omit<LinearProbeOptions, "onProgress">>,
) {
  const { rows: n, cols: d } = train.x;
  let C = 0;
  for (const v of [...train.y, ...test.y]) C = Math.max(C, v + 1);
  const mean = new Float64Array(d), std = new Float64Array(d).fill(1);
  if (o.standardize) {
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < d; j++) mean[j]! += train.x.data[i * d + j]! / n;
    }
    const variance = new Float64Array(d);
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < d; j++) variance[j]! += (train.x.data[i * d + j]! - mean[j]!) ** 2 / n;
    }
    for (let j = 0; j < d; j++) std[j] = Math.sqrt(variance[j]!) + 1e-6;
  }
  const feat = (x: Matrix, i: number, j: number) => (x.data[i * d + j]! - mean[j]!) / std[j]!;
  // Parameters: C × (d + 1), class c's weights then its bias.
  const w = new Float64Array(C * (d + 1)),
    m = new Float64Array(w.length),
    v = new Float64Array(w.length);
  const logitsOf = (x: Matrix, i: number) => {
    const out = new Float64Array(C);
    for (let c = 0; c < C; c++) {
      let s = w[c * (d + 1) + d]!;
      for (let j = 0; j < d; j++) s += feat(x, i, j) * w[c * (d + 1) + j]!;
      out[c] = s;
    }
    return out;
  };
  const bs = Math.min(o.batchSize, n), perEpoch = Math.ceil(n / bs);
  let t = 0;
  for (let e = 0; e < o.epochs; e++) {
    const perm = permutation(n, mixSeed(o.seed, e));
    for (let b = 0; b < perEpoch; b++) {
      const idx = perm.subarray(b * bs, Math.min(n, (b + 1) * bs));
      const grad = new Float64Array(w.length);
      for (const i of idx) {
        const l = logitsOf(train.x, i);
        const mx = Math.max(...l);
        const sum = l.reduce((a, z) => a + Math.exp(z - mx), 0);
        for (let c = 0; c < C; c++) {
          const g = (Math.exp(l[c]! - mx) / sum - (c === train.y[i] ? 1 : 0)) / idx.length;
          for (let j = 0; j < d; j++) grad[c * (d + 1) + j]! += feat(train.x, i, j) * g;
          grad[c * (d + 1) + d]! += g;
        }
      }
      for (let c = 0; c < C; c++) {
        for (let j = 0; j < d; j++) grad[c * (d + 1) + j]! += 2 * o.l2 * w[c * (d + 1) + j]!;
      }
      const lr = o.lr * 0.5 * (1 + Math.cos(Math.PI * (e * perEpoch + b) / (o.epochs * perEpoch)));
      t++;
      const bc1 = 1 - 0.9 ** t, bc2 = 1 - 0.999 ** t;
      for (let k = 0; k < w.length; k++) {
        m[k] = 0.9 * m[k]! + 0.1 * grad[k]!;
        v[k] = 0.999 * v[k]! + 0.001 * grad[k]! ** 2;
        w[k]! -= lr * (m[k]! / bc1) / (Math.sqrt(v[k]! / bc2) + 1e-8);
      }
    }
  }
  const score = (s: Split) => {
    let hits = 0, nll = 0;
    for (let i = 0; i < s.x.rows; i++) {
      const l = logitsOf(s.x, i);
      const mx = Math.max(...l);
      hits += l.indexOf(mx) === s.y[i] ? 1 : 0;
      nll -= l[s.y[i]!]! - mx - Math.log(l.reduce((a, z) => a + Math.exp(z - mx), 0));
    }
    return { top1: s.x.rows ? hits / s.x.rows : 0, nll };
  };
  let squares = 0;
  for (let c = 0; c < C; c++) for (let j = 0; j < d; j++) squares += w[c * (d + 1) + j]! ** 2;
  const tr = score(train);
  return { top1: score(test).top1, trainTop1: tr.top1, loss: tr.nll / n + o.l2 * squares };
}

/** Labels from a random linear map of the features plus noise: learnable, not separable. */
function split(rows: number, cols: number, classes: number, seed: number): Split {
  const x = randomMatrix(rows, cols, seed);
  const r = rng(99); // the same map for every split
  const map = Array.from({ length: classes * cols }, () => r() - 0.5);
  const noise = rng(seed + 1000);
  const y = new Uint32Array(rows);
  for (let i = 0; i < rows; i++) {
    let best = 0, top = -Infinity;
    for (let c = 0; c < classes; c++) {
      let s = noise() * 0.5;
      for (let j = 0; j < cols; j++) s += map[c * cols + j]! * x.data[i * cols + j]!;
      if (s > top) [top, best] = [s, c];
    }
    y[i] = best;
  }
  return { x, y };
}

const DEFAULTS = { epochs: 30, batchSize: 512, lr: 0.01, seed: 1, l2: 1e-4, standardize: true };

for (
  const [name, rows, testRows, cols, classes, options] of [
    ["37 rows × 5 features, 3 classes, batches of 16 (a short last batch)", 37, 13, 5, 3, {
      epochs: 4,
      batchSize: 16,
    }],
    ["7 rows (under one batch) × 9 features, 17 classes (two blocks of 16)", 7, 11, 9, 17, {
      epochs: 6,
    }],
    ["one feature, 2 classes, not standardised", 50, 20, 1, 2, {
      epochs: 5,
      batchSize: 8,
      standardize: false,
      l2: 0.01,
    }],
    ["6 features, 4 classes, seed 7, lr 0.05, l2 0.05", 64, 30, 6, 4, {
      epochs: 8,
      seed: 7,
      lr: 0.05,
      l2: 0.05,
    }],
  ] as const
) {
  Deno.test(`linearProbe() matches the float64 reference: ${name}`, async () => {
    const gpu = await testGpu();
    const train = split(rows, cols, classes, 1), test = split(testRows, cols, classes, 2);
    const o = { ...DEFAULTS, ...options };
    const got = await linearProbe(gpu, train, test, o);
    const want = probeReference(train, test, o);
    assert.equal(got.top1, want.top1);
    assert.equal(got.trainTop1, want.trainTop1);
    assert.ok(
      Math.abs(got.loss - want.loss) <= 1e-5 * want.loss,
      `loss ${got.loss} vs ${want.loss}`,
    );
  });
}

Deno.test("linearProbe() with one class predicts it everywhere and learns nothing", async () => {
  const gpu = await testGpu();
  const x = randomMatrix(9, 3, 1), y = new Uint32Array(9);
  const got = await linearProbe(
    gpu,
    { x, y },
    { x: randomMatrix(4, 3, 2), y: new Uint32Array(4) },
    {
      epochs: 2,
    },
  );
  assert.deepEqual(got, { top1: 1, trainTop1: 1, loss: 0 });
});

Deno.test("linearProbe() splits its dispatches under the adapter's multiply-add cap with the same result", async () => {
  const gpu = await testGpu();
  const train = split(45, 7, 20, 3), test = split(17, 7, 20, 4);
  const whole = await linearProbe(gpu, train, test, { epochs: 2, batchSize: 32 });
  // 4 rows of logits and one block of 16 classes per dispatch.
  const small = { ...gpu, quirks: { ...gpu.quirks, maxMacsPerDispatch: 1 } };
  const split4 = await linearProbe(small, train, test, { epochs: 2, batchSize: 32 });
  assert.deepEqual(split4, whole);
});

Deno.test("linearProbe() reports every epoch and an empty test split scores 0", async () => {
  const gpu = await testGpu();
  const seen: number[] = [];
  const got = await linearProbe(gpu, split(20, 3, 2, 5), { x: randomMatrix(0, 3, 1), y: [] }, {
    epochs: 3,
    onProgress: (p) => {
      assert.equal(p.epochs, 3);
      assert.ok(p.seconds >= 0);
      seen.push(p.epoch);
    },
  });
  assert.deepEqual(seen, [1, 2, 3]);
  assert.equal(got.top1, 0);
});

Deno.test("linearProbe() refuses bad options and labels with RangeError, naming the value", async () => {
  const gpu = await testGpu();
  const tr = split(10, 3, 2, 1), te = split(5, 3, 2, 2);
  await assert.rejects(() => linearProbe(gpu, tr, te, { batchSize: 0 }), {
    name: "RangeError",
    message: "Expected linearProbe's batchSize to be an integer in [1, 65000] but found 0",
  });
  await assert.rejects(() => linearProbe(gpu, tr, te, { lr: -1 }), {
    name: "RangeError",
    message: "Expected linearProbe's lr to be a positive finite number but found -1",
  });
  await assert.rejects(() => linearProbe(gpu, tr, { x: te.x, y: [0, 1, -1, 0, 1] }), {
    name: "RangeError",
    message: "Expected test label 2 to be an integer in [0, 1048576) but found -1",
  });
  await assert.rejects(() => linearProbe(gpu, { x: randomMatrix(0, 3, 1), y: [] }, te), {
    name: "RangeError",
    message: "Expected linearProbe's training split to have rows but found none",
  });
  await assert.rejects(() => linearProbe(gpu, tr, { x: randomMatrix(5, 4, 1), y: te.y }), {
    name: "TypeError",
    message: "Expected test features of width 3 like the training features but found 4",
  });
});
