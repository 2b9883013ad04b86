// Hierarchical k-means as a library: hierarchicalKmeans() is clusterPart() of every part and
// mergeCentroids() of their centroids; the merge weights each centroid by its member count
// (against a float64 weighted mean); small and empty parts.
import assert from "node:assert/strict";
import {
  clusterPart,
  countMergePoints,
  hierarchicalKmeans,
  mergeCentroids,
} from "../src/kmeans/mod.ts";
import { openRowSource, partOf, writeNpy } from "../src/data/mod.ts";
import { randomMatrix, testGpu } from "./_gpu.ts";
import { withDir } from "./_tmp.ts";

const FIXED = { variant: "registers", autotune: false, niter: 6, seed: 3 } as const;

Deno.test("hierarchicalKmeans() equals clusterPart() of each part and mergeCentroids()", async () => {
  const gpu = await testGpu();
  await withDir(async (dir) => {
    const x = randomMatrix(530, 7, 21);
    await writeNpy(`${dir}/a.npy`, x.data.slice(0, 300 * 7), [300, 7]);
    await writeNpy(`${dir}/b.npy`, x.data.slice(300 * 7), [230, 7]);
    const source = await openRowSource([dir]);
    const stages = new Set<string>();
    const done: number[] = [];
    const h = await hierarchicalKmeans(gpu, source, {
      ...FIXED,
      parts: 3,
      k1: 9,
      k: 5,
      onIteration: (_, stage) => stages.add(stage),
      onPart: (i, r) => {
        done.push(i);
        assert.equal(
          r.counts.reduce((a, b) => a + b, 0),
          partOf(source, { index: i, count: 3 }).rows,
        );
      },
    });
    assert.deepEqual(done, [0, 1, 2]);
    assert.deepEqual([...stages], ["part 0/3", "part 1/3", "part 2/3", "merge"]);
    const parts = [];
    for (let i = 0; i < 3; i++) {
      parts.push(
        await clusterPart(gpu, partOf(source, { index: i, count: 3 }), { ...FIXED, k1: 9 }),
      );
    }
    for (const [i, p] of parts.entries()) {
      assert.deepEqual(p.centroids, h.parts[i]!.centroids, `part ${i}`);
      assert.deepEqual(p.counts, h.parts[i]!.counts, `part ${i} counts`);
    }
    const m = await mergeCentroids(gpu, parts, { ...FIXED, k: 5 });
    assert.deepEqual(m.centroids, h.centroids);
    assert.equal(m.objective, h.mergeObjective);
    assert.deepEqual([m.points, m.members], [countMergePoints(parts).points, 530]);
    assert.deepEqual([h.centroids.rows, h.centroids.cols], [5, 7]);
  });
});

Deno.test("mergeCentroids() weights each part centroid by its member count", async () => {
  const gpu = await testGpu();
  // k = 1 under cosine: the center is the normalised count-weighted sum of the unit centroids.
  const c = randomMatrix(5, 3, 4);
  for (let r = 0; r < 5; r++) {
    const s = Math.hypot(...c.data.subarray(r * 3, r * 3 + 3));
    for (let t = 0; t < 3; t++) c.data[r * 3 + t]! /= s;
  }
  const counts = [new Uint32Array([7, 0, 1]), new Uint32Array([40, 2])];
  const parts = [
    { centroids: { data: c.data.slice(0, 9), rows: 3, cols: 3 }, counts: counts[0]! },
    { centroids: { data: c.data.slice(9), rows: 2, cols: 3 }, counts: counts[1]! },
  ];
  const w = [7, 0, 1, 40, 2];
  const want = [0, 1, 2].map((t) => w.reduce((s, wi, r) => s + wi * c.data[r * 3 + t]!, 0));
  const norm = Math.hypot(...want);
  const logs: string[] = [];
  const m = await mergeCentroids(gpu, parts, { ...FIXED, k: 1, onLog: (l) => logs.push(l) });
  assert.deepEqual([m.points, m.members], [4, 50]);
  assert.ok(logs.includes("4 part centroids standing for 50 rows → k = 1"), logs.join("\n"));
  for (let t = 0; t < 3; t++) {
    assert.ok(Math.abs(m.centroids.data[t]! - want[t]! / norm) < 1e-5, `coordinate ${t}`);
  }
  await assert.rejects(() => mergeCentroids(gpu, parts, { ...FIXED, k: 5 }), {
    name: "RangeError",
    message: "Expected k to be at most the number of part centroids with members (4) but found 5",
  });
});

Deno.test("clusterPart() keeps the rows of a small part and gives an empty part no centroids", async () => {
  const gpu = await testGpu();
  await withDir(async (dir) => {
    await writeNpy(`${dir}/a.npy`, randomMatrix(4, 2, 8).data, [4, 2]);
    const source = await openRowSource([dir]);
    const logs: string[] = [];
    const onLog = (l: string) => logs.push(l);
    const small = await clusterPart(gpu, partOf(source, { index: 1, count: 2 }), {
      ...FIXED,
      k1: 5,
      onLog,
    });
    assert.deepEqual([small.centroids.rows, small.centroids.cols], [2, 2]);
    assert.deepEqual([...small.counts], [1, 1]);
    const empty = await clusterPart(gpu, partOf(source, { index: 0, count: 5 }), {
      ...FIXED,
      k1: 5,
      onLog,
    });
    assert.deepEqual([empty.centroids.rows, empty.centroids.cols, empty.counts.length], [0, 2, 0]);
    // kmeans()'s own messages ("Read 2 training rows …") come between.
    assert.equal(logs[0], "2 rows < k = 5, keeping each row as a centroid");
    assert.equal(logs.at(-1), "no rows, writing 0 centroids");
  });
});
