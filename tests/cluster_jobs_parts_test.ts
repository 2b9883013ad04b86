// cluster --shard parts, --merge and --hierarchical end to end through the CLI: the same centers,
// within 1 % of flat k-means; reruns skip, another run's outputs are refused.
import assert from "node:assert/strict";
import { readNpy, readNpyArray } from "../src/data/npy.ts";
import { randomMatrix } from "./_gpu.ts";
import { errLines } from "./_cli.ts";
import { cluster, KM, objective, pool } from "./_cluster_jobs.ts";
import { clustered } from "./_gpu.ts";
import { writeShards } from "./_shards.ts";
Deno.test("cluster --shard parts then --merge give --hierarchical's centers, within 1 % of flat k-means", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const n = 2000, d = 16, k = 10;
    const x = clustered(n, d, k, 11);
    await writeShards(`${dir}/shards`, x, [700, 300, 450, 550]);
    const parts = `${dir}/parts`;
    const runs = await pool(
      Array.from({ length: 8 }, (_, i) => () =>
        cluster([
          "--input",
          `${dir}/shards`,
          "--k",
          String(k),
          "--shard",
          `${i}/8`,
          "--out",
          parts,
          ...KM,
        ])),
      3,
    );
    for (const r of runs) assert.equal(r.code, 0, r.stderr);
    let members = 0;
    for (let i = 0; i < 8; i++) {
      const c = await readNpy(`${parts}/part-${i}-of-8.npy`);
      const counts = await readNpyArray(`${parts}/part-${i}-of-8.counts.npy`);
      assert.deepEqual([c.rows, c.cols], [k, d]);
      assert.ok(counts.data instanceof Uint32Array);
      const rows = Math.floor(((i + 1) * n) / 8) - Math.floor((i * n) / 8);
      assert.equal(counts.data.reduce((a, b) => a + b, 0), rows, `part ${i} counts`);
      members += rows;
      const m = JSON.parse(await Deno.readTextFile(`${parts}/part-${i}-of-8.json`));
      assert.equal(m.kind, "cluster-part");
      assert.deepEqual(m.shard, { index: i, count: 8 });
      assert.equal(m.inputs.length, 4);
      assert.equal(m.params.k1, k);
      assert.equal(m.info.rowStart, Math.floor((i * n) / 8));
    }
    assert.equal(members, n);

    const merge = await cluster([
      "--merge",
      parts,
      "--k",
      String(k),
      "--out",
      `${dir}/centers.npy`,
      ...KM,
    ]);
    assert.equal(merge.code, 0, merge.stderr);
    const hier = await cluster([
      "--input",
      `${dir}/shards`,
      "--k",
      String(k),
      "--hierarchical",
      "8",
      "--out",
      `${dir}/hier.npy`,
      ...KM,
    ]);
    assert.equal(hier.code, 0, hier.stderr);
    const centers = await readNpy(`${dir}/centers.npy`);
    const same = await readNpy(`${dir}/hier.npy`);
    assert.deepEqual([centers.rows, centers.cols], [k, d]);
    assert.deepEqual(same.data, centers.data, "--hierarchical gives the jobs' centers");

    const flat = await cluster([
      "--input",
      `${dir}/shards`,
      "--k",
      String(k),
      "--out",
      `${dir}/flat.npy`,
      ...KM,
    ]);
    assert.equal(flat.code, 0, flat.stderr);
    const objFlat = objective(x, await readNpy(`${dir}/flat.npy`));
    const objHier = objective(x, centers);
    assert.ok(objHier >= 0.99 * objFlat, `hierarchical ${objHier} vs flat ${objFlat}`);
    // The objective can tell centers apart: random centers are far worse.
    assert.ok(objective(x, randomMatrix(k, d, 99)) < 0.9 * objFlat);

    // Reruns with matching manifests skip the work and leave the files alone.
    const before = (await Deno.stat(`${parts}/part-3-of-8.npy`)).mtime?.getTime();
    const again = await cluster([
      "--input",
      `${dir}/shards`,
      "--k",
      String(k),
      "--shard",
      "3/8",
      "--out",
      parts,
      ...KM,
    ]);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stderr, /part 3\/8 already done \(manifest matches\)/);
    assert.equal((await Deno.stat(`${parts}/part-3-of-8.npy`)).mtime?.getTime(), before);
    const mergeAgain = await cluster([
      "--merge",
      parts,
      "--k",
      String(k),
      "--out",
      `${dir}/centers.npy`,
      ...KM,
    ]);
    assert.equal(mergeAgain.code, 0, mergeAgain.stderr);
    assert.match(mergeAgain.stderr, /merge already done \(manifest matches\)/);

    // Another run's outputs are refused (exit 2, one line) unless --overwrite.
    const other = [
      "--input",
      `${dir}/shards`,
      "--k",
      String(k),
      "--shard",
      "3/8",
      "--out",
      parts,
      "--niter",
      "3",
      "--seed",
      "7",
      "--nredo",
      "2",
    ];
    const refused = await cluster(other);
    assert.equal(refused.code, 2, refused.stderr);
    assert.deepEqual(errLines(refused.stderr).length, 1, refused.stderr);
    assert.match(
      refused.stderr,
      /^mlcd cluster: Refusing to replace the outputs of another run \(.*part-3-of-8\.json: parameter niter 12 ≠ 3\); use --overwrite/m,
    );
    assert.equal((await Deno.stat(`${parts}/part-3-of-8.npy`)).mtime?.getTime(), before);
    const replaced = await cluster([...other, "--overwrite"]);
    assert.equal(replaced.code, 0, replaced.stderr);
    // Now part 3 was made with other parameters: the merge names it.
    const mismatched = await cluster([
      "--merge",
      parts,
      "--k",
      String(k),
      "--out",
      `${dir}/c2.npy`,
    ]);
    assert.equal(mismatched.code, 2, mismatched.stderr);
    assert.deepEqual(errLines(mismatched.stderr), [
      `mlcd cluster: Mismatched part ${parts}/part-3-of-8.npy: parameter niter 3 ≠ 12 (compared with ${parts}/part-0-of-8.npy)`,
    ]);
    const names = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
    assert.deepEqual(names, [
      "centers.json",
      "centers.npy",
      "flat.npy",
      "hier.json",
      "hier.npy",
      "parts",
      "shards",
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
