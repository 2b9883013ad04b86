// Refinement (src/kmeans/refine.ts): one pass is one Lloyd iteration of kmeans() from the same
// centers, bit for bit (cosine and l2, f32 and f16, an empty center re-seeded); the parts' sums
// are exact (a float64 reference) and order-independent; refineCentroids() is partSums() of
// each part and reduceSums(); the hierarchical objective is the objective over the rows.
import assert from "node:assert/strict";
import {
  hierarchicalKmeans,
  kmeans,
  mergeCentroids,
  type PartSums,
  partSums,
  reduceSums,
  refineCentroids,
} from "../src/kmeans/mod.ts";
import { openRowSource, partOf, writeNpy } from "../src/data/mod.ts";
import type { Matrix } from "../src/matrix/matrix.ts";
import { SumsTotal } from "../src/kmeans/_refine_sums.ts";
import { randomMatrix, testGpu } from "./_gpu.ts";
import { objective } from "./_cluster_jobs.ts";
import { clustered } from "./_gpu.ts";
import { withDir } from "./_tmp.ts";

const FIXED = { variant: "registers", autotune: false } as const;

/** WGSL's round(): to the nearest integer, ties to even. */
const roundHalfEven = (v: number) =>
  Math.abs(v % 1) === 0.5 ? 2 * Math.round(v / 2) : Math.round(v);

/** Rows `[a, b)` of `m`. */
const rowsOf = (m: Matrix, a: number, b: number): Matrix => ({
  data: m.data.slice(a * m.cols, b * m.cols),
  rows: b - a,
  cols: m.cols,
});

for (
  const [metric, f16] of [["cosine", false], ["l2", false], ["cosine", true]] as const
) {
  Deno.test(`a refine pass is one Lloyd iteration of kmeans() bit for bit (${metric}${f16 ? ", f16" : ""})`, async () => {
    const gpu = await testGpu();
    const x = clustered(613, 13, 9, 31); // odd sizes: rows, width
    if (metric === "l2") { for (let i = 0; i < x.data.length; i++) x.data[i]! *= 3; // |v| > 1
     }
    // Starting centers: 8 rows, plus a copy of center 0, which loses every tie (empty: split).
    const centers = rowsOf(x, 0, 9);
    centers.data.set(centers.data.subarray(0, 13), 8 * 13);
    const o = { metric, f16, ...FIXED };
    const lloyd = await kmeans(gpu, x, { ...o, k: 9, init: centers, niter: 1 });
    assert.equal(lloyd.stats[0]!.nsplit, 1, "the copy was empty and split");
    const passes: number[] = [];
    const r = await refineCentroids(gpu, x, centers, {
      ...o,
      passes: 1,
      onPass: (s) => passes.push(s.nsplit),
    });
    assert.deepEqual(r.centroids.data, lloyd.centroids.data);
    assert.deepEqual(passes, [1]);
    // The objectives: the pass's (the starting centers) and the result's, over all rows.
    const rel = (a: number, b: number) => Math.abs(a - b) / Math.abs(b);
    assert.ok(rel(r.passes[0]!.objective, lloyd.stats[0]!.objective) < 1e-5);
    assert.ok(rel(r.objective, lloyd.objective) < 1e-6, `${r.objective} vs ${lloyd.objective}`);
    assert.deepEqual(r.counts, lloyd.counts);
  });
}

Deno.test("partSums(): exact fixed-point sums and counts of each center's members (float64 reference)", async () => {
  const gpu = await testGpu();
  const x = randomMatrix(301, 6, 5), centers = randomMatrix(7, 6, 6);
  for (const metric of ["cosine", "l2"] as const) {
    const p = await partSums(gpu, x, centers, { metric, ...FIXED, batchRows: 64 });
    assert.equal(p.exponent, metric === "cosine" ? 30 : 28); // standard normal: 2 < max|v| ≤ 4
    assert.equal(p.rows, 301);
    const unit = (m: Matrix, r: number) => {
      const v = Array.from(m.data.subarray(r * 6, r * 6 + 6));
      const s = metric === "cosine" ? Math.hypot(...v) : 1;
      return v.map((e) => e / s);
    };
    const counts = new Uint32Array(7), sums = new Float64Array(7 * 6);
    let obj = 0;
    for (let r = 0; r < 301; r++) {
      const v = unit(x, r);
      let best = 0, bs = metric === "cosine" ? -Infinity : Infinity;
      for (let c = 0; c < 7; c++) {
        const u = unit(centers, c);
        const s = metric === "cosine"
          ? v.reduce((a, e, j) => a + e * u[j]!, 0)
          : v.reduce((a, e, j) => a + (e - u[j]!) ** 2, 0);
        if (metric === "cosine" ? s > bs : s < bs) [best, bs] = [c, s];
      }
      counts[best]!++;
      obj += bs;
      for (let j = 0; j < 6; j++) sums[best * 6 + j]! += roundHalfEven(v[j]! * 2 ** p.exponent);
    }
    assert.deepEqual(p.counts, counts);
    assert.ok(Math.abs(p.objective - obj) < 1e-4 * Math.abs(obj), `${p.objective} vs ${obj}`);
    // The GPU normalises in float32: a few ulp per row and value (l2 rows are taken as they are).
    const tol = metric === "cosine" ? 2 ** 30 * 1e-6 : 0;
    for (let i = 0; i < 42; i++) {
      const c = Math.floor(i / 6), diff = Math.abs(Number(p.sums[i]) - sums[i]!);
      assert.ok(diff <= tol * counts[c]!, `sum ${i}: ${p.sums[i]} vs ${sums[i]}`);
    }
  }
});

Deno.test("reduceSums(): the parts in any order give the same centers, those of refineCentroids()", async () => {
  const gpu = await testGpu();
  await withDir(async (dir) => {
    const x = clustered(700, 10, 6, 8);
    await writeNpy(`${dir}/a.npy`, x.data.slice(0, 400 * 10), [400, 10]);
    await writeNpy(`${dir}/b.npy`, x.data.slice(400 * 10), [300, 10]);
    const source = await openRowSource([dir]);
    const centers = rowsOf(x, 100, 106);
    const parts: PartSums[] = [];
    for (let i = 0; i < 3; i++) {
      parts.push(await partSums(gpu, partOf(source, { index: i, count: 3 }), centers, FIXED));
    }
    const a = await reduceSums(gpu, centers, parts);
    const b = await reduceSums(gpu, centers, [parts[2]!, parts[0]!, parts[1]!]);
    assert.deepEqual(a.centroids, b.centroids);
    assert.deepEqual(a.counts, b.counts);
    assert.equal(a.rows, 700);
    const one = await refineCentroids(gpu, source, centers, { ...FIXED, passes: 1, parts: 3 });
    assert.deepEqual(one.centroids, a.centroids);
    assert.equal(one.passes[0]!.objective, a.objective);
    // Under cosine the parts do not matter: one part, or the rows as a Matrix.
    const whole = await refineCentroids(gpu, x, centers, { ...FIXED, passes: 1 });
    assert.deepEqual(whole.centroids, a.centroids);
    // Two passes are two reduces.
    const two = await refineCentroids(gpu, source, centers, { ...FIXED, passes: 2, parts: 3 });
    const again = [];
    for (let i = 0; i < 3; i++) {
      again.push(
        await partSums(gpu, partOf(source, { index: i, count: 3 }), a.centroids, FIXED),
      );
    }
    assert.deepEqual(two.centroids, (await reduceSums(gpu, a.centroids, again)).centroids);
    assert.ok(two.objective >= two.passes[1]!.objective - 1e-3, "Lloyd does not get worse");
    await assert.rejects(() => reduceSums(gpu, centers, []), {
      name: "RangeError",
      message: "Expected at least one part but found none",
    });
    await assert.rejects(() => reduceSums(gpu, rowsOf(x, 0, 5), parts), {
      name: "RangeError",
      message: /Expected part 0 to hold sums of 5 × 10 and 5 counts but found 60 sums/,
    });
  });
});

Deno.test("SumsTotal: parts at different exponents add exactly, whatever their order", () => {
  const part = (sums: bigint[], exponent: number) => ({
    sums: BigInt64Array.from(sums),
    counts: new Uint32Array([1]),
    exponent,
    objective: 1,
    rows: 1,
  });
  // 1.5 at 2^2, -0.75 at 2^3, 2^40 + 1 at 2^0: the total 2^40 + 1.75 rounds to 2^40 + 2 at 2^0.
  const ps = [part([6n], 2), part([-6n], 3), part([2n ** 40n + 1n], 0)];
  for (const order of [[0, 1, 2], [2, 1, 0], [1, 2, 0]]) {
    const t = new SumsTotal(1, 1);
    for (const i of order) t.add(ps[i]!, `part ${i}`);
    const r = t.result();
    assert.deepEqual([r.sums[0], r.exponent, r.counts[0]], [2n ** 40n + 2n, 0, 3]);
  }
  // Carries across the 32-bit words, and negative values, in the fast path.
  const t = new SumsTotal(1, 2);
  const a = { ...part([0xffffffffn, -1n], 30), counts: new Uint32Array([1]) };
  t.add(a, "a");
  t.add(a, "b");
  assert.deepEqual([...t.result().sums], [0x1fffffffen, -2n]);
});

Deno.test("hierarchicalKmeans(): the objective over the rows, the merge's as mergeObjective, refine passes", async () => {
  const gpu = await testGpu();
  await withDir(async (dir) => {
    const x = clustered(900, 8, 12, 4);
    await writeNpy(`${dir}/a.npy`, x.data, [900, 8]);
    const source = await openRowSource([dir]);
    const o = { ...FIXED, niter: 8, seed: 2, parts: 3, k1: 10, k: 12 };
    const h = await hierarchicalKmeans(gpu, source, o);
    const direct = objective(x, h.centroids);
    assert.ok(Math.abs(h.objective - direct) < 1e-5 * direct, `${h.objective} vs ${direct}`);
    const merged = await mergeCentroids(gpu, h.parts, { ...FIXED, niter: 8, seed: 2, k: 12 });
    assert.equal(h.mergeObjective, merged.objective); // over the 30 part centroids, weighted
    assert.deepEqual(h.centroids, merged.centroids);
    assert.equal(h.counts.reduce((a, b) => a + b, 0), 900);
    const r = await hierarchicalKmeans(gpu, source, { ...o, refine: 2 });
    assert.equal(r.passes.length, 2);
    assert.ok(Math.abs(r.passes[0]!.objective - h.objective) < 1e-9 * direct);
    const refined = await refineCentroids(gpu, source, h.centroids, {
      ...FIXED,
      passes: 2,
      parts: 3,
    });
    assert.deepEqual(r.centroids, refined.centroids);
    assert.ok(Math.abs(r.objective - objective(x, r.centroids)) < 1e-5 * direct);
    assert.ok(r.objective >= h.objective - 1e-3, `${r.objective} < ${h.objective}`);
  });
});

Deno.test("refineCentroids(): tiny shapes (d = 1, k = 1, n < k, empty parts) and bad options", async () => {
  const gpu = await testGpu();
  // d = 1 under l2, k = 1: the mean of the rows, whatever the parts (some of them empty).
  const x = { data: Float32Array.from([1, 2, 4, 8, 16]), rows: 5, cols: 1 };
  const one = { data: Float32Array.from([3]), rows: 1, cols: 1 };
  const means: number[] = [];
  for (const parts of [1, 8]) {
    const r = await refineCentroids(gpu, x, one, { ...FIXED, metric: "l2", passes: 1, parts });
    means.push(r.centroids.data[0]!);
    // The update's float32 finalize: sum × (2^-e / count), within an ulp or two of 6.2.
    assert.ok(Math.abs(r.centroids.data[0]! - 6.2) < 1e-6, `parts ${parts}: ${r.centroids.data}`);
    assert.deepEqual([...r.counts], [5]);
    const inertia = [1, 2, 4, 8, 16].reduce((a, v) => a + (v - 6.2) ** 2, 0);
    assert.ok(Math.abs(r.objective - inertia) < 1e-4 * inertia, `${r.objective} vs ${inertia}`);
  }
  // With 8 parts every row is alone in its part, summed at exponents 30 (for 1) down to 26 (for
  // 16); their exact total equals the one part's at 26.
  assert.equal(means[0], means[1]);
  // n < k: 3 rows, 5 centers; the two empty ones are split from the largest while it has ≥ 2.
  const y = randomMatrix(3, 4, 12), c = randomMatrix(5, 4, 13);
  const r = await refineCentroids(gpu, y, c, { ...FIXED, passes: 2 });
  assert.equal(r.counts.reduce((a, b) => a + b, 0), 3);
  assert.ok(r.centroids.data.every(Number.isFinite));
  await assert.rejects(() => refineCentroids(gpu, y, c, { passes: -1 }), {
    name: "RangeError",
    message: "Expected passes to be an integer ≥ 0 but found -1",
  });
  await assert.rejects(() => partSums(gpu, y, randomMatrix(2, 3, 1)), {
    name: "TypeError",
    message: "Expected centers to have 4 columns like the rows but found 3",
  });
  const zero = randomMatrix(2, 4, 1);
  zero.data.fill(0, 4);
  await assert.rejects(() => partSums(gpu, y, zero), {
    name: "RangeError",
    message: /centers .*row 1 is all zeros/,
  });
});
