import assert from "node:assert/strict";
import { assignNearest, kmeans } from "../src/kmeans/mod.ts";
import type { Matrix } from "../src/matrix/matrix.ts";
import { uploadMatrix } from "../src/gpu/gpu_matrix.ts";
import { writeNpy } from "../src/data/mod.ts";
import { randomMatrix, testGpu } from "./_gpu.ts";
import { peerTest, pythonPeer } from "./_peer.ts";
import { python } from "./_python.ts";
import { withDir } from "./_tmp.ts";

const VARIANTS = ["registers", "tiled"] as const;

function rowsF64(m: Matrix, normalize: boolean): Float64Array[] {
  const out: Float64Array[] = [];
  for (let r = 0; r < m.rows; r++) {
    const v = Float64Array.from(m.data.subarray(r * m.cols, (r + 1) * m.cols));
    if (normalize) {
      const s = Math.sqrt(v.reduce((a, b) => a + b * b, 0));
      for (let i = 0; i < v.length; i++) v[i] = v[i]! / s;
    }
    out.push(v);
  }
  return out;
}

/** float64 reference: best centroid (ties → lower index), its score and the gap to the runner-up. */
function refAssign(x: Matrix, c: Matrix, spherical: boolean) {
  const xs = rowsF64(x, spherical), cs = rowsF64(c, spherical);
  return xs.map((xv) => {
    let best = -Infinity, second = -Infinity, bi = -1;
    cs.forEach((cv, j) => {
      let s = 0;
      for (let i = 0; i < xv.length; i++) {
        s += spherical ? xv[i]! * cv[i]! : -((xv[i]! - cv[i]!) ** 2);
      }
      if (s > best) {
        second = best;
        best = s;
        bi = j;
      } else if (s > second) second = s;
    });
    return { index: bi, score: spherical ? best : -best, gap: best - second };
  });
}

async function checkAssign(
  name: string,
  x: Matrix,
  c: Matrix,
  spherical: boolean,
  variant: "registers" | "tiled",
  maxBindingBytes?: number,
) {
  const gpu = await testGpu(maxBindingBytes ? { maxBindingBytes } : {});
  const got = await assignNearest(gpu, x, c, { metric: spherical ? "cosine" : "l2", variant });
  const ref = refAssign(x, c, spherical);
  assert.equal(got.assignments.length, x.rows);
  let checked = 0;
  ref.forEach((r, i) => {
    const tol = 1e-4 * Math.max(1, Math.abs(r.score));
    assert.ok(
      Math.abs(got.scores[i]! - r.score) <= tol,
      `${name} ${variant}: row ${i} score ${got.scores[i]} vs ${r.score}`,
    );
    if (r.gap > 1e-4 * Math.max(1, Math.abs(r.score))) {
      assert.equal(got.assignments[i], r.index, `${name} ${variant}: row ${i}`);
      checked++;
    }
  });
  assert.ok(checked >= Math.floor(x.rows * 0.9), `${name}: only ${checked} rows without near-ties`);
}

for (const variant of VARIANTS) {
  Deno.test(`assignNearest() matches the float64 reference on odd shapes (${variant})`, async () => {
    const cases: [string, number, number, number][] = [
      ["n=333 d=77 k=13", 333, 77, 13],
      ["k=1", 65, 9, 1],
      ["d=1", 70, 1, 3],
      ["n=k", 7, 5, 7],
      ["n<k", 3, 6, 40],
      ["several centroid blocks", 70, 129, 250],
    ];
    for (const [name, n, d, k] of cases) {
      const x = randomMatrix(n, d, n * 31 + d);
      const c = name === "n=k" ? x : randomMatrix(k, d, k * 7 + d);
      for (const spherical of [true, false]) {
        if (name === "d=1" && spherical) continue; // every unit row is ±1: all near-ties
        await checkAssign(`${name} spherical=${spherical}`, x, c, spherical, variant);
      }
    }
  });

  Deno.test(`assignNearest() splits rows and centroids over small bindings (${variant})`, async () => {
    // 4096-byte bindings: 51 rows of 20 floats per chunk, so 300 rows and 70 centroids span chunks.
    const x = randomMatrix(300, 20, 5), c = randomMatrix(70, 20, 6);
    await checkAssign("chunked", x, c, true, variant, 4096);
    await checkAssign("chunked", x, c, false, variant, 4096);
  });

  Deno.test(`kmeans() centroids are the normalised means of their members (${variant})`, async () => {
    for (const maxBindingBytes of [undefined, 4096]) {
      const gpu = await testGpu(maxBindingBytes ? { maxBindingBytes } : {});
      const x = randomMatrix(257, 19, 11);
      for (const spherical of [true, false]) {
        const r = await kmeans(gpu, x, {
          k: 5,
          niter: 30,
          metric: spherical ? "cosine" : "l2",
          variant,
        });
        const last = r.stats.at(-1)!, prev = r.stats.at(-2)!;
        assert.ok(Math.abs(last.objective - prev.objective) < 1e-3, "converged");
        const xs = rowsF64(x, spherical);
        for (let c = 0; c < 5; c++) {
          const mean = new Float64Array(19);
          let count = 0;
          xs.forEach((v, i) => {
            if (r.assignments[i] !== c) return;
            count++;
            for (let j = 0; j < 19; j++) mean[j]! += v[j]!;
          });
          assert.ok(count > 0, `cluster ${c} is empty`);
          let s = 0;
          for (let j = 0; j < 19; j++) s += (mean[j]! /= count) ** 2;
          const norm = spherical ? Math.sqrt(s) : 1;
          for (let j = 0; j < 19; j++) {
            const got = r.centroids.data[c * 19 + j]!;
            assert.ok(Math.abs(got - mean[j]! / norm) < 1e-5, `c${c}[${j}] ${got}`);
          }
        }
        // objective = sum of best scores of the final assignment
        const ref = refAssign(x, r.centroids, spherical);
        const obj = ref.reduce((a, b) => a + b.score, 0);
        assert.ok(Math.abs(obj - r.objective) < 1e-4 * Math.abs(obj), `${obj} vs ${r.objective}`);
      }
    }
  });
}

Deno.test("kmeans() with f16 storage stays within its documented score error of float64 and of f32", async () => {
  const gpu = await testGpu();
  const n = 400, x = randomMatrix(n, 33, 3);
  // f16 storage moves each score by at most eps (KMeansOptions.f16), row by row on the pass:
  const eps = 4e-3;
  const c = randomMatrix(6, 33, 4);
  const f = await assignNearest(gpu, x, c, { f16: true });
  const ref = refAssign(x, c, true);
  ref.forEach((r, i) => assert.ok(Math.abs(f.scores[i]! - r.score) < eps, `row ${i}`));
  // Hence in a whole f16 run: each row's centroid is within 2·eps of its float64 best among the
  // run's centroids (a score moves by at most eps each way), and the objective is within n·eps
  // of the float64 sum of the rows' scores with their centroids.
  const b = await kmeans(gpu, x, { k: 6, niter: 10, f16: true });
  const xs = rowsF64(x, true), cs = rowsF64(b.centroids, true);
  let obj = 0;
  xs.forEach((xv, i) => {
    const sc = cs.map((cv) => cv.reduce((acc, v, t) => acc + v * xv[t]!, 0));
    const got = sc[b.assignments[i]!]!;
    assert.ok(Math.max(...sc) - got <= 2 * eps, `row ${i}: ${got} vs best ${Math.max(...sc)}`);
    obj += got;
  });
  assert.ok(Math.abs(b.objective - obj) <= n * eps, `objective ${b.objective} vs float64 ${obj}`);
  // The f32 run from the same seeded start: f16 can change a choice only where two centroids
  // are within 2·eps of each other for a row; on this data that never happens, so both runs
  // take the same path (same assignments, checked) and their objectives differ by score error
  // alone, at most n·eps.
  const a = await kmeans(gpu, x, { k: 6, niter: 10 });
  assert.deepEqual(b.assignments, a.assignments);
  assert.ok(Math.abs(a.objective - b.objective) <= n * eps, `${a.objective} vs ${b.objective}`);
});

Deno.test("kmeans() is deterministic for a fixed seed", async () => {
  const gpu = await testGpu();
  const x = randomMatrix(500, 24, 8);
  const a = await kmeans(gpu, x, { k: 9, niter: 8, seed: 7, maxPointsPerCentroid: 40 });
  const b = await kmeans(gpu, x, { k: 9, niter: 8, seed: 7, maxPointsPerCentroid: 40 });
  assert.deepEqual(a.centroids.data, b.centroids.data);
  assert.deepEqual(a.assignments, b.assignments);
  assert.equal(a.objective, b.objective);
  assert.equal(a.assignments.length, 500, "assignments cover all rows after subsampling");
  const c = await kmeans(gpu, x, { k: 9, niter: 8, seed: 8, maxPointsPerCentroid: 40 });
  assert.notDeepEqual(a.centroids.data, c.centroids.data);
});

Deno.test("kmeans() with finalAssignment: false skips the final pass and keeps the centroids", async () => {
  const gpu = await testGpu();
  const x = randomMatrix(500, 24, 8);
  const o = { k: 9, niter: 8, seed: 7, maxPointsPerCentroid: 40 };
  const full = await kmeans(gpu, x, o);
  const none = await kmeans(gpu, x, { ...o, finalAssignment: false });
  assert.deepEqual(none.centroids.data, full.centroids.data);
  assert.deepEqual(none.stats.map((s) => s.objective), full.stats.map((s) => s.objective));
  assert.equal(none.assignments.length, 0);
  assert.equal(none.counts.length, 0);
  assert.equal(none.objective, full.stats.at(-1)!.objective, "the last iteration's objective");
  // nredo still keeps the run whose last iteration scored best
  const redo = await kmeans(gpu, x, { ...o, nredo: 3, finalAssignment: false });
  assert.equal(redo.objective, Math.max(redo.objective, none.objective));
  await assert.rejects(
    () => kmeans(gpu, x, { ...o, finalAssignment: false, onAssignments: () => {} }),
    { name: "RangeError", message: /onAssignments without finalAssignment: false/ },
  );
});

Deno.test("kmeans() splits the largest cluster when one is empty", async () => {
  const gpu = await testGpu();
  // 36 copies of one row and 4 others: random init picks duplicates, leaving clusters empty.
  const base = randomMatrix(5, 6, 9);
  const data = new Float32Array(40 * 6);
  for (let i = 0; i < 40; i++) {
    const src = i < 36 ? 0 : i - 35;
    data.set(base.data.subarray(src * 6, src * 6 + 6), i * 6);
  }
  const x = { data, rows: 40, cols: 6 };
  const r = await kmeans(gpu, x, { k: 8, niter: 20, init: "random", seed: 3 });
  const nsplit = r.stats.reduce((a, s) => a + s.nsplit, 0);
  assert.ok(nsplit > 0, "some cluster was split");
  assert.ok(r.stats[0]!.nsplit > 0);
  // split centroids are nudged apart: finite, unit norm, pairwise distinct
  const rowsOf = (c: number) => r.centroids.data.subarray(c * 6, c * 6 + 6);
  for (let c = 0; c < 8; c++) {
    const v = rowsOf(c);
    assert.ok(v.every(Number.isFinite));
    assert.ok(Math.abs(Math.hypot(...v) - 1) < 1e-5);
    for (let o = 0; o < c; o++) assert.notDeepEqual(rowsOf(o), v, `centroids ${o} and ${c}`);
  }
  assert.ok(r.objective > 39 && r.objective <= 40 + 1e-4, `objective ${r.objective}`);
});

Deno.test("kmeans() with k = n returns the points as centroids", async () => {
  const gpu = await testGpu();
  const x = randomMatrix(6, 4, 12);
  const r = await kmeans(gpu, x, { k: 6, metric: "l2" });
  for (let i = 0; i < x.data.length; i++) {
    assert.ok(Math.abs(r.centroids.data[i]! - x.data[i]!) < 1e-6);
  }
  assert.deepEqual([...r.assignments], [0, 1, 2, 3, 4, 5]);
  assert.ok(r.objective < 1e-5);
});

Deno.test("kmeans() calls onIteration with faiss-style stats and stops early on tolerance", async () => {
  const gpu = await testGpu();
  const x = randomMatrix(300, 8, 13);
  const seen: number[] = [];
  const r = await kmeans(gpu, x, {
    k: 4,
    niter: 50,
    tolerance: 1e-3,
    onIteration: (s) => seen.push(s.iteration),
  });
  assert.ok(r.stats.length < 50 && r.stats.length > 1, `${r.stats.length} iterations`);
  assert.deepEqual(seen, r.stats.map((s) => s.iteration));
  for (const s of r.stats) {
    assert.ok(s.imbalanceFactor >= 1 - 1e-9 && s.time >= s.timeSearch && s.nsplit === 0);
  }
});

Deno.test("kmeans() throws on bad k, NaN and zero rows", async () => {
  const gpu = await testGpu();
  const eightRows = randomMatrix(8, 3, 1);
  await assert.rejects(() => kmeans(gpu, eightRows, { k: 9 }), {
    name: "RangeError",
    message: "Expected k to be an integer in [1, 8] but found 9",
  });
  await assert.rejects(() => kmeans(gpu, eightRows, { k: 0 }), {
    name: "RangeError",
    message: "Expected k to be an integer in [1, 8] but found 0",
  });
  await assert.rejects(() => kmeans(gpu, eightRows, { k: 2.5 }), {
    name: "RangeError",
    message: "Expected k to be an integer in [1, 8] but found 2.5",
  });
  const nan = randomMatrix(8, 3, 1);
  nan.data[4] = NaN;
  await assert.rejects(() => kmeans(gpu, nan, { k: 2 }), {
    name: "RangeError",
    message: "Expected finite values in x but found NaN at row 1, column 1",
  });
  const zero = randomMatrix(8, 3, 1);
  zero.data.fill(0, 6, 9);
  await assert.rejects(() => kmeans(gpu, zero, { k: 2 }), {
    name: "RangeError",
    message: "Cannot L2-normalise x for cosine k-means: row 2 is all zeros",
  });
  await kmeans(gpu, zero, { k: 2, metric: "l2", niter: 2 }); // fine for plain k-means
  await assert.rejects(() => kmeans(gpu, eightRows, { k: 2, variant: "fast" as "tiled" }), {
    name: "RangeError",
    message: 'Expected variant to be "auto", "registers" or "tiled" but found "fast"',
  });
  await assert.rejects(
    () => assignNearest(gpu, eightRows, randomMatrix(2, 4, 1)),
    { name: "TypeError", message: "Expected centroids to have 3 columns like x but found 4" },
  );
  await assert.rejects(
    () => kmeans(gpu, { data: new Float32Array(3), rows: 2, cols: 2 }, { k: 1 }),
    {
      name: "TypeError",
      message: "Expected x.data to hold rows × cols = 2 × 2 = 4 values but found 3",
    },
  );
});

Deno.test("kmeans() and assignNearest() do not depend on a row's scale; values float32 or float16 cannot hold are refused", async () => {
  const gpu = await testGpu();
  const n = 200, d = 32;
  const x = randomMatrix(n, d, 31);
  // Every row scaled by its own factor, up to 3e38 / its largest |value| and down to 1e-29.
  const factors = [1e19, 1e-23, 0, 1, 1e-29, 1e30];
  const scaled = { data: x.data.slice(), rows: n, cols: d };
  for (let r = 0; r < n; r++) {
    const row = scaled.data.subarray(r * d, (r + 1) * d);
    const top = row.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    const f = factors[r % factors.length] || 3e38 / top;
    row.forEach((v, i) => row[i] = v * f);
  }
  const c = randomMatrix(7, d, 32);
  const a = await assignNearest(gpu, x, c), b = await assignNearest(gpu, scaled, c);
  assert.deepEqual(b.assignments, a.assignments);
  assert.ok(b.scores.every((s, i) => Math.abs(s - a.scores[i]!) <= 1e-6), "scores moved");
  const o = { k: 5, niter: 4, seed: 3 };
  const plain = await kmeans(gpu, x, o), big = await kmeans(gpu, scaled, o);
  assert.ok(Math.abs(big.objective - plain.objective) <= 1e-4 * n, `${big.objective}`);
  // A row as good as zero (GPUs may flush its values to zero) is refused as a zero row, here,
  // in a file (named with its row) and on the GPU.
  const tiny = { data: x.data.slice(), rows: n, cols: d };
  tiny.data.subarray(3 * d, 4 * d).forEach((v, i, row) => row[i] = v * 1e-40);
  const top3 = tiny.data.subarray(3 * d, 4 * d).reduce((m, v) => Math.max(m, Math.abs(v)), 0);
  const zeroish = (name: string, value: string) =>
    `Cannot L2-normalise ${name} for cosine k-means: row 3 is all zeros or as good as (its largest |value|${value} is below 2^-102)`;
  await assert.rejects(() => kmeans(gpu, tiny, o), {
    name: "RangeError",
    message: zeroish("x", `, ${top3},`),
  });
  await assert.rejects(() => kmeans(gpu, uploadMatrix(gpu, tiny), o), {
    name: "RangeError",
    message: zeroish("x", ""),
  });
  await withDir(async (dir) => {
    await writeNpy(`${dir}/t.npy`, tiny.data, [n, d]);
    await assert.rejects(() => kmeans(gpu, [`${dir}/t.npy`], o), {
      name: "RangeError",
      message: zeroish(`${dir}/t.npy`, `, ${top3},`),
    });
  });
  // l2: values beyond float16 (with f16) and squared norms beyond float32 distances.
  const l2 = { ...o, metric: "l2" as const };
  const e5 = { data: x.data.map((v) => v * 2e5), rows: n, cols: d };
  const at = e5.data.findIndex((v) => Math.abs(v) > 65504);
  await assert.rejects(() => kmeans(gpu, e5, { ...l2, f16: true }), {
    name: "RangeError",
    message: `Cannot store x as float16 for f16 with metric l2: row ${Math.floor(at / d)} holds ${
      e5.data[at]
    } at column ${at % d}, beyond float16's largest value 65504`,
  });
  await assert.rejects(() => kmeans(gpu, scaled, l2), {
    name: "RangeError",
    message:
      /^Cannot use x for l2 k-means: row 0 has a squared norm of .* beyond 8\.507.*e\+37 where float32 squared distances overflow$/,
  });
});

// ---- quality against faiss (python3-faiss), same data, k, niter and nredo ----
// Outside CI a missing faiss or scikit-learn ignores these tests (with the reason); under
// CI=true it fails them; a faiss or scikit-learn that runs but errors always fails them.

const FAISS = await pythonPeer("faiss (apt-get install python3-faiss)", ["faiss", "numpy"]);
const SKLEARN = await pythonPeer("scikit-learn (apt-get install python3-sklearn)", [
  "sklearn",
  "numpy",
]);
const FAISS_SCRIPT = `
import sys, numpy as np, faiss
n, d, k, niter, nredo, seed = map(int, sys.argv[2:8])
x = np.fromfile(sys.argv[1], dtype=np.float32).reshape(n, d)
km = faiss.Kmeans(d, k, niter=niter, nredo=nredo, spherical=True, seed=seed)
km.train(x)
km.centroids.astype(np.float32).tofile(sys.argv[1] + ".c")
`;

async function faissCentroids(
  x: Matrix,
  k: number,
  niter: number,
  nredo: number,
  seed: number,
): Promise<Matrix> {
  const c = await withDir(async (dir) => {
    const f = `${dir}/x.f32`;
    await Deno.writeFile(f, new Uint8Array(x.data.buffer, x.data.byteOffset, x.data.byteLength));
    await python(["-c", FAISS_SCRIPT, f, ...[x.rows, x.cols, k, niter, nredo, seed].map(String)]);
    return new Float32Array((await Deno.readFile(f + ".c")).buffer);
  });
  assert.equal(c.length, k * x.cols, "faiss wrote k × d centroids");
  return { data: c, rows: k, cols: x.cols };
}

async function checkQuality(name: string, x: Matrix, k: number) {
  const gpu = await testGpu();
  const fc = await faissCentroids(x, k, 25, 1, 1234);
  const ours = await kmeans(gpu, x, { k, niter: 25, nredo: 1, seed: 1234 });
  const objOf = (c: Matrix) => refAssign(x, c, true).reduce((a, b) => a + b.score, 0);
  const theirs = objOf(fc), mine = objOf(ours.centroids);
  assert.ok(Math.abs(mine - ours.objective) < 1e-4 * mine);
  assert.ok(mine >= 0.99 * theirs, `${name}: objective ${mine} vs faiss ${theirs}`);
}

peerTest({
  name: "kmeans() is within 1% of faiss on random n=1001, d=77, k=13",
  needs: [FAISS],
  fn: async () => {
    await checkQuality("random", randomMatrix(1001, 77, 77), 13);
  },
});

peerTest({
  name: "kmeans() is within 1% of faiss on scikit-learn's digits (k=10)",
  needs: [FAISS, SKLEARN],
  fn: async () => {
    const data = await withDir(async (dir) => {
      const f = `${dir}/digits.f32`;
      await python([
        "-c",
        `import sys, numpy as np\nfrom sklearn.datasets import load_digits\nload_digits().data.astype(np.float32).tofile(sys.argv[1])`,
        f,
      ]);
      return new Float32Array((await Deno.readFile(f)).buffer);
    });
    assert.equal(data.length, 1797 * 64, "scikit-learn wrote the 1797 digits");
    await checkQuality("digits", { data, rows: 1797, cols: 64 }, 10);
  },
});
