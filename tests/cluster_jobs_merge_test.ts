// cluster --merge weights each part centroid by its member count.
import assert from "node:assert/strict";
import { readNpy, readNpyArray } from "../src/data/npy.ts";
import { randomMatrix } from "./_gpu.ts";
import { cluster } from "./_cluster_jobs.ts";
import { writeShards } from "./_shards.ts";
Deno.test("cluster --merge weights each part centroid by its member count", async () => {
  const dir = await Deno.makeTempDir();
  try {
    // Part 0: 90 rows near e0 and 10 near e1; part 1: 50 near e2 and 50 near e3. With k = 1
    // the merged center is the count-weighted mean direction of the four part centroids.
    const d = 5, n = 200;
    const noise = randomMatrix(n, d, 3);
    const data = new Float32Array(n * d);
    for (let i = 0; i < n; i++) {
      const axis = i < 90 ? 0 : i < 100 ? 1 : i < 150 ? 2 : 3;
      for (let t = 0; t < d; t++) data[i * d + t] = 0.05 * noise.data[i * d + t]!;
      data[i * d + axis] = data[i * d + axis]! + 1;
    }
    await writeShards(`${dir}/shards`, { data, rows: n, cols: d }, [120, 80]);
    for (const i of [0, 1]) {
      const r = await cluster([
        "--input",
        `${dir}/shards`,
        "--k",
        "2",
        "--shard",
        `${i}/2`,
        "--out",
        `${dir}/parts`,
        "--niter",
        "10",
      ]);
      assert.equal(r.code, 0, r.stderr);
    }
    const want = new Float64Array(d);
    for (const i of [0, 1]) {
      const c = await readNpy(`${dir}/parts/part-${i}-of-2.npy`);
      const counts = (await readNpyArray(`${dir}/parts/part-${i}-of-2.counts.npy`)).data;
      for (let j = 0; j < c.rows; j++) {
        for (let t = 0; t < d; t++) want[t] = want[t]! + counts[j]! * c.data[j * d + t]!;
      }
    }
    const norm = Math.hypot(...want);
    const r = await cluster([
      "--merge",
      `${dir}/parts`,
      "--k",
      "1",
      "--niter",
      "3",
      "--out",
      `${dir}/c.npy`,
    ]);
    assert.equal(r.code, 0, r.stderr);
    const got = await readNpy(`${dir}/c.npy`);
    for (let t = 0; t < d; t++) {
      assert.ok(Math.abs(got.data[t]! - want[t]! / norm) < 1e-4, `${got.data} vs ${want}`);
    }
    // e0 (90 members) outweighs e1 (10): an unweighted mean would give them the same share.
    assert.ok(got.data[0]! > 2 * got.data[1]!, `${got.data}`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
