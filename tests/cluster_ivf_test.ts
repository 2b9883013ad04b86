// deno task cluster --assign ivf|exact|auto --nprobe N: the summary, --json and manifests record
// the assignment; bad values are one line and exit 2; kill -9 and --resume end bit-identical.
import assert from "node:assert/strict";
import { writeNpy } from "../src/data/npy.ts";
import { errLines } from "./_cli.ts";
import { pauseEnv, waitForPause } from "./_pause.ts";
import { withDir } from "./_tmp.ts";
import { CLUSTER, cluster, NO_ARRAY } from "./_cluster_jobs.ts";
import { clustered } from "./_gpu.ts";

Deno.test("cluster --assign ivf --nprobe: the summary line, --json and the job manifests record it", async () => {
  await withDir(async (dir) => {
    const x = clustered(3000, 16, 40, 3);
    await writeNpy(`${dir}/x.npy`, x.data, [3000, 16]);
    const input = ["--input", `${dir}/x.npy`];
    const ivf = ["--assign", "ivf", "--nprobe", "2", "--niter", "4"];
    const r = await cluster([...input, "--k", "100", ...ivf, "--json"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /IVF assignment: 10 cells over the 100 centroids, 2 probed per row/);
    assert.match(r.stderr, /objective .*; assignment ivf \(10 cells, nprobe 2\), requested\)/);
    const s = JSON.parse(r.stdout);
    assert.deepEqual(s.assignment, { method: "ivf", cells: 10, nprobe: 2, source: "requested" });
    assert.deepEqual([s.assign, s.nprobe], ["ivf", 2]);
    const exact = await cluster([...input, "--k", "100", "--assign", "exact", "--json"]);
    assert.equal(exact.code, 0, exact.stderr);
    assert.equal(JSON.parse(exact.stdout).assignment.method, "exact");
    assert.equal(JSON.parse(exact.stdout).nprobe, null);
    // A part job and the hierarchical run record the flags and what ran.
    const p = await cluster([...input, "--k", "60", ...ivf, "--shard", "0/2", "--out", `${dir}/p`]);
    assert.equal(p.code, 0, p.stderr);
    const pm = JSON.stringify(JSON.parse(await Deno.readTextFile(`${dir}/p/part-0-of-2.json`)));
    assert.match(pm, /"assign":"ivf"/);
    assert.match(pm, /"nprobe":2/);
    assert.match(pm, /"assignment":\{"method":"ivf","cells":8,"nprobe":2,"source":"requested"\}/);
    const h = await cluster([
      ...input,
      "--k",
      "50",
      "--k1",
      "80",
      "--hierarchical",
      "2",
      ...ivf,
      "--out",
      `${dir}/h.npy`,
      "--json",
    ]);
    assert.equal(h.code, 0, h.stderr);
    const hm = JSON.stringify(JSON.parse(await Deno.readTextFile(`${dir}/h.json`)));
    assert.match(hm, /"assignment":\{"method":"ivf","cells":7,"nprobe":2,"source":"requested"\}/);
    assert.match(hm, /"partAssignments":\[\{"method":"ivf","cells":9,"nprobe":2,/);
    assert.equal(JSON.parse(h.stdout).assignment.cells, 7);
  });
});

Deno.test("cluster refuses a bad --assign or --nprobe in one line, exit 2, in every mode", async () => {
  await withDir(async (dir) => {
    await writeNpy(`${dir}/x.npy`, clustered(40, 4, 3, 1).data, [40, 4]);
    const base = ["--input", `${dir}/x.npy`, "--k", "3"];
    const cases: [string[], string][] = [
      [["--assign", "hnsw"], "Expected --assign to be exact, ivf or auto but found hnsw"],
      [["--nprobe", "0"], "Expected --nprobe to be an integer ≥ 1 but found 0"],
      [["--nprobe", "-3"], "Expected --nprobe to be an integer ≥ 1 but found -3"],
      [["--nprobe", "two"], "Expected --nprobe to be an integer ≥ 1 but found two"],
      [
        ["--assign", "exact", "--nprobe", "4"],
        "Expected --nprobe only with --assign ivf or auto but found --assign exact",
      ],
      [
        ["--nprobe", "0", "--shard", "0/2", "--out", `${dir}/p`],
        "Expected --nprobe to be an integer ≥ 1 but found 0",
      ],
      [
        ["--assign", "x", "--hierarchical", "2", "--out", `${dir}/h.npy`],
        "Expected --assign to be exact, ivf or auto but found x",
      ],
    ];
    for (const [flags, message] of cases) {
      const r = await cluster([...base, ...flags]);
      assert.equal(r.code, 2, `${flags.join(" ")}: ${r.stderr}`);
      assert.deepEqual(errLines(r.stderr), [`mlcd cluster: ${message}`], flags.join(" "));
    }
    const left = [...Deno.readDirSync(dir)].map((e) => e.name);
    assert.deepEqual(left, ["x.npy"], "nothing written");
  });
});

/** Runs cluster with `args`, kills it with SIGKILL where it pauses at `at`. */
async function killedAt(args: string[], at: string, marker: string): Promise<string> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", CLUSTER, ...args],
    env: { ...NO_ARRAY, ...pauseEnv(at, marker) },
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const stderr = new Response(child.stderr).text();
  const point = await waitForPause(marker, child, stderr);
  child.kill("SIGKILL");
  assert.equal((await child.status).signal, "SIGKILL");
  await stderr;
  await Deno.remove(marker);
  return point;
}

Deno.test("cluster --assign ivf --resume after kill -9 ends bit-identical to an uninterrupted run", async () => {
  await withDir(async (dir) => {
    const x = clustered(6000, 20, 80, 17);
    await writeNpy(`${dir}/a.npy`, x.data.subarray(0, 2500 * 20), [2500, 20]);
    await writeNpy(`${dir}/b.npy`, x.data.subarray(2500 * 20), [3500, 20], { dtype: "f2" });
    const w = new Float32Array(6000).map((_, i) => 1 + (i % 3));
    await writeNpy(`${dir}/w.npy`, w, [6000]);
    const args = (tag: string, sample: boolean) => [
      ...["--input", `${dir}/a.npy`, "--input", `${dir}/b.npy`, "--weights", `${dir}/w.npy`],
      ...["--k", "90", "--niter", "12", "--assign", "ivf", "--nprobe", "2"],
      // With a training sample (k × 40 < n) the final pass streams every row in batches;
      // without (all rows train) it assigns them in place, from their last assignment.
      ...(sample ? ["--max-points-per-centroid", "40", "--batch-rows", "1700"] : []),
      ...["--checkpoint", `${dir}/${tag}.ckpt`, "--checkpoint-every", "3"],
      ...["--out", `${dir}/${tag}.c.npy`, "--assignments", `${dir}/${tag}.a.npy`],
    ];
    const same = async (a: string, b: string) => {
      assert.deepEqual(
        await Deno.readFile(`${dir}/${a}.c.npy`),
        await Deno.readFile(`${dir}/${b}.c.npy`),
      );
      assert.deepEqual(
        await Deno.readFile(`${dir}/${a}.a.npy`),
        await Deno.readFile(`${dir}/${b}.a.npy`),
      );
    };
    const marker = `${dir}/paused`;
    for (const sample of [true, false]) {
      const u = `u${sample}`, k = `k${sample}`, f = `f${sample}`;
      const whole = await cluster(args(u, sample));
      assert.equal(whole.code, 0, whole.stderr);
      // Killed after its second checkpoint (6 iterations), then resumed.
      const point = await killedAt(args(k, sample), "kmeans-checkpoint#2", marker);
      assert.match(point, new RegExp(`^kmeans-checkpoint .*/${k}\\.ckpt$`));
      const resumed = await cluster([...args(k, sample), "--resume"]);
      assert.equal(resumed.code, 0, resumed.stderr);
      assert.match(
        resumed.stderr,
        new RegExp(`Resuming from .*${k}\\.ckpt at run 1/1, iteration 6\n`),
      );
      await same(k, u);
      // Killed after its last checkpoint (#5: the run done, its outputs not written): the
      // resumed run redoes the final pass from the saved centroids and last assignment.
      await killedAt(args(f, sample), "kmeans-checkpoint#5", marker);
      const again = await cluster([...args(f, sample), "--resume"]);
      assert.equal(again.code, 0, again.stderr);
      assert.match(again.stderr, /the iterations are done, final assignment left/);
      await same(f, u);
    }
    // It was approximate: the exact run's centroids differ.
    const exact = await cluster([
      ...args("e", true).filter((a, i, all) => all[i - 1] !== "--nprobe" && a !== "--nprobe"),
    ].map((a) => a === "ivf" ? "exact" : a));
    assert.equal(exact.code, 0, exact.stderr);
    assert.notDeepEqual(
      await Deno.readFile(`${dir}/e.c.npy`),
      await Deno.readFile(`${dir}/utrue.c.npy`),
    );
  });
});
