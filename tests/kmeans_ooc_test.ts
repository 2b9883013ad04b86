// Out-of-core k-means: files and row sources give the in-memory result; row weights against
// a float64 reference and against repeated rows; checkpoints resume bit for bit.
import assert from "node:assert/strict";
import { kmeans, type KMeansResult } from "../src/kmeans/mod.ts";
import { atomicWrites, openRowSource, partOf, writeNpy } from "../src/data/mod.ts";
import type { Matrix } from "../src/matrix/matrix.ts";
import { mulberry32, sampleIndices } from "../src/random/mulberry32.ts";
import { sampleIndicesSparse } from "../src/kmeans/_stream_assign.ts";
import { randomMatrix, rng, testGpu } from "./_gpu.ts";
import { writeShards, type WriteShardsOptions } from "./_shards.ts";
import { withDir } from "./_tmp.ts";

const FIXED = { variant: "registers", autotune: false } as const;

/** Shards part_0.npy, part_1.arrow, … (.npy f4 and Arrow in turn). */
const PARTS: WriteShardsOptions = { name: (i) => `part_${i}`, formats: ["npy", "arrow"] };

function assertSameResult(a: KMeansResult, b: KMeansResult, what: string): void {
  assert.equal(a.objective, b.objective, `${what}: objective`);
  assert.deepEqual(a.centroids, b.centroids, `${what}: centroids`);
  assert.deepEqual(a.assignments, b.assignments, `${what}: assignments`);
  assert.deepEqual(a.counts, b.counts, `${what}: counts`);
  const n = a.counts.reduce((s, c) => s + c, 0);
  const fromAssign = new Uint32Array(a.counts.length);
  for (const c of a.assignments) fromAssign[c]!++;
  if (a.assignments.length === n) assert.deepEqual(a.counts, fromAssign, `${what}: counts`);
  assert.deepEqual(
    a.stats.map((s) => [s.objective, s.nsplit]),
    b.stats.map((s) => [s.objective, s.nsplit]),
    `${what}: per-iteration objectives`,
  );
}

Deno.test("sampleIndicesSparse() draws the same indices as sampleIndices()", () => {
  for (const [n, m] of [[1, 1], [10, 10], [1000, 37], [5000, 4999]] as const) {
    assert.deepEqual(
      sampleIndicesSparse(n, m, mulberry32(n + m)),
      sampleIndices(n, m, mulberry32(n + m)),
    );
  }
});

Deno.test("kmeans() over files and row sources equals kmeans() over the same rows in memory", async () => {
  const gpu = await testGpu();
  await withDir(async (dir) => {
    const x = randomMatrix(1001, 19, 3);
    await writeShards(dir, x, [300, 1, 250, 450], PARTS);
    const cases = [
      { k: 9, niter: 5 }, // all rows train
      { k: 9, niter: 5, maxPointsPerCentroid: 40, nredo: 2 }, // a sample of 360 rows
      { k: 1, niter: 2 },
      { k: 9, niter: 4, f16: true, init: "random" as const, maxPointsPerCentroid: 60 },
      { // weighted, on a sample: weights follow the sampled rows
        k: 9,
        niter: 4,
        maxPointsPerCentroid: 50,
        weights: new Float32Array(1001).map((_, i) => (i % 7) * 0.5),
      },
    ];
    for (const c of cases) {
      const o = { ...FIXED, ...c, batchRows: 97 };
      const mem = await kmeans(gpu, x, o);
      assertSameResult(await kmeans(gpu, [dir], o), mem, JSON.stringify(c));
    }
    // Without assignments kept: the same centroids and objective, no per-row array.
    const o2 = { ...FIXED, k: 9, niter: 3, maxPointsPerCentroid: 40, batchRows: 97 };
    const kept = await kmeans(gpu, [dir], o2);
    const dropped = await kmeans(gpu, [dir], { ...o2, keepAssignments: false });
    assert.equal(dropped.assignments.length, 0);
    assert.deepEqual(dropped.counts, kept.counts);
    assert.equal(dropped.counts.reduce((s, c) => s + c, 0), 1001);
    assert.equal(dropped.objective, kept.objective);
    assert.deepEqual(dropped.centroids, kept.centroids);
    // A part of the files equals its rows in memory.
    const part = partOf(await openRowSource([dir]), { index: 1, count: 3 });
    const rows = {
      data: x.data.slice(part.globalStart * 19, (part.globalStart + part.rows) * 19),
      rows: part.rows,
      cols: 19,
    };
    const o = { ...FIXED, k: 6, niter: 4, maxPointsPerCentroid: 30, batchRows: 50 };
    assertSameResult(await kmeans(gpu, part, o), await kmeans(gpu, rows, o), "part 1 of 3");
  });
});

Deno.test("kmeans() over files names the file and row of a bad value", async () => {
  const gpu = await testGpu();
  await withDir(async (dir) => {
    const x = randomMatrix(40, 3, 8);
    x.data[3 * 25 + 1] = NaN; // row 25 = row 5 of the second shard
    await writeNpy(`${dir}/a_0.npy`, x.data.slice(0, 60), [20, 3]);
    await writeNpy(`${dir}/a_1.npy`, x.data.slice(60), [20, 3]);
    await assert.rejects(
      () => kmeans(gpu, [dir], { ...FIXED, k: 2, niter: 1 }),
      {
        name: "RangeError",
        message: `Expected finite values in ${dir}/a_1.npy but found NaN at row 5, column 1`,
      },
    );
    const z = randomMatrix(40, 3, 9);
    z.data.fill(0, 3 * 33, 3 * 34);
    await writeNpy(`${dir}/a_1.npy`, z.data.slice(60), [20, 3]);
    await writeNpy(`${dir}/a_0.npy`, z.data.slice(0, 60), [20, 3]);
    // Not in the training sample (k × 1 = 2 rows), so found by the streamed final pass.
    await assert.rejects(
      () => kmeans(gpu, [dir], { ...FIXED, k: 2, niter: 1, maxPointsPerCentroid: 1, seed: 3 }),
      /Cannot L2-normalise .*a_1\.npy for cosine k-means: row 13 is all zeros/,
    );
  });
});

/** float64 weighted Lloyd from given centroids: assign (ties → lower index), weighted means. */
function refWeightedLloyd(
  x: Matrix,
  w: Float32Array,
  init: Matrix,
  niter: number,
  spherical: boolean,
): { centroids: Float64Array[]; objective: number } {
  const d = x.cols;
  const norm = (v: Float64Array) => {
    const s = Math.sqrt(v.reduce((a, b) => a + b * b, 0));
    return v.map((e) => e / s);
  };
  const rows = Array.from({ length: x.rows }, (_, r) => {
    const v = Float64Array.from(x.data.subarray(r * d, (r + 1) * d));
    return spherical ? norm(v) : v;
  });
  let cents = Array.from({ length: init.rows }, (_, r) => {
    const v = Float64Array.from(init.data.subarray(r * d, (r + 1) * d));
    return spherical ? norm(v) : v;
  });
  const assign = () =>
    rows.map((v) => {
      let best = -Infinity, bi = 0;
      cents.forEach((c, j) => {
        let s = 0;
        for (let i = 0; i < d; i++) s += spherical ? v[i]! * c[i]! : -((v[i]! - c[i]!) ** 2);
        if (s > best) [best, bi] = [s, j];
      });
      return { index: bi, score: spherical ? best : -best };
    });
  for (let it = 0; it < niter; it++) {
    const a = assign();
    const sums = cents.map(() => new Float64Array(d));
    const tot = new Float64Array(cents.length);
    a.forEach(({ index }, r) => {
      tot[index] = tot[index]! + w[r]!;
      for (let i = 0; i < d; i++) sums[index]![i] = sums[index]![i]! + w[r]! * rows[r]![i]!;
    });
    cents = cents.map((c, j) => {
      if (tot[j]! <= 0) return c;
      const m = sums[j]!.map((s) => s / tot[j]!);
      return spherical ? norm(m) : m;
    });
  }
  const objective = assign().reduce((s, { score }, r) => s + w[r]! * score, 0);
  return { centroids: cents, objective };
}

Deno.test("kmeans() with row weights matches a float64 weighted Lloyd on odd shapes", async () => {
  const gpu = await testGpu();
  const cases: [string, number, number, number, boolean][] = [
    ["n=203 d=13 k=7", 203, 13, 7, true],
    ["L2 n=150 d=6 k=4", 150, 6, 4, false],
    ["k=1", 65, 9, 1, true],
    ["d=1 (L2)", 70, 1, 3, false],
    ["n<64 d=130", 33, 130, 5, true],
  ];
  for (const [name, n, d, k, spherical] of cases) {
    const x = randomMatrix(n, d, n + d);
    const r = rng(n * d);
    // Real weights with zeros and a wide range.
    const w = new Float32Array(n).map((_, i) => (i % 11 === 0 ? 0 : 0.01 + 100 * r() ** 3));
    const init = { data: x.data.slice(0, k * d), rows: k, cols: d }; // rows 0..k-1
    for (let i = 0; i < k; i++) w[i] = 1 + i; // the seeds carry weight
    const niter = 3;
    const got = await kmeans(gpu, x, {
      ...FIXED,
      k,
      niter,
      metric: spherical ? "cosine" : "l2",
      weights: w,
      init,
    });
    const ref = refWeightedLloyd(x, w, init, niter, spherical);
    let worst = 0;
    ref.centroids.forEach((c, j) => {
      for (let i = 0; i < d; i++) {
        worst = Math.max(worst, Math.abs(c[i]! - got.centroids.data[j * d + i]!));
      }
    });
    const scale = spherical ? 1 : 4;
    assert.ok(worst <= 2e-5 * scale, `${name}: centroids differ by ${worst}`);
    assert.ok(
      Math.abs(got.objective - ref.objective) <= 1e-4 * Math.abs(ref.objective),
      `${name}: objective ${got.objective} vs ${ref.objective}`,
    );
    assert.ok(got.stats.every((s) => Number.isFinite(s.objective) && s.eta >= 0));
  }
});

Deno.test("kmeans() with integer weights equals the rows repeated that many times", async () => {
  const gpu = await testGpu();
  const n = 157, d = 11, k = 6;
  const x = randomMatrix(n, d, 77);
  const r = rng(78);
  const w = new Float32Array(n).map(() => 1 + Math.floor(r() * 3));
  const reps: number[] = [];
  w.forEach((c, i) => {
    for (let t = 0; t < c; t++) reps.push(i);
  });
  const rep = { data: new Float32Array(reps.length * d), rows: reps.length, cols: d };
  reps.forEach((i, j) => rep.data.set(x.data.subarray(i * d, (i + 1) * d), j * d));
  const init = { data: x.data.slice(0, k * d), rows: k, cols: d };
  for (const spherical of [true, false]) {
    const o = {
      ...FIXED,
      k,
      niter: 4,
      metric: spherical ? "cosine" as const : "l2" as const,
      init,
    };
    const weighted = await kmeans(gpu, x, { ...o, weights: w });
    const ones = await kmeans(gpu, rep, { ...o, weights: new Float32Array(rep.rows).fill(1) });
    const plain = await kmeans(gpu, rep, o);
    // Same integer sums and totals: bit-identical centroids, and the same assignments.
    assert.deepEqual(weighted.centroids, ones.centroids, `spherical ${spherical}`);
    assert.deepEqual(
      Array.from(reps, (i) => weighted.assignments[i]),
      Array.from(ones.assignments),
    );
    assert.ok(Math.abs(weighted.objective - plain.objective) <= 1e-5 * Math.abs(plain.objective));
    // The unweighted update (64-bit sums) agrees to f32 rounding.
    const diff = weighted.centroids.data.reduce(
      (m, v, i) => Math.max(m, Math.abs(v - plain.centroids.data[i]!)),
      0,
    );
    assert.ok(diff <= 1e-6, `spherical ${spherical}: unweighted differs by ${diff}`);
  }
});

Deno.test("kmeans() reads weights from .npy and refuses bad ones", async () => {
  const gpu = await testGpu();
  await withDir(async (dir) => {
    const x = randomMatrix(50, 4, 1);
    const w = new Float32Array(50).map((_, i) => 1 + (i % 3));
    await writeNpy(`${dir}/w.npy`, w, [50]);
    const o = { ...FIXED, k: 3, niter: 3 };
    assertSameResult(
      await kmeans(gpu, x, { ...o, weights: `${dir}/w.npy` }),
      await kmeans(gpu, x, { ...o, weights: w }),
      "weights from .npy",
    );
    // uint32 counts beyond float32's integers are read exactly.
    const counts = new Uint32Array(50).map((_, i) => 16_777_217 + i * 3);
    await writeNpy(`${dir}/counts.npy`, counts, [50]);
    assertSameResult(
      await kmeans(gpu, x, { ...o, weights: `${dir}/counts.npy` }),
      await kmeans(gpu, x, { ...o, weights: Float64Array.from(counts) }),
      "uint32 counts from .npy",
    );
    await assert.rejects(() => kmeans(gpu, x, { ...o, weights: new Float32Array(49) }), {
      name: "TypeError",
      message: "Expected weights to hold 50 weights (one per row) but found 49",
    });
    const neg = w.slice();
    neg[7] = -1;
    await assert.rejects(() => kmeans(gpu, x, { ...o, weights: neg }), {
      name: "RangeError",
      message: "Expected weights to hold finite weights ≥ 0 but found -1 at row 7",
    });
    await assert.rejects(
      () => kmeans(gpu, x, { ...o, weights: new Float32Array(50) }),
      /positive weight but all are 0/,
    );
    // A range the integer update cannot hold is refused (1 beside 1e30, 0.1 beside 1e9 counted
    // as 0); integers below 2^32 are exact at any range, others within a factor 2^16.
    const wide = (v: number, big: number, at: number) =>
      new Float64Array(50).fill(v).map((u, i) => i === at ? big : u);
    for (const [v, big] of [[1, 1e30], [0.1, 1e9]] as const) {
      await assert.rejects(() => kmeans(gpu, x, { ...o, weights: wide(v, big, 9) }), {
        name: "RangeError",
        message:
          `Expected every positive weight of weights to be at least 2^-16 × the largest (${big} at row 9), or all weights to be integers below 2^32, but found ${v} at row 0: the update adds the weights as integers below 2^32 (w × 2^e for one e), where it would count as 0`,
      });
    }
    await assert.rejects(() => kmeans(gpu, x, { ...o, weights: wide(1, 1e300, 3) }), {
      name: "RangeError",
      message: "Expected weights to hold finite weights ≥ 0 (float32) but found 1e+300 at row 3",
    });
    await kmeans(gpu, x, { ...o, weights: wide(1, 4e9, 9) }); // integers: exact
    await kmeans(gpu, x, { ...o, weights: wide(1, 65535.5, 9) }); // within 2^16
    await writeNpy(`${dir}/w2.npy`, new Float32Array(100), [50, 2]);
    await assert.rejects(() => kmeans(gpu, x, { ...o, weights: `${dir}/w2.npy` }), TypeError);
  });
});

class Stop extends Error {}

Deno.test("kmeans() resumed from a checkpoint ends as the uninterrupted run, files or memory", async () => {
  const gpu = await testGpu();
  await withDir(async (dir) => {
    const x = randomMatrix(900, 10, 12);
    await writeShards(dir, x, [400, 500], PARTS);
    const w = new Float32Array(900).map((_, i) => 1 + (i % 5));
    const inputs: [string, Matrix | string[]][] = [["memory", x], ["files", [dir]]];
    for (const [what, input] of inputs) {
      for (const extra of [{}, { weights: w, f16: true }]) {
        const o = { ...FIXED, k: 24, niter: 7, nredo: 2, maxPointsPerCentroid: 30, ...extra };
        const whole = await kmeans(gpu, input, o);
        // Stop in the first or second run (checkpoints every 2 iterations), then resume.
        for (const stopAt of [[0, 3], [1, 3], [1, 6]] as const) {
          const path = `${dir}/km-${what}-${stopAt}.ckpt`;
          let run = -1;
          await assert.rejects(
            () =>
              kmeans(gpu, input, {
                ...o,
                checkpoint: { path, every: 2 },
                onIteration: (s) => {
                  if (s.iteration === 0) run++;
                  if (run === stopAt[0] && s.iteration === stopAt[1]) throw new Stop();
                },
              }),
            Stop,
          );
          const logs: string[] = [];
          const resumed = await kmeans(gpu, input, {
            ...o,
            checkpoint: { path, every: 2 },
            resume: true,
            onLog: (m) => logs.push(m),
          });
          assert.ok(logs.some((m) => m.startsWith(`Resuming from ${path}`)), logs.join("\n"));
          assert.equal(resumed.objective, whole.objective, `${what} ${stopAt}`);
          assert.deepEqual(resumed.centroids, whole.centroids, `${what} ${stopAt}`);
          assert.deepEqual(resumed.assignments, whole.assignments, `${what} ${stopAt}`);
          // Resuming a finished run redoes only the final pass.
          const again = await kmeans(gpu, input, { ...o, checkpoint: { path }, resume: true });
          assert.deepEqual(again.centroids, whole.centroids);
        }
      }
    }
  });
});

Deno.test("kmeans() refuses a checkpoint of another run and starts fresh without one", async () => {
  const gpu = await testGpu();
  await withDir(async (dir) => {
    const x = randomMatrix(120, 5, 2);
    const path = `${dir}/km.ckpt`;
    const logs: string[] = [];
    const o = { ...FIXED, k: 4, niter: 3, checkpoint: { path, every: 1 } };
    const a = await kmeans(gpu, x, { ...o, resume: true, onLog: (m) => logs.push(m) });
    assert.ok(logs.includes(`No checkpoint at ${path} yet: starting from the beginning`));
    assert.deepEqual(a.centroids, (await kmeans(gpu, x, { ...FIXED, k: 4, niter: 3 })).centroids);
    await assert.rejects(() => kmeans(gpu, x, { ...o, k: 5, resume: true }), {
      name: "RangeError",
      message: `Cannot resume from ${path}: it was written with k = 4 but this run has k = 5`,
    });
    await assert.rejects(() => kmeans(gpu, x, { ...FIXED, k: 4, resume: true }), RangeError);
    // Inside an all-or-nothing output batch, checkpoints still land on disk as announced.
    const path2 = `${dir}/km2.ckpt`;
    const onDisk: boolean[] = [];
    await atomicWrites(async () => {
      await kmeans(gpu, x, {
        ...o,
        checkpoint: { path: path2, every: 1 },
        onLog: (m) => {
          if (m.startsWith("Checkpoint")) onDisk.push(Deno.statSync(path2).isFile);
        },
      });
    });
    assert.ok(onDisk.length >= 3 && onDisk.every(Boolean), String(onDisk));
    // One flipped byte, in a centroid or in the header, and the checkpoint is refused as corrupt.
    const good = await Deno.readFile(path);
    for (const at of [good.length - 3, 100]) {
      const flipped = good.slice();
      flipped[at]! ^= 0x04;
      await Deno.writeFile(path, flipped);
      await assert.rejects(() => kmeans(gpu, x, { ...o, resume: true }), {
        name: "RangeError",
        message:
          `Cannot resume from ${path}: the checkpoint is corrupt (its sha256 does not match its contents); remove it to start over`,
      });
    }
    await Deno.writeTextFile(path, "not a checkpoint");
    await assert.rejects(() => kmeans(gpu, x, { ...o, resume: true }), /magic string/);
  });
});
