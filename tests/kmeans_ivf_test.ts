// k-means with the IVF assignment (assign: "ivf" | "auto"): exact when every cell is probed,
// an honest objective when it is not, files, weights, samples and checkpoints, and the auto rule.
import assert from "node:assert/strict";
import { kmeans, type KMeansResult } from "../src/kmeans/mod.ts";
import { AUTO_IVF_UNTIMED_MIN_K, chooseKmeansAssignment } from "../src/kmeans/assignment_choice.ts";
import { IVF_AUTO_MARGIN, ivfPlan } from "../src/ivf/ivf_auto.ts";
import type { Matrix } from "../src/matrix/matrix.ts";
import { randomMatrix, rng, testGpu } from "./_gpu.ts";
import { writeShards } from "./_shards.ts";
import { withDir } from "./_tmp.ts";

/** `n` rows around `groups` random directions, so that cells over the centroids mean something. */
function clustered(n: number, d: number, groups: number, seed: number): Matrix {
  const g = randomMatrix(groups, d, seed), z = randomMatrix(n, d, seed + 1);
  const r = rng(seed + 2), data = new Float32Array(n * d);
  for (let i = 0; i < n; i++) {
    const c = Math.floor(r() * groups);
    for (let j = 0; j < d; j++) data[i * d + j] = g.data[c * d + j]! + 0.6 * z.data[i * d + j]!;
  }
  return { data, rows: n, cols: d };
}

/** float64 objective of an assignment: Σ w·cos (cosine) or Σ w·‖x − c‖² (l2). */
function objective64(
  x: Matrix,
  c: Matrix,
  a: Uint32Array,
  metric: "cosine" | "l2",
  w?: Float32Array,
): number {
  const d = x.cols;
  let sum = 0;
  for (let i = 0; i < x.rows; i++) {
    let dot = 0, xx = 0, cc = 0, l2 = 0;
    for (let t = 0; t < d; t++) {
      const u = x.data[i * d + t]!, v = c.data[a[i]! * d + t]!;
      dot += u * v, xx += u * u, cc += v * v, l2 += (u - v) ** 2;
    }
    sum += (w ? w[i]! : 1) * (metric === "cosine" ? dot / Math.sqrt(xx * cc) : l2);
  }
  return sum;
}

function sameRun(a: KMeansResult, b: KMeansResult, what: string): void {
  assert.deepEqual(b.centroids.data, a.centroids.data, `${what}: centroids`);
  assert.deepEqual(b.assignments, a.assignments, `${what}: assignments`);
  assert.deepEqual(b.counts, a.counts, `${what}: counts`);
  assert.equal(b.objective, a.objective, `${what}: objective`);
  assert.deepEqual(b.stats.map((s) => s.objective), a.stats.map((s) => s.objective), what);
}

for (
  const [metric, f16, weighted] of [["cosine", false, false], ["l2", true, true]] as const
) {
  Deno.test(`kmeans() with IVF probing every cell equals exact bit for bit (${metric}, ${f16 ? "f16" : "f32"}${weighted ? ", weighted" : ""})`, async () => {
    const gpu = await testGpu();
    const x = clustered(2501, 19, 30, 4);
    const w = weighted ? new Float32Array(x.rows).map((_, i) => 1 + (i % 3)) : undefined;
    const base = {
      k: 83,
      niter: 6,
      metric,
      f16,
      autotune: false,
      // A sample trains (k × 20 < n) and the final pass assigns every row.
      maxPointsPerCentroid: 20,
      ...(w ? { weights: w } : {}),
    } as const;
    const exact = await kmeans(gpu, x, { ...base, assign: "exact" });
    const ivf = await kmeans(gpu, x, { ...base, assign: "ivf", nprobe: 1000 });
    assert.deepEqual(exact.assignment, {
      method: "exact",
      cells: 0,
      nprobe: 0,
      source: "requested",
    });
    assert.deepEqual(ivf.assignment, { method: "ivf", cells: 9, nprobe: 9, source: "requested" });
    sameRun(exact, ivf, "nprobe = cells");
    assert.equal(exact.assignmentCheck, null);
    assert.deepEqual(ivf.assignmentCheck, { rows: 1000, recall: 1, objectiveLoss: 0 });
    // With few probes the run differs: the comparison above can fail.
    const few = await kmeans(gpu, x, { ...base, assign: "ivf", nprobe: 1 });
    assert.notDeepEqual(few.assignments, exact.assignments);
    // The check after the run sees the misses: recall below 1, some objective lost.
    const check = few.assignmentCheck!;
    assert.ok(check.recall < 1 && check.objectiveLoss > 0, JSON.stringify(check));
  });
}

Deno.test("kmeans() with IVF over files, streamed in batches, equals exact with every cell probed", async () => {
  await withDir(async (dir) => {
    const gpu = await testGpu();
    const x = clustered(3000, 12, 25, 9);
    const { paths } = await writeShards(dir, x, [1200, 800, 1000], {
      formats: ["npy", "arrow", "npy-f16"],
    });
    const base = { k: 70, niter: 4, autotune: false, maxPointsPerCentroid: 30, batchRows: 700 };
    const exact = await kmeans(gpu, paths, { ...base, assign: "exact" });
    const ivf = await kmeans(gpu, paths, { ...base, assign: "ivf", nprobe: 8 });
    assert.equal(ivf.assignment.cells, 8);
    sameRun(exact, ivf, "files");
  });
});

Deno.test("kmeans() with IVF reports the true objective of the assignment it made", async () => {
  const gpu = await testGpu();
  for (const metric of ["cosine", "l2"] as const) {
    const x = clustered(3000, 16, 40, 21);
    const init = randomMatrix(150, 16, 5);
    const base = { k: 150, init, metric, autotune: false, maxPointsPerCentroid: 100 } as const;
    // No iteration: the final pass assigns every row to `init` through the index (nprobe 1 of
    // 12 cells: many rows miss their nearest center), and reports its objective.
    const zero = await kmeans(gpu, x, { ...base, niter: 0, assign: "ivf", nprobe: 1 });
    const exact = await kmeans(gpu, x, { ...base, niter: 0, assign: "exact" });
    const missed = zero.assignments.filter((a, i) => a !== exact.assignments[i]).length;
    assert.ok(missed > 100, `${metric}: only ${missed} rows off their nearest center`);
    const honest = objective64(x, init, zero.assignments, metric);
    const rel = (a: number, b: number) => Math.abs(a - b) / Math.abs(b);
    assert.ok(rel(zero.objective, honest) < 1e-5, `${metric}: ${zero.objective} vs ${honest}`);
    assert.ok(rel(exact.objective, honest) > 1e-3, `${metric}: the check could not tell`);
    // One iteration from `init`: its printed objective is that same assignment's (the index
    // is built from the same centroids with the same seed).
    const one = await kmeans(gpu, x, { ...base, niter: 1, assign: "ivf", nprobe: 1 });
    assert.ok(rel(one.stats[0]!.objective, honest) < 1e-5, `${metric}: iteration 0`);
    // And the final pass after it, against the updated centroids.
    const fin = objective64(x, one.centroids, one.assignments, metric);
    assert.ok(rel(one.objective, fin) < 1e-5, `${metric}: final ${one.objective} vs ${fin}`);
  }
});

Deno.test("kmeans() with IVF resumed from a checkpoint ends as the uninterrupted run", async () => {
  await withDir(async (dir) => {
    const gpu = await testGpu();
    // Rows without cluster structure: one probed cell of 9 misses often, so the rows' previous
    // centroids (restored from the checkpoint) decide many assignments.
    const x = randomMatrix(2000, 10, 33);
    const base = {
      k: 90,
      niter: 7,
      assign: "ivf",
      nprobe: 1,
      autotune: false,
      nredo: 2,
    } as const;
    const whole = await kmeans(gpu, x, base);
    // Interrupted after 4 iterations of the first run (its checkpoint holds 2), then resumed.
    const path = `${dir}/km.ckpt`;
    let calls = 0;
    await assert.rejects(
      () =>
        kmeans(gpu, x, {
          ...base,
          checkpoint: { path, every: 2 },
          onIteration: () => {
            if (++calls === 4) throw new Error("killed");
          },
        }),
      /killed/,
    );
    const resumed = await kmeans(gpu, x, { ...base, checkpoint: { path, every: 2 }, resume: true });
    sameRun(whole, resumed, "resumed");
    assert.deepEqual(resumed.assignment, whole.assignment);
    await assert.rejects(
      () => kmeans(gpu, x, { ...base, nprobe: 3, checkpoint: { path }, resume: true }),
      /it was written with nprobe = 1 but this run has nprobe = 3/,
    );
    await assert.rejects(
      () => kmeans(gpu, x, { ...base, assign: "auto", checkpoint: { path }, resume: true }),
      /it was written with assign = "ivf" but this run has assign = "auto"/,
    );
  });
});

Deno.test("kmeans() refuses a bad assign or nprobe", async () => {
  const gpu = await testGpu();
  const x = randomMatrix(50, 4, 1);
  await assert.rejects(() => kmeans(gpu, x, { k: 5, assign: "hnsw" as "ivf" }), {
    name: "RangeError",
    message: 'Expected assign to be "exact", "ivf" or "auto" but found "hnsw"',
  });
  await assert.rejects(() => kmeans(gpu, x, { k: 5, nprobe: 0 }), {
    name: "RangeError",
    message: "Expected nprobe to be an integer ≥ 1 but found 0",
  });
  await assert.rejects(() => kmeans(gpu, x, { k: 5, assign: "exact", nprobe: 4 }), {
    name: "RangeError",
    message:
      'Expected nprobe only with assign "ivf" or "auto" but found assign "exact" and nprobe 4',
  });
});

/** Runs `fn` with MLCD_CACHE_DIR pointing at a fresh temp directory, then restores it. */
async function withCacheDir(fn: () => Promise<void>): Promise<void> {
  await withDir(async (dir) => {
    const old = Deno.env.get("MLCD_CACHE_DIR");
    Deno.env.set("MLCD_CACHE_DIR", dir);
    try {
      await fn();
    } finally {
      if (old === undefined) Deno.env.delete("MLCD_CACHE_DIR");
      else Deno.env.set("MLCD_CACHE_DIR", old);
    }
  });
}

Deno.test("assign: auto picks exact for small K and the faster of the two timings, cached", async () => {
  const gpu = await testGpu();
  const kernel = { variant: "registers", rows: 0, source: "default", ms: null } as const;
  const o = {
    assign: "auto",
    nprobe: undefined,
    d: 16,
    f16: false,
    spherical: true,
    kernel,
  } as const;
  await withCacheDir(async () => {
    // IVF cannot win when it probes half the cells or more: exact, untimed.
    for (const k of [1, 50, 200]) {
      const c = await chooseKmeansAssignment(gpu, { ...o, k, autotune: true });
      assert.deepEqual(c, { method: "exact", cells: 0, nprobe: 0, source: "default" }, `k=${k}`);
    }
    const many = await chooseKmeansAssignment(gpu, { ...o, k: 5000, nprobe: 36, autotune: true });
    assert.equal(many.method, "exact");
    // Untimed: IVF from AUTO_IVF_UNTIMED_MIN_K.
    const k0 = AUTO_IVF_UNTIMED_MIN_K;
    const below = await chooseKmeansAssignment(gpu, { ...o, k: k0 - 1, autotune: false });
    const from = await chooseKmeansAssignment(gpu, { ...o, k: k0, autotune: false });
    assert.equal(below.method, "exact");
    assert.deepEqual(from, { method: "ivf", ...ivfPlan({ k: k0 }), source: "default" });
    // Timed: the decision is the faster of the two timings it logs; at K = 16384, d = 16 IVF
    // scores ≈ 1/14 of the centroids per row. A K of the same power of two reads the cache.
    const logs: string[] = [];
    const k = 16384;
    const tuned = await chooseKmeansAssignment(gpu, {
      ...o,
      k,
      autotune: true,
      onLog: (m) => logs.push(m),
    });
    const line = logs.join("\n");
    const ms = (what: string) => Number(new RegExp(`${what} ([\\d.]+) ms`).exec(line)?.[1]);
    const chosen = / → (\w+) /.exec(line)?.[1];
    assert.ok(ms("exact") > 0 && ms("ivf") > 0, line);
    assert.equal(chosen, ms("ivf") * IVF_AUTO_MARGIN < ms("exact") ? "ivf" : "exact", line);
    // Which one wins depends on the machine's load (CI measured both); the result must follow
    // the timings, carry the plan it timed, and come back from the cache unchanged.
    const plan = (kk: number) =>
      chosen === "ivf"
        ? { method: "ivf", ...ivfPlan({ k: kk }) }
        : { method: "exact", cells: 0, nprobe: 0 };
    assert.deepEqual(tuned, { ...plan(k), source: "tuned" }, line);
    const again = await chooseKmeansAssignment(gpu, { ...o, k: 16000, autotune: true });
    assert.deepEqual(again, { ...plan(16000), source: "cache" });
  });
});
