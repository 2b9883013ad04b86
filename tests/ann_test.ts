import assert from "node:assert/strict";
import { annTopk, buildHnswIndex, DEFAULT_HNSW_EF, recallAtK } from "../src/ann/hnsw.ts";
import { normalizeRows } from "../src/matrix/matrix.ts";
import { topk } from "../src/topk/topk.ts";
import { randomMatrix, testGpu } from "./_gpu.ts";

Deno.test("recallAtK() counts shared indices per row", () => {
  assert.equal(
    recallAtK(new Uint32Array([1, 2, 3, 4]), new Uint32Array([2, 1, 3, 5]), { k: 2 }),
    0.75,
  );
  assert.throws(() => recallAtK(new Uint32Array(3), new Uint32Array(4), { k: 2 }), TypeError);
  assert.throws(() => recallAtK(new Uint32Array(4), new Uint32Array(4), { k: 0 }), RangeError);
});

Deno.test("annTopk() reaches recall@8 >= 0.95 at default settings on 100k x 128 unit centers", async () => {
  const gpu = await testGpu();
  const d = 128;
  const centers = normalizeRows(randomMatrix(100_000, d, 21));
  // MLCD's queries are embeddings lying around their cluster centers: each query is a center
  // plus Gaussian noise of norm ~0.75 (cosine ~0.8 to its center). Uniformly random queries,
  // which sit near no center, are reported as well.
  const noise = randomMatrix(200, d, 22);
  const near = new Float32Array(200 * d);
  for (let r = 0; r < 200; r++) {
    const c = (r * 7919) % 100_000;
    for (let j = 0; j < d; j++) {
      near[r * d + j] = centers.data[c * d + j]! + 0.75 * noise.data[r * d + j]! / Math.sqrt(d);
    }
  }
  const queries = normalizeRows({ data: near, rows: 200, cols: d });
  const uniform = normalizeRows(randomMatrix(200, d, 23));
  const index = await buildHnswIndex(centers);
  console.log(
    `hnswlib build 100k x 128 (M 16, efConstruction 200): ${index.buildSeconds.toFixed(1)} s`,
  );
  const exact = await topk(gpu, queries, centers, { k: 8 });
  const exactUniform = await topk(gpu, uniform, centers, { k: 8 });
  for (const ef of [512, 1024]) {
    const t0 = performance.now();
    const a = annTopk(index, queries, { k: 8, ef });
    const ms = (performance.now() - t0) / 200;
    const u = annTopk(index, uniform, { k: 8, ef });
    console.log(
      `ef ${ef}: recall@8 ${recallAtK(a.indices, exact.indices, { k: 8 })} (near centers, ${
        ms.toFixed(2)
      } ms/query), ${recallAtK(u.indices, exactUniform.indices, { k: 8 })} (uniform)`,
    );
  }
  const approx = annTopk(index, queries, { k: 8 });
  const recall = recallAtK(approx.indices, exact.indices, { k: 8 });
  console.log(`recall@8 at the default ef ${DEFAULT_HNSW_EF}: ${recall}`);
  assert.ok(recall >= 0.95, `recall@8 ${recall}`);
  // Scores are similarities, best first, and agree with the exact ones where indices do.
  for (let r = 0; r < 200; r++) {
    for (let t = 1; t < 8; t++) {
      assert.ok(approx.scores[r * 8 + t - 1]! >= approx.scores[r * 8 + t]!);
    }
    if (approx.indices[r * 8] === exact.indices[r * 8]) {
      assert.ok(Math.abs(approx.scores[r * 8]! - exact.scores[r * 8]!) < 1e-4);
    }
  }
});

Deno.test("annTopk() matches the exact path on a small index and checks its arguments", async () => {
  const centers = randomMatrix(300, 16, 23);
  const queries = randomMatrix(20, 16, 24);
  const index = await buildHnswIndex(centers, { metric: "ip" });
  const approx = annTopk(index, queries, { k: 5, ef: 300 });
  const exact = await topk(await testGpu(), queries, centers, { k: 5, metric: "ip" });
  assert.equal(recallAtK(approx.indices, exact.indices, { k: 5 }), 1);
  for (let i = 0; i < approx.scores.length; i++) {
    assert.ok(Math.abs(approx.scores[i]! - exact.scores[i]!) < 1e-4);
  }
  assert.throws(() => annTopk(index, queries, { k: 301 }), {
    name: "RangeError",
    message: "Expected k to be an integer in [1, 300] but found 301",
  });
  assert.throws(() => annTopk(index, randomMatrix(2, 3, 1), { k: 2 }), { name: "TypeError" });
});
