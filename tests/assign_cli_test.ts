import assert from "node:assert/strict";
import { readNpy, readNpyArray, writeNpy } from "../src/data/npy.ts";
import { readArrowLabels } from "../src/data/arrow.ts";
import { readParquetLabels } from "../src/data/parquet.ts";
import { assignLabels } from "../src/labels/assign_labels.ts";
import { topk } from "../src/topk/topk.ts";
import { randomMatrix, testGpu } from "./_gpu.ts";
import { errLines, runDeno } from "./_cli.ts";
import { withDir } from "./_tmp.ts";

const CLI = new URL("../src/cli/assign.ts", import.meta.url).pathname;
const VARIANT = "registers"; // pipelines shared with tests/topk_test.ts shapes stay few

const run = (args: string[]) => runDeno([CLI, ...args]);

Deno.test("assignLabels() streams shards in batches and matches topk() on the whole matrix", async () => {
  const gpu = await testGpu();
  await withDir(async (dir) => {
    const x = randomMatrix(230, 12, 31), centers = randomMatrix(40, 12, 32);
    await writeNpy(`${dir}/emb_0.npy`, x.data.subarray(0, 100 * 12), [100, 12]);
    await writeNpy(`${dir}/emb_1.npy`, x.data.subarray(100 * 12), [130, 12]);
    const seen: [number, number][] = [];
    const r = await assignLabels(gpu, [dir], centers, {
      l: 5,
      batchRows: 64,
      variant: VARIANT,
      onProgress: (done, total) => seen.push([done, total]),
    });
    const want = await topk(gpu, x, centers, { k: 5, variant: VARIANT });
    assert.equal(r.rows, 230);
    assert.equal(r.l, 5);
    assert.deepEqual(r.indices, want.indices);
    assert.deepEqual(r.scores, want.scores);
    assert.deepEqual(seen.map((s) => s[0]), [64, 100, 164, 228, 230]);
    assert.ok(seen.every((s) => s[1] === 230));
    const m = await assignLabels(gpu, x, centers, { l: 5, batchRows: 100, variant: VARIANT });
    assert.deepEqual(m.indices, want.indices);
  });
});

Deno.test("assignLabels() names the row of a NaN and the limit of l", async () => {
  const gpu = await testGpu();
  const x = randomMatrix(50, 12, 33), centers = randomMatrix(6, 12, 34);
  x.data[37 * 12 + 2] = NaN;
  await assert.rejects(() => assignLabels(gpu, x, centers, { l: 3, batchRows: 16 }), {
    name: "RangeError",
    message: "Expected finite values in embeddings but found NaN at row 37, column 2",
  });
  await assert.rejects(() => assignLabels(gpu, x, centers, { l: 7 }), {
    name: "RangeError",
    message: "Expected l to be at most the number of centers (6) but found 7",
  });
});

Deno.test("issue 13 item 17: assignLabels() reports progress within a batch, per range of centers", async () => {
  const gpu = await testGpu();
  // d = 64: a 64 KiB key block holds 256 centers, so 600 centers are 3 ranges of one batch.
  const x = randomMatrix(40, 64, 41), centers = randomMatrix(600, 64, 42);
  const seen: [number, number][] = [];
  const r = await assignLabels(gpu, x, centers, {
    l: 4,
    variant: "registers",
    assign: "exact", // "auto" may take the IVF index for 600 centers (no progress within a batch)
    onProgress: (done, total) => seen.push([done, total]),
  });
  assert.equal(r.rows, 40);
  assert.ok(seen.length >= 3, JSON.stringify(seen));
  assert.ok(seen.slice(0, -1).every(([d, t]) => d > 0 && d < 40 && t === 40), JSON.stringify(seen));
  assert.ok(seen.every((s, i) => i === 0 || s[0] >= seen[i - 1]![0]), "monotone");
  assert.deepEqual(seen.at(-1), [40, 40]);
  const want = await topk(gpu, x, centers, { k: 4, variant: "registers" });
  assert.deepEqual(r.indices, want.indices);
});

Deno.test("assign CLI writes .npy, Arrow and Parquet labels with a JSON summary", async () => {
  await withDir(async (dir) => {
    const x = randomMatrix(90, 12, 35), centers = randomMatrix(20, 12, 36);
    await writeNpy(`${dir}/emb_0.npy`, x.data, [90, 12]);
    await writeNpy(`${dir}/centers.npy`, centers.data, [20, 12]);
    const want = await topk(await testGpu(), x, centers, { k: 8, variant: VARIANT });
    const r = await run([
      "--input",
      `${dir}/emb_0.npy`,
      "--centers",
      `${dir}/centers.npy`,
      "--l",
      "8",
      "--variant",
      VARIANT,
      "--batch-rows",
      "40",
      "--out",
      `${dir}/labels.npy`,
      "--json",
    ]);
    assert.equal(r.code, 0, r.stderr);
    const summary = JSON.parse(r.stdout);
    assert.equal(summary.rows, 90);
    assert.equal(summary.scores, `${dir}/labels.scores.npy`);
    assert.match(r.stderr, /rows\/s/);
    assert.match(r.stderr, /ETA/);
    const labels = await readNpyArray(`${dir}/labels.npy`);
    assert.deepEqual(labels.shape, [90, 8]);
    assert.deepEqual(labels.data, want.indices);
    const scores = await readNpy(`${dir}/labels.scores.npy`);
    assert.deepEqual(scores.data, want.scores);

    const a = await run([
      "--input",
      dir + "/emb_0.npy",
      "--centers",
      `${dir}/centers.npy`,
      "--l",
      "3",
      "--variant",
      VARIANT,
      "--out",
      `${dir}/labels.arrow`,
    ]);
    assert.equal(a.code, 0, a.stderr);
    const t = await readArrowLabels(`${dir}/labels.arrow`);
    assert.equal(t.l, 3);
    for (let i = 0; i < 90; i++) {
      assert.deepEqual([...t.indices.subarray(i * 3, i * 3 + 3)], [
        ...want.indices.subarray(i * 8, i * 8 + 3),
      ]);
    }
    // --format names the format the extension gives (Parquet: id, the row index, without keys).
    const p = await run([
      "--input",
      dir + "/emb_0.npy",
      "--centers",
      `${dir}/centers.npy`,
      "--l",
      "3",
      "--variant",
      VARIANT,
      "--format",
      "parquet",
      "--out",
      `${dir}/labels.parquet`,
    ]);
    assert.equal(p.code, 0, p.stderr);
    const q = await readParquetLabels(`${dir}/labels.parquet`);
    assert.deepEqual([q.rows, q.l], [90, 3]);
    assert.deepEqual(q.indices, t.indices);
    assert.deepEqual(q.scores, t.scores);
    assert.deepEqual(q.ids, BigInt64Array.from({ length: 90 }, (_, i) => BigInt(i)));
    const names = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
    assert.deepEqual(names, [
      "centers.npy",
      "emb_0.npy",
      "labels.arrow",
      "labels.npy",
      "labels.parquet",
      "labels.scores.npy",
    ]);
  });
});

Deno.test("assign CLI exits 2 with one line for bad input and writes nothing", async () => {
  await withDir(async (dir) => {
    const x = randomMatrix(30, 12, 37);
    await writeNpy(`${dir}/emb.npy`, x.data, [30, 12]);
    await writeNpy(`${dir}/c12.npy`, randomMatrix(5, 12, 38).data, [5, 12]);
    await writeNpy(`${dir}/c10.npy`, randomMatrix(5, 10, 39).data, [5, 10]);
    const bad = x.data.slice();
    bad[17 * 12] = NaN;
    await writeNpy(`${dir}/nan.npy`, bad, [30, 12]);
    const base = ["--variant", VARIANT, "--out", `${dir}/out.npy`];
    const cases: [string[], RegExp][] = [
      [
        ["--input", `${dir}/emb.npy`, "--centers", `${dir}/c10.npy`, "--l", "3"],
        /12 columns|10 columns/,
      ],
      [
        ["--input", `${dir}/emb.npy`, "--centers", `${dir}/c12.npy`, "--l", "6"],
        /at most .*5.* but found 6/,
      ],
      [["--input", `${dir}/nan.npy`, "--centers", `${dir}/c12.npy`, "--l", "3"], /NaN at row 17/],
      [
        ["--input", `${dir}/missing.npy`, "--centers", `${dir}/c12.npy`, "--l", "3"],
        /missing\.npy/,
      ],
      [[
        "--input",
        `${dir}/emb.npy`,
        "--centers",
        `${dir}/c12.npy`,
        "--l",
        "3",
        "--ann",
        "--ef",
        "0",
      ], /--ef/],
      [["--centers", `${dir}/c12.npy`], /Missing --input/],
      [["--input", `${dir}/emb.npy`, "--centers", `${dir}/c12.npy`, "--bogus"], /bogus/],
    ];
    for (const [args, re] of cases) {
      const r = await run([...args, ...base]);
      assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
      const lines = errLines(r.stderr);
      assert.equal(lines.length, 1, lines.join("\n"));
      assert.match(lines[0]!, /^mlcd assign: /);
      assert.match(lines[0]!, re);
    }
    const names = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
    assert.deepEqual(names, ["c10.npy", "c12.npy", "emb.npy", "nan.npy"], "nothing partial left");
  });
});

Deno.test("assign CLI --help prints usage and exits 0", async () => {
  const r = await run(["--help"]);
  assert.equal(r.code, 0);
  assert.match(r.stdout, /Usage: mlcd assign/);
});
