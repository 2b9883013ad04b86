import assert from "node:assert/strict";
import { readNpy, readNpyArray, writeNpy } from "../src/data/npy.ts";
import { randomMatrix } from "./_gpu.ts";
import { errLines, runDeno } from "./_cli.ts";
import { withDir } from "./_tmp.ts";

const CLI = new URL("../src/cli/cluster.ts", import.meta.url).pathname;

const run = (args: string[]) => runDeno([CLI, ...args]);

Deno.test("cluster CLI writes centroids, assignments and a JSON summary", async () => {
  await withDir(async (dir) => {
    const x = randomMatrix(150, 12, 4);
    await writeNpy(`${dir}/emb_0.npy`, x.data.subarray(0, 100 * 12), [100, 12]);
    await writeNpy(`${dir}/emb_1.npy`, x.data.subarray(100 * 12), [50, 12]);
    // Outputs go beside the input directory, not into it (they would be read as shards).
    const out = `${dir}/out`;
    await Deno.mkdir(out);
    const r = await run([
      "--input",
      dir,
      "--k",
      "7",
      "--niter",
      "5",
      "--out",
      `${out}/c.npy`,
      "--assignments",
      `${out}/a.npy`,
      "--json",
    ]);
    assert.equal(r.code, 0, r.stderr);
    const summary = JSON.parse(r.stdout);
    assert.equal(summary.rows, 150);
    assert.equal(summary.k, 7);
    assert.equal(summary.metric, "cosine");
    assert.equal(summary.iterations, 5);
    assert.ok(summary.objective > 0 && summary.objective <= 150);
    assert.ok(["registers", "tiled"].includes(summary.kernel.variant), JSON.stringify(summary));
    assert.ok(
      ["tuned", "cache", "default"].includes(summary.kernel.source),
      JSON.stringify(summary),
    );
    assert.match(r.stderr, /iter +4 +objective [\d.]+ +time .* empty clusters split 0/);
    const c = await readNpy(`${out}/c.npy`);
    assert.deepEqual([c.rows, c.cols], [7, 12]);
    const a = await readNpyArray(`${out}/a.npy`);
    assert.deepEqual(a.shape, [150]);
    assert.ok(a.data instanceof Uint32Array && a.data.every((v) => v < 7));
    const names = [...Deno.readDirSync(out)].map((e) => e.name).sort();
    assert.deepEqual(names, ["a.npy", "c.npy"], "no temp files left");
  });
});

Deno.test("cluster CLI exits 2 with one line for bad input and writes nothing", async () => {
  await withDir(async (dir) => {
    const x = randomMatrix(20, 3, 5);
    await writeNpy(`${dir}/x.npy`, x.data, [20, 3]);
    const bad = randomMatrix(20, 3, 5);
    bad.data[7] = NaN;
    await writeNpy(`${dir}/nan.npy`, bad.data, [20, 3]);
    const out = ["--out", `${dir}/c.npy`, "--assignments", `${dir}/a.npy`];
    const cases: [string[], RegExp][] = [
      [
        ["--input", `${dir}/x.npy`, "--k", "21"],
        /Expected k to be an integer in \[1, 20\] but found 21/,
      ],
      [["--input", `${dir}/x.npy`, "--k", "0"], /Expected --k to be an integer ≥ 1 but found 0/],
      [
        ["--input", `${dir}/x.npy`, "--k", "two"],
        /Expected --k to be an integer ≥ 1 but found two/,
      ],
      [["--input", `${dir}/missing.npy`, "--k", "2"], /missing\.npy/],
      [
        ["--input", `${dir}/nan.npy`, "--k", "2"],
        new RegExp(`Expected finite values in ${dir}/nan\\.npy but found NaN at row 2, column 1`),
      ],
      [
        ["--input", `${dir}/x.npy`, "--k", "2", "--resume"],
        /Expected --checkpoint PATH with --resume/,
      ],
      [
        ["--input", `${dir}/x.npy`, "--k", "2", "--checkpoint-every", "0"],
        /Expected --checkpoint-every to be an integer ≥ 1 but found 0/,
      ],
      [["--input", `${dir}/x.npy`, "--k", "2", "--weights", `${dir}/nope.npy`], /nope\.npy/],
      [
        ["--input", `${dir}/x.npy`, "--k", "2", "--weights", `${dir}/nan.npy`],
        /Expected .*nan\.npy to hold a 1-D array of weights but found shape \[20,3\]/,
      ],
      [
        ["--input", `${dir}/x.npy`, "--k", "2", "--checkpoint", `${dir}/no/such/km.ckpt`],
        /Cannot write --checkpoint .*no\/such\/km\.ckpt: the directory .* does not exist/,
      ],
      [["--input", `${dir}/x.npy`], /Missing --k/],
      [["--k", "2"], /Missing --input/],
      [["--input", `${dir}/x.npy`, "--k", "2", "--bogus"], /bogus/],
      [
        ["--input", `${dir}/x.npy`, "--k", "2", "--no-spherical"],
        /Expected --metric cosine\|l2 but found --no-spherical \(removed; use --metric l2\)/,
      ],
      [
        ["--input", `${dir}/x.npy`, "--k", "2", "--metric", "euclid"],
        /Expected --metric to be cosine or l2 but found euclid/,
      ],
    ];
    for (const [args, message] of cases) {
      const r = await run([...args, ...out]);
      assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
      const lines = errLines(r.stderr);
      assert.equal(lines.length, 1, `${args.join(" ")}: ${r.stderr}`);
      assert.match(lines[0]!, /^mlcd cluster: /);
      assert.match(lines[0]!, message);
      assert.equal(r.stdout, "");
    }
    const names = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
    assert.deepEqual(names, ["nan.npy", "x.npy"], "no output or temp files");
  });
});

Deno.test("cluster CLI --help prints usage and exits 0", async () => {
  const r = await run(["--help"]);
  assert.equal(r.code, 0);
  assert.match(r.stdout, /Usage: mlcd cluster --input <file\|dir>\.\.\. --k N/);
  assert.match(r.stdout, /--metric M +cosine \(spherical k-means, default\) \| l2/);
});
