import assert from "node:assert/strict";
import {
  kmeansParallelCandidates,
  kmeansParallelInit,
} from "../src/kmeans/kmeans_parallel_init.ts";
import { randomRowsInit } from "../src/kmeans/random_rows_init.ts";
import { chooseInit, initCenters } from "../src/kmeans/init_auto.ts";
import { rowUniform } from "../src/kmeans/_init_programs.ts";
import type { Matrix } from "../src/matrix/matrix.ts";
import { downloadMatrix, uploadMatrix } from "../src/gpu/gpu_matrix.ts";
import { randomMatrix, rng, testGpu } from "./_gpu.ts";

/** `n` rows around `c` random centers (noise `s`), so that D² varies a lot. */
function blobs(n: number, d: number, c: number, seed: number, s = 0.2): Matrix {
  const centers = randomMatrix(c, d, seed);
  const noise = randomMatrix(n, d, seed + 1);
  const r = rng(seed + 2);
  const data = new Float32Array(n * d);
  for (let i = 0; i < n; i++) {
    const j = Math.floor(r() * c);
    for (let t = 0; t < d; t++) {
      data[i * d + t] = centers.data[j * d + t]! + s * noise.data[i * d + t]!;
    }
  }
  return { data, rows: n, cols: d };
}

/** Rows as float64, L2-normalised under cosine. */
function rows64(x: Matrix, cosine: boolean): Float64Array[] {
  return Array.from({ length: x.rows }, (_, r) => {
    const v = Float64Array.from(x.data.subarray(r * x.cols, (r + 1) * x.cols));
    if (cosine) {
      const s = Math.sqrt(v.reduce((a, b) => a + b * b, 0));
      for (let i = 0; i < v.length; i++) v[i] = v[i]! / s;
    }
    return v;
  });
}

function dist2(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let e = 0;
  for (let i = 0; i < a.length; i++) e += (a[i]! - b[i]!) ** 2;
  return e;
}

/** The centers as `k` row strings of their first `d` values (padding dropped). */
function centerKeys(c: Float32Array, k: number, d: number): string[] {
  const dp = c.length / k;
  return Array.from({ length: k }, (_, r) => Array.from(c.subarray(r * dp, r * dp + d)).join());
}

for (const metric of ["cosine", "l2"] as const) {
  for (const reduce of ["kmeans++", "lloyd"] as const) {
    Deno.test(`kmeansParallelInit() is deterministic per seed and independent of chunking (${metric}, ${reduce})`, async () => {
      const x = blobs(600, 13, 25, 3);
      const o = { k: 20, metric, reduce, rounds: 3, oversampling: 2 };
      const a = await kmeansParallelInit(await testGpu(), x, { ...o, seed: 5 });
      const b = await kmeansParallelInit(await testGpu(), x, { ...o, seed: 5 });
      const chunked = await kmeansParallelInit(await testGpu({ maxBindingBytes: 4096 }), x, {
        ...o,
        seed: 5,
      });
      const other = await kmeansParallelInit(await testGpu(), x, { ...o, seed: 6 });
      assert.equal(a.length, 20 * 16);
      assert.deepEqual(b, a);
      assert.deepEqual(chunked, a);
      assert.notDeepEqual(other, a);
      // Sampled rows too.
      const s1 = await kmeansParallelInit(await testGpu(), x, { ...o, seed: 5, sampleRows: 250 });
      const s2 = await kmeansParallelInit(await testGpu({ maxBindingBytes: 4096 }), x, {
        ...o,
        seed: 5,
        sampleRows: 250,
      });
      assert.deepEqual(s2, s1);
    });
  }
}

for (const metric of ["cosine", "l2"] as const) {
  Deno.test(`kmeansParallelCandidates() keeps every row's D² to its nearest candidate, as in float64 (${metric})`, async () => {
    const gpu = await testGpu();
    const x = blobs(301, 7, 9, 11);
    const xs = rows64(x, metric === "cosine");
    let prev: Uint32Array | null = null;
    for (const rounds of [0, 1, 2, 3]) {
      const c = await kmeansParallelCandidates(gpu, x, { k: 10, metric, rounds, seed: 9 });
      assert.equal(c.sample, null);
      assert.equal(c.roundStarts.length, rounds + 1);
      assert.equal(c.potentials.length, rounds);
      // Fewer rounds draw a prefix of the same candidates.
      if (prev) assert.deepEqual(c.rows.subarray(0, prev.length), prev);
      prev = c.rows;
      assert.equal(new Set(c.rows).size, c.rows.length, "no row drawn twice");
      const cand = Array.from(c.rows, (r) => xs[r]!);
      let phi = 0;
      xs.forEach((v, i) => {
        const ds = cand.map((cv) => dist2(v, cv));
        const best = Math.min(...ds);
        const own = c.rows.indexOf(i);
        if (own >= 0) {
          assert.equal(c.distances[i], 0, `candidate row ${i}`);
          assert.equal(c.nearest[i], own);
        } else {
          assert.ok(Math.abs(c.distances[i]! - best) <= 2e-5 * Math.max(1, best), `row ${i}`);
          assert.ok(ds[c.nearest[i]!]! <= best + 2e-5 * Math.max(1, best), `row ${i} nearest`);
        }
        phi += own >= 0 ? 0 : best;
      });
      // Weights: the rows nearest to each candidate.
      const w = new Float64Array(c.rows.length);
      for (const j of c.nearest) w[j]!++;
      assert.deepEqual(c.weights, w);
      void phi;
    }
  });
}

Deno.test("kmeansParallelCandidates() draws row i with probability min(1, ℓ·w·D²/Σ w·D²)", async () => {
  const gpu = await testGpu();
  const x = blobs(200, 5, 6, 21);
  const xs = rows64(x, true);
  const weights = Float32Array.from({ length: 200 }, (_, i) => (i % 7 === 0 ? 0 : 1 + (i % 3)));
  const k = 8, ell = 1.5 * k;
  let checked = 0;
  for (const seed of [1, 2, 3, 4]) {
    const c = await kmeansParallelCandidates(gpu, x, {
      k,
      seed,
      rounds: 1,
      oversampling: 1.5,
      weights,
    });
    const first = xs[c.rows[0]!]!;
    assert.ok(weights[c.rows[0]!]! > 0, "the first center is drawn ∝ weight");
    const d2 = xs.map((v, i) => (i === c.rows[0] ? 0 : dist2(v, first)));
    const phi = d2.reduce((a, v, i) => a + weights[i]! * v, 0);
    assert.ok(Math.abs(c.potentials[0]! - phi) <= 1e-4 * phi, `Σ ${c.potentials[0]} vs ${phi}`);
    const drawn = new Set(c.rows.subarray(1));
    for (let i = 0; i < 200; i++) {
      const p = Math.min(1, (ell * weights[i]! * d2[i]!) / phi);
      const u = rowUniform(seed, 1, i);
      if (Math.abs(u - p) < 1e-4) continue; // too close to call in f32
      assert.equal(drawn.has(i), u < p, `seed ${seed} row ${i}: u ${u} p ${p}`);
      if (weights[i] === 0) assert.ok(!drawn.has(i), `row ${i} has weight 0`);
      checked++;
    }
  }
  assert.ok(checked > 780);
});

Deno.test("kmeansParallelCandidates() draw counts match the D² probabilities over many seeds", async () => {
  // The hash uniforms must behave like independent uniforms: the number of times each row is
  // drawn over S seeds is a sum of Bernoullis with the float64 probabilities.
  const gpu = await testGpu();
  const x = blobs(40, 2, 3, 5, 0.5);
  const xs = rows64(x, false);
  const S = 150, k = 4;
  const obs = new Float64Array(40), mean = new Float64Array(40), vari = new Float64Array(40);
  for (let seed = 0; seed < S; seed++) {
    const c = await kmeansParallelCandidates(gpu, x, {
      k,
      seed: seed * 7919,
      rounds: 1,
      metric: "l2",
    });
    const first = c.rows[0]!;
    const d2 = xs.map((v, i) => (i === first ? 0 : dist2(v, xs[first]!)));
    const phi = d2.reduce((a, b) => a + b, 0);
    for (let i = 0; i < 40; i++) {
      const p = Math.min(1, (0.5 * k * d2[i]!) / phi);
      mean[i]! += p;
      vari[i]! += p * (1 - p);
    }
    for (const r of c.rows.subarray(1)) obs[r]!++;
  }
  let chi = 0, dof = 0;
  for (let i = 0; i < 40; i++) {
    if (vari[i]! < 1) continue;
    const z = (obs[i]! - mean[i]!) / Math.sqrt(vari[i]!);
    assert.ok(Math.abs(z) < 4.5, `row ${i}: drawn ${obs[i]} times, expected ${mean[i]}`);
    chi += z * z;
    dof++;
  }
  assert.ok(dof >= 20, `${dof} rows with variance`);
  assert.ok(chi < dof + 5 * Math.sqrt(2 * dof), `χ² ${chi} on ${dof} rows`);
});

Deno.test("kmeansParallelInit() respects weights: weight-0 rows are never centers", async () => {
  const gpu = await testGpu();
  const x = blobs(200, 6, 10, 31);
  const heavy = [3, 50, 77, 120, 199];
  const weights = new Float64Array(200);
  for (const h of heavy) weights[h] = 5;
  for (const reduce of ["kmeans++", "lloyd"] as const) {
    const c = await kmeansParallelInit(gpu, x, { k: 5, weights, reduce, metric: "l2" });
    const got = centerKeys(c, 5, 6).sort();
    const want = heavy.map((h) => Array.from(x.data.subarray(h * 6, h * 6 + 6)).join()).sort();
    assert.deepEqual(got, want);
  }
});

Deno.test("kmeansParallelInit() returns k distinct rows for k = 1, d = 1, n < 2k and n = k", async () => {
  const gpu = await testGpu();
  const cases: [string, Matrix, number][] = [
    ["k = 1", blobs(50, 4, 3, 1), 1],
    ["d = 1", blobs(90, 1, 5, 2), 6],
    ["n < 2k", blobs(9, 3, 9, 3), 7],
    ["n = k", blobs(12, 5, 12, 4), 12],
  ];
  for (const [name, x, k] of cases) {
    for (const reduce of ["kmeans++", "lloyd"] as const) {
      for (const metric of ["cosine", "l2"] as const) {
        if (metric === "cosine" && x.cols === 1) continue; // every unit row is ±1
        const c = await kmeansParallelInit(gpu, x, { k, reduce, metric });
        const d = x.cols;
        assert.equal(c.length, k * Math.ceil(d / 4) * 4, name);
        assert.equal(new Set(centerKeys(c, k, d)).size, k, `${name} ${reduce} ${metric}`);
        for (const v of c) assert.ok(Number.isFinite(v));
      }
    }
  }
});

Deno.test("kmeansParallelInit() handles duplicate and zero-distance rows", async () => {
  const gpu = await testGpu();
  // 6 distinct rows, each repeated 5 times.
  const base = blobs(6, 4, 6, 9);
  const data = new Float32Array(30 * 4);
  for (let i = 0; i < 30; i++) data.set(base.data.subarray((i % 6) * 4, (i % 6) * 4 + 4), i * 4);
  const x = { data, rows: 30, cols: 4 };
  const want = Array.from(
    { length: 6 },
    (_, r) => Array.from(base.data.subarray(r * 4, r * 4 + 4)).join(),
  );
  for (const reduce of ["kmeans++", "lloyd"] as const) {
    const six = await kmeansParallelInit(gpu, x, { k: 6, reduce, metric: "l2", rounds: 2 });
    assert.deepEqual(centerKeys(six, 6, 4).sort(), want.slice().sort(), reduce);
    // Even when the draws find fewer distinct rows than k (rounds: 0).
    const top = await kmeansParallelInit(gpu, x, { k: 6, reduce, metric: "l2", rounds: 0 });
    assert.deepEqual(centerKeys(top, 6, 4).sort(), want.slice().sort(), `${reduce}, top-up`);
    // More centers than distinct rows: every distinct row, then repeats.
    const eight = await kmeansParallelInit(gpu, x, { k: 8, reduce, metric: "l2" });
    assert.deepEqual([...new Set(centerKeys(eight, 8, 4))].sort(), want.slice().sort());
  }
  // All rows identical: every D² is 0.
  const same = { data: new Float32Array(10 * 3).fill(0.5), rows: 10, cols: 3 };
  const c = await kmeansParallelInit(gpu, same, { k: 3 });
  assert.deepEqual(new Set(centerKeys(c, 3, 3)).size, 1);
});

Deno.test("kmeansParallelInit() returns exactly k distinct centers with many candidates (lloyd)", async () => {
  const gpu = await testGpu();
  const x = blobs(3000, 8, 40, 17);
  const c = await kmeansParallelInit(gpu, x, { k: 60, reduce: "lloyd", oversampling: 2 });
  assert.equal(new Set(centerKeys(c, 60, 8)).size, 60);
  // Unit rows under cosine.
  for (let r = 0; r < 60; r++) {
    const n = Math.sqrt(c.subarray(r * 8, r * 8 + 8).reduce((a, v) => a + v * v, 0));
    assert.ok(Math.abs(n - 1) < 1e-5, `center ${r} norm ${n}`);
  }
});

Deno.test("kmeansParallelInit() and randomRowsInit() refuse bad options", async () => {
  const gpu = await testGpu();
  const x = blobs(10, 3, 2, 1);
  await assert.rejects(() => kmeansParallelInit(gpu, x, { k: 11 }), {
    name: "RangeError",
    message: "Expected k to be an integer in [1, 10] but found 11",
  });
  await assert.rejects(() => kmeansParallelInit(gpu, x, { k: 2, oversampling: 0 }), {
    name: "RangeError",
    message: "Expected oversampling to be a finite number > 0 but found 0",
  });
  await assert.rejects(
    () => kmeansParallelInit(gpu, x, { k: 2, reduce: "x" as "lloyd" }),
    {
      name: "RangeError",
      message: 'Expected reduce to be "auto", "kmeans++" or "lloyd" but found "x"',
    },
  );
  await assert.rejects(() => randomRowsInit(gpu, x, { k: 0 }), {
    name: "RangeError",
    message: "Expected k to be an integer in [1, 10] but found 0",
  });
});

Deno.test("randomRowsInit() gathers k distinct seeded rows, normalised under cosine", async () => {
  const gpu = await testGpu();
  const x = blobs(500, 5, 4, 8);
  const xs = rows64(x, true);
  const a = await randomRowsInit(gpu, x, { k: 30, seed: 3 });
  assert.deepEqual(await randomRowsInit(gpu, x, { k: 30, seed: 3 }), a);
  assert.deepEqual(
    await randomRowsInit(await testGpu({ maxBindingBytes: 4096 }), x, { k: 30, seed: 3 }),
    a,
  );
  assert.notDeepEqual(await randomRowsInit(gpu, x, { k: 30, seed: 4 }), a);
  // Gathered and read back over several chunks (32 rows per 1 KiB binding).
  assert.deepEqual(
    await randomRowsInit(await testGpu({ maxBindingBytes: 1024 }), x, { k: 200, seed: 3 }),
    await randomRowsInit(gpu, x, { k: 200, seed: 3 }),
  );
  const picked = new Set<number>();
  for (let r = 0; r < 30; r++) {
    const v = a.subarray(r * 8, r * 8 + 5);
    const i = xs.findIndex((u) => dist2(u, v) < 1e-10);
    assert.ok(i >= 0, `center ${r} is a row`);
    picked.add(i);
  }
  assert.equal(picked.size, 30);
});

Deno.test("chooseInit() runs k-means|| while its host reduction is small, random rows above", () => {
  assert.equal(chooseInit({ k: 1, d: 1 }), "kmeans||");
  assert.equal(chooseInit({ k: 1000, d: 128 }), "kmeans||");
  assert.equal(chooseInit({ k: 4096, d: 64 }), "kmeans||");
  assert.equal(chooseInit({ k: 4097, d: 64 }), "random");
  assert.equal(chooseInit({ k: 3276, d: 100 }), "kmeans||");
  assert.equal(chooseInit({ k: 3277, d: 100 }), "random");
  assert.equal(chooseInit({ k: 1448, d: 512 }), "kmeans||");
  assert.equal(chooseInit({ k: 1449, d: 512 }), "random");
  assert.equal(chooseInit({ k: 20000, d: 100 }), "random");
  assert.equal(chooseInit({ k: 1_000_000, d: 512 }), "random");
});

Deno.test("initCenters() runs the method chooseInit() picks, or the one named", async () => {
  const gpu = await testGpu();
  const x = blobs(400, 6, 8, 13);
  const lines: string[] = [];
  const auto = await initCenters(gpu, x, { k: 12, seed: 4, onLog: (m) => lines.push(m) });
  assert.equal(auto.method, "kmeans||");
  assert.deepEqual(auto.centers, await kmeansParallelInit(gpu, x, { k: 12, seed: 4 }));
  assert.ok(lines.some((l) => /^init: kmeans\|\| \(auto, by k and d\) for 12 centers$/.test(l)));
  assert.ok(lines.some((l) => /^init: round 1\/4, \d+ candidates/.test(l)), lines.join("\n"));
  const random = await initCenters(gpu, x, { k: 12, seed: 4, init: "random", metric: "l2" });
  assert.equal(random.method, "random");
  assert.deepEqual(random.centers, await randomRowsInit(gpu, x, { k: 12, seed: 4, metric: "l2" }));
  await assert.rejects(() => initCenters(gpu, x, { k: 2, init: "kmeans++" as "random" }), {
    name: "RangeError",
    message: 'Expected init to be "auto", "kmeans||" or "random" but found "kmeans++"',
  });
});

Deno.test("kmeansParallelInit() takes rows on the GPU as packed f16 in place", async () => {
  const gpu = await testGpu();
  const x = blobs(300, 10, 6, 19);
  const g = uploadMatrix(gpu, x, { stride: 12, dtype: "f16", normalize: true });
  try {
    const c = await kmeansParallelInit(gpu, g, { k: 9, reduce: "kmeans++" });
    assert.deepEqual(await kmeansParallelInit(gpu, g, { k: 9, reduce: "kmeans++" }), c);
    // Every center is one of the rows as stored (f16 values widened exactly).
    const rows = await downloadMatrix(gpu, g);
    const keys = new Set(centerKeys(new Float32Array(rows.data), 300, 10));
    for (const key of centerKeys(c, 9, 10)) assert.ok(keys.has(key), key);
    assert.equal(new Set(centerKeys(c, 9, 10)).size, 9);
  } finally {
    g.destroy();
  }
});
