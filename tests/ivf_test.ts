import assert from "node:assert/strict";
import {
  buildCenterIndex,
  createIvfAssignmentStep,
  ivfAssign,
  type IvfMetric,
  ivfTopk,
  measureAssignmentRecall,
  measureTopkRecall,
  recordIvfAssign,
} from "../src/ivf/mod.ts";
import { assignNearest } from "../src/kmeans/mod.ts";
import { topk } from "../src/topk/mod.ts";
import { uploadMatrix } from "../src/gpu/gpu_matrix.ts";
import { createStorage, readBack } from "../src/gpu/buffers.ts";
import type { Matrix } from "../src/matrix/matrix.ts";
import { clustered, randomMatrix, refAssign, testGpu } from "./_gpu.ts";

function rowsOf(m: Matrix, idx: ArrayLike<number>): Matrix {
  const d = m.cols, data = new Float32Array(idx.length * d);
  for (let i = 0; i < idx.length; i++) {
    data.set(m.data.subarray(idx[i]! * d, (idx[i]! + 1) * d), i * d);
  }
  return { data, rows: idx.length, cols: d };
}

const SHAPES: [string, number, number, number][] = [
  ["n=300 K=77 d=13", 300, 77, 13],
  ["n<K", 5, 40, 6],
  ["K=1", 50, 1, 7],
  ["d=1", 60, 9, 1],
  ["K not a multiple of the block, n=333 K=301 d=20", 333, 301, 20],
];

for (const metric of ["cosine", "l2"] as const) {
  for (const f16 of [false, true]) {
    Deno.test(`ivfAssign() with nprobe = cells equals the exact kernel bit for bit (${metric}, ${f16 ? "f16" : "f32"})`, async () => {
      const gpu = await testGpu();
      for (const [name, n, K, d] of SHAPES) {
        if (metric === "cosine" && d === 1) continue; // every unit row is ±1: ties only
        const x = randomMatrix(n, d, n + d), c = randomMatrix(K, d, K * 3 + d);
        const exact = await assignNearest(gpu, x, c, { metric, f16, variant: "registers" });
        const index = buildCenterIndex(gpu, c, { metric, f16 });
        try {
          const got = await ivfAssign(gpu, x, index, { nprobe: index.cells });
          assert.deepEqual(got.assignments, exact.assignments, `${name}: assignments`);
          assert.deepEqual(got.scores, exact.scores, `${name}: scores`);
          if (f16) continue;
          const ref = refAssign(x, c, metric === "cosine");
          ref.forEach((r, i) => {
            const tol = 1e-4 * Math.max(1, Math.abs(r.score));
            assert.ok(Math.abs(got.scores[i]! - r.score) <= tol, `${name}: row ${i} score`);
            if (r.gap > tol) assert.equal(got.assignments[i], r.index, `${name}: row ${i}`);
          });
        } finally {
          index.destroy();
        }
      }
    });
  }
}

Deno.test("ivfAssign() handles cells of very different sizes, empty cells and ties", async () => {
  const gpu = await testGpu();
  // 34 copies of one center among 6 others: the initial cells (a sample of the centers, no
  // Lloyd) repeat it, so cells are left empty, and the copies tie (the lowest index must win,
  // as in the exact kernel).
  const base = randomMatrix(7, 10, 21), idx = new Uint32Array(40);
  for (let i = 0, o = 1; i < 40; i++) idx[i] = i % 7 === 3 && o < 7 ? o++ : 0;
  const c = rowsOf(base, idx), x = randomMatrix(257, 10, 22);
  for (const metric of ["cosine", "l2"] as const) {
    const index = buildCenterIndex(gpu, c, { metric, cells: 8, iterations: 0, seed: 3 });
    try {
      const sizes = await index.cellSizes();
      assert.equal(sizes.reduce((a, b) => a + b, 0), 40);
      assert.ok(sizes.includes(0), `no empty cell in ${sizes}`);
      assert.ok(Math.max(...sizes) >= 20, `sizes ${sizes}`);
      const exact = await assignNearest(gpu, x, c, { metric, variant: "registers" });
      const all = await ivfAssign(gpu, x, index, { nprobe: 8 });
      assert.deepEqual(all.assignments, exact.assignments);
      assert.deepEqual(all.scores, exact.scores);
      const one = await ivfAssign(gpu, x, index, { nprobe: 1 });
      const check = await measureAssignmentRecall(gpu, x, c, one, { metric, sample: 257 });
      assert.equal(check.inconsistent, 0, "every reported center exists and has its score");
    } finally {
      index.destroy();
    }
  }
});

Deno.test("ivfAssign() splits rows, centers and batches over small bindings", async () => {
  const gpu = await testGpu({ maxBindingBytes: 4096 });
  const x = randomMatrix(300, 20, 5), c = randomMatrix(130, 20, 6);
  for (const metric of ["cosine", "l2"] as const) {
    const exact = await assignNearest(gpu, x, c, { metric, variant: "registers" });
    const index = buildCenterIndex(gpu, c, { metric });
    try {
      assert.ok(index.store.chunks.length > 1, "centers in several chunks");
      const got = await ivfAssign(gpu, x, index, { nprobe: index.cells, batchRows: 37 });
      assert.deepEqual(got.assignments, exact.assignments);
      assert.deepEqual(got.scores, exact.scores);
    } finally {
      index.destroy();
    }
  }
});

Deno.test("recordIvfAssign() records rebuild + assignment into one encoder, deterministically", async () => {
  const gpu = await testGpu();
  const x = clustered(500, 24, 30, 8, 0.5),
    c = rowsOf(x, Array.from({ length: 60 }, (_, i) => i * 7));
  const g = uploadMatrix(gpu, x, { stride: 24, normalize: true });
  const index = buildCenterIndex(gpu, c, { build: false });
  const idx = [createStorage(gpu, 500 * 4)], score = [createStorage(gpu, 500 * 4)];
  try {
    const runs: Uint32Array[] = [];
    for (let rep = 0; rep < 2; rep++) {
      const enc = gpu.device.createCommandEncoder();
      index.rebuild(enc);
      recordIvfAssign(gpu, g, index, { idx, score }, { encoder: enc, nprobe: 2 });
      const [a] = await readBack(gpu, [{ buffer: idx[0]!, bytes: 500 * 4 }], enc);
      runs.push(new Uint32Array(a!));
    }
    assert.deepEqual(runs[0], runs[1]);
    const other = buildCenterIndex(gpu, c);
    const again = await ivfAssign(gpu, x, other, { nprobe: 2 });
    other.destroy();
    assert.deepEqual(again.assignments, runs[0], "same seed, same index, same answer");
  } finally {
    index.destroy();
    g.destroy();
    for (const b of [...idx, ...score]) b.destroy();
  }
});

Deno.test("createIvfAssignmentStep() plugs into the assignment seam: exact with every cell", async () => {
  const gpu = await testGpu();
  const x = clustered(400, 20, 25, 14, 0.5),
    c = rowsOf(x, Array.from({ length: 70 }, (_, i) => i * 5));
  const g = uploadMatrix(gpu, x, { stride: 20, normalize: true });
  const owner = buildCenterIndex(gpu, c, { build: false }); // only lends its centroid store
  const idx = [createStorage(gpu, 400 * 4)], score = [createStorage(gpu, 400 * 4)];
  const all = createIvfAssignmentStep({ nprobe: 1000 }),
    few = createIvfAssignmentStep({ nprobe: 2 });
  try {
    const read = async (step: typeof all) => {
      const enc = gpu.device.createCommandEncoder();
      step(gpu, g, owner.store, { idx, score }, enc);
      const [a, b] = await readBack(gpu, [
        { buffer: idx[0]!, bytes: 1600 },
        { buffer: score[0]!, bytes: 1600 },
      ], enc);
      return { assignments: new Uint32Array(a!), scores: new Float32Array(b!) };
    };
    const exact = await assignNearest(gpu, x, c, { variant: "registers" });
    assert.deepEqual(await read(all), exact);
    const approx = await read(few);
    const ref = buildCenterIndex(gpu, c);
    assert.deepEqual(
      approx,
      await ivfAssign(gpu, x, ref, { nprobe: 2 }),
      "same index, same answer",
    );
    ref.destroy();
    assert.equal(few.index?.cells, 8);
  } finally {
    all.destroy();
    few.destroy();
    owner.destroy();
    g.destroy();
    for (const b of [...idx, ...score]) b.destroy();
  }
});

Deno.test("ivfAssign() with the exact assignment as previous stays exact at nprobe 1", async () => {
  const gpu = await testGpu();
  const x = randomMatrix(300, 16, 31), c = randomMatrix(90, 16, 32);
  for (const [metric, f16] of [["cosine", false], ["l2", true]] as const) {
    const exact = await assignNearest(gpu, x, c, { metric, f16, variant: "registers" });
    const index = buildCenterIndex(gpu, c, { metric, f16 });
    try {
      const plain = await ivfAssign(gpu, x, index, { nprobe: 1 });
      assert.notDeepEqual(plain.assignments, exact.assignments, "one probe alone misses some");
      const got = await ivfAssign(gpu, x, index, { nprobe: 1, previous: exact.assignments });
      assert.deepEqual(
        got,
        exact,
        `${metric}: the previous center, scored as the exact kernel does`,
      );
      const junk = await ivfAssign(gpu, x, index, {
        nprobe: 1,
        previous: new Uint32Array(300).fill(1e9),
      });
      assert.deepEqual(junk, plain, "indices out of range are skipped");
    } finally {
      index.destroy();
    }
  }
});

Deno.test("ivfAssign() with small nprobe keeps > 0.9 of the exact assignments on clustered data", async () => {
  const gpu = await testGpu();
  const x = clustered(3000, 32, 40, 9, 0.5),
    c = rowsOf(x, Array.from({ length: 400 }, (_, i) => i * 7));
  for (const metric of ["cosine", "l2"] as const) {
    const index = buildCenterIndex(gpu, c, { metric });
    try {
      const found = await ivfAssign(gpu, x, index, { nprobe: 4 });
      const r = await measureAssignmentRecall(gpu, x, c, found, { metric, sample: 800 });
      assert.ok(r.recall > 0.9, `${metric}: recall ${r.recall}`);
      assert.ok(r.objectiveLoss < 0.01, `${metric}: objective loss ${r.objectiveLoss}`);
      assert.equal(r.inconsistent, 0);
    } finally {
      index.destroy();
    }
  }
});

Deno.test("ivfTopk() equals exact top-k with nprobe = cells and keeps recall@8 > 0.9 with few", async () => {
  const gpu = await testGpu();
  const x = clustered(1000, 28, 40, 10, 0.5),
    c = rowsOf(x, Array.from({ length: 333 }, (_, i) => i * 3));
  for (const metric of ["cosine", "ip"] as const) {
    const index = buildCenterIndex(gpu, c, { metric: metric as IvfMetric });
    try {
      const exact = await topk(gpu, x, c, { k: 8, metric, autotune: false });
      const all = await ivfTopk(gpu, x, index, { k: 8, nprobe: index.cells });
      let same = 0;
      for (let i = 0; i < all.indices.length; i++) {
        if (all.indices[i] === exact.indices[i]) same++;
        assert.ok(Math.abs(all.scores[i]! - exact.scores[i]!) < 1e-5, `${metric}: score ${i}`);
      }
      assert.ok(same >= all.indices.length - 8, `${metric}: ${same} of ${all.indices.length}`);
      const few = await ivfTopk(gpu, x, index, { k: 8, nprobe: 5 });
      const r = await measureTopkRecall(gpu, x, c, few, { k: 8, metric, sample: 400 });
      assert.ok(r.recall > 0.9, `${metric}: recall@8 ${r.recall}`);
      assert.equal(r.inconsistent, 0);
    } finally {
      index.destroy();
    }
  }
});

Deno.test("measureAssignmentRecall() and measureTopkRecall() catch a broken index", async () => {
  const gpu = await testGpu();
  const x = clustered(600, 16, 20, 12, 0.5),
    c = rowsOf(x, Array.from({ length: 90 }, (_, i) => i * 5));
  // An index over a shuffled copy: its center indices name the wrong centers.
  const perm = Array.from({ length: 90 }, (_, i) => (i * 37 + 11) % 90);
  const index = buildCenterIndex(gpu, rowsOf(c, perm));
  const good = buildCenterIndex(gpu, c);
  try {
    const exact = await assignNearest(gpu, x, c);
    const ok = await measureAssignmentRecall(gpu, x, c, exact);
    assert.deepEqual([ok.recall, ok.objectiveLoss, ok.inconsistent], [1, 0, 0]);
    const wrong = await ivfAssign(gpu, x, index, { nprobe: index.cells });
    const bad = await measureAssignmentRecall(gpu, x, c, wrong);
    assert.ok(bad.recall < 0.2, `recall ${bad.recall}`);
    assert.ok(bad.objectiveLoss > 0.1, `objective loss ${bad.objectiveLoss}`);
    assert.ok(bad.inconsistent > 0.8 * bad.rows, `inconsistent ${bad.inconsistent}`);
    const right = await ivfTopk(gpu, x, good, { k: 4, nprobe: good.cells });
    assert.equal((await measureTopkRecall(gpu, x, c, right, { k: 4 })).recall, 1);
    const topWrong = await ivfTopk(gpu, x, index, { k: 4, nprobe: index.cells });
    const t = await measureTopkRecall(gpu, x, c, topWrong, { k: 4 });
    assert.ok(t.recall < 0.3 && t.inconsistent > 0.8 * t.rows, `recall@4 ${t.recall}`);
  } finally {
    index.destroy();
    good.destroy();
  }
});

Deno.test("ivfAssign() and ivfTopk() refuse bad options and rows", async () => {
  const gpu = await testGpu();
  const c = randomMatrix(50, 8, 1), x = randomMatrix(10, 8, 2);
  const index = buildCenterIndex(gpu, c);
  try {
    await assert.rejects(() => ivfAssign(gpu, x, index, { nprobe: 0 }), {
      name: "RangeError",
      message: `Expected nprobe to be an integer in [1, ${index.cells}] (the cells) but found 0`,
    });
    await assert.rejects(() => ivfAssign(gpu, randomMatrix(3, 5, 1), index), {
      name: "TypeError",
      message: "Expected x to have 8 columns like the centers but found 5",
    });
    await assert.rejects(() => ivfTopk(gpu, x, index, { k: 65 }), {
      name: "RangeError",
      message: "Expected k to be an integer in [1, 64] but found 65",
    });
    const g = uploadMatrix(gpu, x, { stride: 8 });
    const enc = gpu.device.createCommandEncoder();
    assert.throws(() => recordIvfAssign(gpu, g, index, { idx: [], score: [] }, { encoder: enc }), {
      name: "TypeError",
      message: "Expected x to be L2-normalised for a cosine index",
    });
    g.destroy();
    assert.throws(() => buildCenterIndex(gpu, c, { cells: 51 }), {
      name: "RangeError",
      message: "Expected cells to be an integer in [1, 50] but found 51",
    });
  } finally {
    index.destroy();
  }
  await assert.rejects(() => ivfAssign(gpu, x, index), {
    name: "Error",
    message: "Cannot use the index: it was destroyed",
  });
});
