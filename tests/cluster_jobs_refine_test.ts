// The refinement jobs through the CLI: `--refine --shard i/N` parts and `--reduce`, repeated,
// give the centers of `--hierarchical N --refine R` byte for byte; the hierarchical objective is
// over the rows (a float64 recomputation); reruns skip; the reduce refuses missing, duplicated
// and mismatched parts and parts made for other centers; a part killed with SIGKILL mid-pass
// is redone by a rerun to the same bytes.
import assert from "node:assert/strict";
import { readNpy, readNpyArray } from "../src/data/npy.ts";
import { readSumsNpy } from "../src/jobs/mod.ts";
import { errLines } from "./_cli.ts";
import { pauseEnv, waitForPause } from "./_pause.ts";
import { CLUSTER, cluster, KM, NO_ARRAY, objective, pool } from "./_cluster_jobs.ts";
import { clustered } from "./_gpu.ts";
import { writeShards } from "./_shards.ts";
import { withDir } from "./_tmp.ts";

const N = 3, K = 10;

/** Refinement parts of `centers` into `out`, then their reduce into `next`. */
async function pass(dir: string, centers: string, out: string, next: string): Promise<void> {
  const runs = await pool(
    Array.from({ length: N }, (_, i) => () =>
      cluster([
        "--input",
        `${dir}/shards`,
        "--centers",
        centers,
        "--refine",
        "--shard",
        `${i}/${N}`,
        "--out",
        out,
      ])),
    2,
  );
  for (const r of runs) assert.equal(r.code, 0, r.stderr);
  const r = await cluster(["--reduce", out, "--out", next, "--json"]);
  assert.equal(r.code, 0, r.stderr);
}

Deno.test("cluster --refine parts and --reduce, twice, give --hierarchical --refine 2's centers byte for byte", async () => {
  await withDir(async (dir) => {
    const x = clustered(1500, 12, K, 3);
    await writeShards(`${dir}/shards`, x, [600, 377, 523]);
    const hier = (refine: number, out: string) =>
      cluster([
        "--input",
        `${dir}/shards`,
        "--k",
        String(K),
        "--hierarchical",
        String(N),
        "--k1",
        "8",
        ...(refine ? ["--refine", String(refine)] : []),
        "--out",
        out,
        "--json",
        ...KM,
      ]);
    const h0 = await hier(0, `${dir}/c0.npy`);
    assert.equal(h0.code, 0, h0.stderr);
    const s0 = JSON.parse(h0.stdout);
    // Issue 22: the objective is over the rows; the merge's (over part centroids) is apart.
    const direct = objective(x, await readNpy(`${dir}/c0.npy`));
    assert.ok(Math.abs(s0.objective - direct) < 1e-5 * direct, `${s0.objective} vs ${direct}`);
    assert.equal(typeof s0.mergeObjective, "number");
    assert.notEqual(s0.mergeObjective, s0.objective);

    await pass(dir, `${dir}/c0.npy`, `${dir}/sums-1`, `${dir}/c1.npy`);
    const red1 = JSON.parse(
      (await cluster(["--reduce", `${dir}/sums-1`, "--out", `${dir}/c1.npy`, "--json"])).stdout,
    );
    assert.equal(red1.skipped, true, "a rerun of the reduce skips");
    await pass(dir, `${dir}/c1.npy`, `${dir}/sums-2`, `${dir}/c2.npy`);
    const h2 = await hier(2, `${dir}/h2.npy`);
    assert.equal(h2.code, 0, h2.stderr);
    assert.deepEqual(
      await Deno.readFile(`${dir}/c2.npy`),
      await Deno.readFile(`${dir}/h2.npy`),
      "the jobs' centers differ from the one-process run",
    );
    const s2 = JSON.parse(h2.stdout);
    assert.equal(s2.mergeObjective, s0.mergeObjective);
    assert.equal(s2.refineObjectives[0], s0.objective);
    const c2 = await readNpy(`${dir}/c2.npy`);
    assert.ok(Math.abs(s2.objective - objective(x, c2)) < 1e-5 * direct);
    assert.ok(s2.objective > s0.objective, `refined ${s2.objective} ≤ merged ${s0.objective}`);
    // The reduce's objective: over all rows, of the centers the parts were made for.
    const m1 = JSON.parse(await Deno.readTextFile(`${dir}/c2.json`));
    assert.equal(m1.kind, "cluster-refine-reduce");
    assert.equal(m1.info.objective, s2.refineObjectives[1]);
    assert.equal(m1.info.rows, 1500);

    // The parts' files: int64 sums and uint32 counts over the part's rows.
    let rows = 0;
    for (let i = 0; i < N; i++) {
      const sums = await readSumsNpy(`${dir}/sums-1/part-${i}-of-${N}.npy`, [K, 12]);
      assert.ok(sums.some((v) => v !== 0n));
      const counts = await readNpyArray(`${dir}/sums-1/part-${i}-of-${N}.counts.npy`);
      const m = JSON.parse(await Deno.readTextFile(`${dir}/sums-1/part-${i}-of-${N}.json`));
      assert.equal(m.kind, "cluster-refine-part");
      assert.equal(m.info.exponent, 30);
      assert.equal((counts.data as Uint32Array).reduce((a, b) => a + b, 0), m.info.rows);
      rows += m.info.rows;
    }
    assert.equal(rows, 1500);

    // A rerun of a part skips; other centers into the same directory are refused.
    const part0 = (centers: string, more: string[] = []) =>
      cluster([
        "--input",
        `${dir}/shards`,
        "--centers",
        centers,
        "--refine",
        "--shard",
        `0/${N}`,
        "--out",
        `${dir}/sums-1`,
        ...more,
      ]);
    const again = await part0(`${dir}/c0.npy`);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stderr, /refine part 0\/3 already done \(manifest matches\)/);
    const other = await part0(`${dir}/c1.npy`);
    assert.equal(other.code, 2);
    assert.deepEqual(errLines(other.stderr).length, 1, other.stderr);
    assert.match(
      other.stderr,
      /Refusing to replace the outputs of another run .*parameter centers/,
    );

    // The reduce refuses parts made for other centers, missing and duplicated parts.
    const reduce = (dirs: string[], out = `${dir}/bad.npy`, more: string[] = []) =>
      cluster([...dirs.flatMap((d) => ["--reduce", d]), "--out", out, ...more]);
    const refused = async (args: Promise<{ code: number; stderr: string }>, re: RegExp) => {
      const r = await args;
      assert.equal(r.code, 2, r.stderr);
      assert.equal(errLines(r.stderr).length, 1, r.stderr);
      assert.match(r.stderr, re);
    };
    await Deno.mkdir(`${dir}/mixed`);
    for (const [from, i] of [["sums-1", 0], ["sums-2", 1], ["sums-1", 2]] as const) {
      for (const ext of [".npy", ".counts.npy", ".json"]) {
        const name = `part-${i}-of-${N}${ext}`;
        await Deno.copyFile(`${dir}/${from}/${name}`, `${dir}/mixed/${name}`);
      }
    }
    await refused(
      reduce([`${dir}/mixed`]),
      /Mismatched part .*part-1-of-3\.npy: it was made for other centers/,
    );
    await Deno.remove(`${dir}/mixed/part-1-of-3.npy`);
    await refused(reduce([`${dir}/mixed`]), /Missing part .*part-1-of-3\.npy: found 2 of 3 parts/);
    await refused(
      reduce([`${dir}/sums-1`, `${dir}/mixed`]),
      /Duplicated part 0 of 3: .*sums-1\/part-0-of-3\.npy and .*mixed\/part-0-of-3\.npy/,
    );
    await refused(
      reduce([`${dir}/sums-1`], `${dir}/bad.npy`, ["--centers", `${dir}/c1.npy`]),
      /Expected .*c1\.npy to be the centers the parts were made for/,
    );
    await refused(
      reduce([`${dir}/sums-1`], `${dir}/c0.npy`),
      /Refusing to overwrite the input .*c0\.npy/,
    );
    await refused(
      cluster([
        "--input",
        `${dir}/shards`,
        "--centers",
        `${dir}/c0.npy`,
        "--refine",
        "--out",
        `${dir}/s`,
      ]),
      /Expected --shard i\/N or auto with --refine/,
    );
    await refused(
      cluster(["--input", `${dir}/shards`, "--k", "3", "--refine", "2", "--out", `${dir}/s.npy`]),
      /Expected --refine R with --hierarchical N/,
    );
    await refused(
      cluster(["--reduce", `${dir}/sums-1`, "--k", "3", "--out", `${dir}/s.npy`]),
      /Expected no --k with --reduce/,
    );
    assert.ok(!(await Deno.stat(`${dir}/bad.npy`).catch(() => null)), "nothing written");
  });
});

Deno.test("cluster --refine part killed with SIGKILL mid-pass: the rerun gives the same bytes", async () => {
  await withDir(async (dir) => {
    await writeShards(`${dir}/shards`, clustered(2400, 8, 6, 9), [1000, 1400]);
    const c = await cluster([
      "--input",
      `${dir}/shards`,
      "--k",
      "6",
      "--niter",
      "4",
      "--out",
      `${dir}/c.npy`,
    ]);
    assert.equal(c.code, 0, c.stderr);
    const args = (out: string) => [
      CLUSTER,
      "--input",
      `${dir}/shards`,
      "--centers",
      `${dir}/c.npy`,
      "--refine",
      "--shard",
      "1/2",
      "--batch-rows",
      "300",
      "--out",
      out,
    ];
    const clean = await cluster(args(`${dir}/a`).slice(1));
    assert.equal(clean.code, 0, clean.stderr);
    await Deno.mkdir(`${dir}/b`);
    // Paused after its second batch (src/testing/pause_point.ts), then killed there.
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", ...args(`${dir}/b`)],
      env: { ...NO_ARRAY, ...pauseEnv(`refine-batch ${dir}/b/part-1-of-2 600`, `${dir}/paused`) },
      stdout: "null",
      stderr: "null",
    }).spawn();
    assert.match(await waitForPause(`${dir}/paused`, child), /refine-batch .*part-1-of-2 600$/);
    child.kill("SIGKILL");
    assert.equal((await child.status).signal, "SIGKILL");
    assert.deepEqual([...Deno.readDirSync(`${dir}/b`)], [], "nothing published before the commit");
    await Deno.writeFile(`${dir}/b/part-1-of-2.npy.tmp-0a0b0c0d0e0f`, new Uint8Array(3)); // torn
    const again = await cluster(args(`${dir}/b`).slice(1));
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stderr, /removed stale temporary file .*part-1-of-2\.npy\.tmp-0a0b0c0d0e0f/);
    for (const name of ["part-1-of-2.npy", "part-1-of-2.counts.npy"]) {
      assert.deepEqual(
        await Deno.readFile(`${dir}/b/${name}`),
        await Deno.readFile(`${dir}/a/${name}`),
        name,
      );
    }
    const left = [...Deno.readDirSync(`${dir}/b`)].map((e) => e.name).sort();
    assert.deepEqual(left, ["part-1-of-2.counts.npy", "part-1-of-2.json", "part-1-of-2.npy"]);
  });
});
