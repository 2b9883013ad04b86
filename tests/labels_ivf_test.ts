// Labels through the IVF index (assignLabels' assign: "ivf" | "auto", deno task assign
// --assign/--nprobe) and the honest recall check (--check-recall).
import assert from "node:assert/strict";
import { readNpyArray, writeNpy } from "../src/data/npy.ts";
import { uploadMatrix } from "../src/gpu/gpu_matrix.ts";
import { assignLabels } from "../src/labels/assign_labels.ts";
import { measureLabelRecall } from "../src/labels/label_recall.ts";
import { LABELS_IVF_UNTIMED_MIN_K, openLabelSearch } from "../src/labels/label_search.ts";
import { IVF_AUTO_MARGIN } from "../src/ivf/ivf_auto.ts";
import { openRowSource } from "../src/data/row_source.ts";
import { topk } from "../src/topk/topk.ts";
import type { Matrix } from "../src/matrix/matrix.ts";
import { randomMatrix, rng, testGpu } from "./_gpu.ts";
import { errLines, runDeno } from "./_cli.ts";
import { withDir } from "./_tmp.ts";

const CLI = new URL("../src/cli/assign.ts", import.meta.url).pathname;

/** `n` rows around `groups` random directions. */
function clustered(n: number, d: number, groups: number, seed: number): Matrix {
  const g = randomMatrix(groups, d, seed), z = randomMatrix(n, d, seed + 1);
  const r = rng(seed + 2), data = new Float32Array(n * d);
  for (let i = 0; i < n; i++) {
    const c = Math.floor(r() * groups);
    for (let j = 0; j < d; j++) data[i * d + j] = g.data[c * d + j]! + 0.5 * z.data[i * d + j]!;
  }
  return { data, rows: n, cols: d };
}

function rowsOf(m: Matrix, idx: ArrayLike<number>): Matrix {
  const d = m.cols, data = new Float32Array(idx.length * d);
  for (let i = 0; i < idx.length; i++) {
    data.set(m.data.subarray(idx[i]! * d, (idx[i]! + 1) * d), i * d);
  }
  return { data, rows: idx.length, cols: d };
}

Deno.test("assignLabels() through the IVF index equals exact top-l with every cell probed", async () => {
  const gpu = await testGpu();
  const x = clustered(700, 20, 30, 3),
    centers = rowsOf(x, Array.from({ length: 150 }, (_, i) => i * 4));
  for (const metric of ["cosine", "ip"] as const) {
    const want = await topk(gpu, x, centers, { k: 6, metric });
    const r = await assignLabels(gpu, x, centers, {
      l: 6,
      metric,
      assign: "ivf",
      nprobe: 1000,
      batchRows: 256,
      checkRecall: 300,
    });
    assert.deepEqual(r.search, { method: "ivf", cells: 12, nprobe: 12, source: "requested" });
    assert.deepEqual(r.indices, want.indices, metric);
    // The same scores up to f32 summation order (IVF scores each probed cell's block apart).
    assert.ok(r.scores.every((v, i) => Math.abs(v - want.scores[i]!) < 1e-5), metric);
    assert.equal(r.recall?.rows, 300);
    assert.equal(r.recall?.recall, 1);
    assert.equal(r.recall?.inconsistent, 0);
    // Rows on the GPU take the same path.
    const g = uploadMatrix(gpu, x);
    try {
      const rg = await assignLabels(gpu, g, centers, { l: 6, metric, assign: "ivf", nprobe: 12 });
      assert.deepEqual(rg.indices, want.indices);
    } finally {
      g.destroy();
    }
  }
  const exact = await assignLabels(gpu, x, centers, { l: 6, assign: "exact" });
  assert.deepEqual(exact.search, { method: "exact", cells: 0, nprobe: 0, source: "requested" });
  assert.equal(exact.recall, null);
});

Deno.test("the recall check is honest: few probes lose recall, a broken index fails it", async () => {
  await withDir(async (dir) => {
    const gpu = await testGpu();
    // Rows without cluster structure: one probed cell of 14 misses many of the true top-8.
    const x = randomMatrix(1200, 16, 7), centers = randomMatrix(200, 16, 8);
    await writeNpy(`${dir}/emb_0.npy`, x.data.subarray(0, 500 * 16), [500, 16]);
    await writeNpy(`${dir}/emb_1.npy`, x.data.subarray(500 * 16), [700, 16]);
    const few = await assignLabels(gpu, [dir], centers, {
      l: 8,
      assign: "ivf",
      nprobe: 1,
      checkRecall: 400,
    });
    const r = few.recall!;
    assert.equal(r.rows, 400);
    assert.ok(r.recall > 0.05 && r.recall < 0.8, `recall@8 ${r.recall}`);
    assert.equal(r.inconsistent, 0, "the scores reported are the true scores");
    // The same check from the rows in memory and from the files agrees.
    const source = await openRowSource([dir]);
    const again = await measureLabelRecall(gpu, source, centers, few, { l: 8, sample: 400 });
    assert.deepEqual(again, r);
    // An index over shuffled centers names the wrong centers: the check must fail it.
    const perm = Array.from({ length: 200 }, (_, i) => (i * 37 + 11) % 200);
    const broken = await assignLabels(gpu, x, rowsOf(centers, perm), {
      l: 8,
      assign: "ivf",
      nprobe: 1000,
    });
    const b = await measureLabelRecall(gpu, x, centers, broken, { l: 8, sample: 400 });
    assert.ok(b.recall < 0.2, `recall@8 of a broken index ${b.recall}`);
    assert.ok(b.inconsistent > 0.9 * b.rows, `inconsistent ${b.inconsistent}`);
  });
});

Deno.test("assign CLI: --assign ivf, --nprobe and --check-recall in stderr, --json and the manifest", async () => {
  await withDir(async (dir) => {
    const x = clustered(600, 12, 20, 11), centers = randomMatrix(120, 12, 12);
    await writeNpy(`${dir}/x.npy`, x.data, [600, 12]);
    await writeNpy(`${dir}/c.npy`, centers.data, [120, 12]);
    const base = ["--input", `${dir}/x.npy`, "--centers", `${dir}/c.npy`, "--l", "4", "--json"];
    const r = await runDeno([
      CLI,
      ...base,
      "--assign",
      "ivf",
      "--nprobe",
      "2",
      "--check-recall",
      "250",
      "--out",
      `${dir}/l.npy`,
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /assign: IVF labels: 11 cells over the 120 centers, 2 probed per row/);
    assert.match(r.stderr, /assign: recall@4 0\.\d{4} against exact search on 250 sampled rows/);
    const s = JSON.parse(r.stdout);
    assert.deepEqual(s.search, { method: "ivf", cells: 11, nprobe: 2, source: "requested" });
    assert.equal(s.recall.rows, 250);
    assert.ok(s.recall.recall > 0 && s.recall.recall < 1, `${s.recall.recall}`);
    assert.deepEqual((await readNpyArray(`${dir}/l.npy`)).shape, [600, 4]);
    // --shard records them in the manifest.
    const j = await runDeno([
      CLI,
      ...base,
      "--assign",
      "ivf",
      "--nprobe",
      "11",
      "--check-recall",
      "100",
      "--shard",
      "1/2",
      "--out",
      `${dir}/parts`,
    ]);
    assert.equal(j.code, 0, j.stderr);
    const m = JSON.parse(await Deno.readTextFile(`${dir}/parts/part-1-of-2.parquet.json`));
    const text = JSON.stringify(m);
    assert.match(text, /"assign":"ivf","nprobe":11/);
    assert.match(text, /"search":\{"method":"ivf","cells":11,"nprobe":11,"source":"requested"\}/);
    assert.match(text, /"recall":\{"rows":100,"recall":1,/);
    assert.equal(JSON.parse(j.stdout).recall.recall, 1);
  });
});

Deno.test("assign CLI refuses bad --assign, --nprobe and --check-recall in one line", async () => {
  await withDir(async (dir) => {
    await writeNpy(`${dir}/x.npy`, randomMatrix(10, 4, 1).data, [10, 4]);
    const base = ["--input", `${dir}/x.npy`, "--centers", `${dir}/x.npy`, "--l", "2"];
    const cases: [string[], string][] = [
      [["--assign", "hnsw"], "Expected --assign to be exact, ivf or auto but found hnsw"],
      [["--nprobe", "0"], "Expected --nprobe to be an integer ≥ 1 but found 0"],
      [["--nprobe", "1.5"], "Expected --nprobe to be an integer ≥ 1 but found 1.5"],
      [
        ["--assign", "exact", "--nprobe", "4"],
        "Expected --nprobe only with --assign ivf or auto but found --assign exact",
      ],
      [["--ann", "--assign", "ivf"], "Expected no --assign with --ann (hnswlib)"],
      [["--check-recall", "-1"], "Expected --check-recall to be an integer ≥ 0 but found -1"],
    ];
    for (const [flags, message] of cases) {
      const r = await runDeno([CLI, ...base, ...flags]);
      assert.equal(r.code, 2, `${flags.join(" ")}: ${r.stderr}`);
      assert.deepEqual(errLines(r.stderr), [`mlcd assign: ${message}`]);
    }
  });
});

Deno.test("labels: auto picks exact for few centers and IVF where it is faster, timed once", async () => {
  const gpu = await testGpu();
  const few = await openLabelSearch(gpu, randomMatrix(200, 16, 1), { l: 8 });
  assert.deepEqual(few.choice, { method: "exact", cells: 0, nprobe: 0, source: "default" });
  few.destroy();
  const many = randomMatrix(LABELS_IVF_UNTIMED_MIN_K, 16, 2);
  const untimed = await openLabelSearch(gpu, many, { l: 8, autotune: false });
  assert.equal(untimed.choice.method, "ivf");
  assert.equal(untimed.choice.source, "default");
  untimed.destroy();
  await withDir(async (dir) => {
    const old = Deno.env.get("MLCD_CACHE_DIR");
    Deno.env.set("MLCD_CACHE_DIR", dir);
    try {
      const logs: string[] = [];
      const c = randomMatrix(16384, 16, 3);
      const s = await openLabelSearch(gpu, c, { l: 8, onLog: (m) => logs.push(m) });
      const line = logs.join("\n");
      const ms = (what: string) => Number(new RegExp(`${what} ([\\d.]+) ms`).exec(line)?.[1]);
      assert.ok(ms("exact") > 0 && ms("ivf") > 0, line);
      const want = ms("ivf") * IVF_AUTO_MARGIN < ms("exact") ? "ivf" : "exact";
      assert.deepEqual([s.choice.method, s.choice.source], [want, "tuned"], line);
      s.destroy();
      const again = await openLabelSearch(gpu, c, { l: 8 });
      assert.deepEqual([again.choice.method, again.choice.source], [want, "cache"]);
      again.destroy();
    } finally {
      if (old === undefined) Deno.env.delete("MLCD_CACHE_DIR");
      else Deno.env.set("MLCD_CACHE_DIR", old);
    }
  });
});
