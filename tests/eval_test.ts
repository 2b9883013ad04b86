import assert from "node:assert/strict";
import { ari, knnTop1, linearProbe, nmi, retrievalRecall } from "../src/eval/mod.ts";
import { randomMatrix, rng, testGpu } from "./_gpu.ts";
import { peerTest, pythonPeer } from "./_peer.ts";
import { python } from "./_python.ts";

Deno.test("nmi() and ari() are 1 for identical partitions up to renaming", () => {
  assert.equal(nmi([0, 0, 1, 1, 2], [5, 5, 3, 3, 9]), 1);
  assert.equal(ari([0, 0, 1, 1, 2], [5, 5, 3, 3, 9]), 1);
});

Deno.test("nmi() and ari() match hand-computed values", () => {
  // true [0,0,1,1], pred [0,1,0,1]: independent → MI 0, ARI = (0 - 0.5·0.5... ) / ...
  assert.equal(nmi([0, 0, 1, 1], [0, 1, 0, 1]), 0);
  // sum_ij C(n_ij,2)=0, a: 2·C(2,2)=2, b: 2, total C(4,2)=6 → expected 2·2/6=2/3, max 2
  assert.ok(Math.abs(ari([0, 0, 1, 1], [0, 1, 0, 1]) - (0 - 2 / 3) / (2 - 2 / 3)) < 1e-15);
  // one cluster predicted: NMI 0 (sklearn convention), ARI 0
  assert.equal(nmi([0, 1, 2], [0, 0, 0]), 0);
  assert.equal(ari([0, 1, 2], [0, 0, 0]), 0);
});

Deno.test("nmi() and ari() throw TypeError on a length mismatch", () => {
  assert.throws(() => nmi([0, 1], [0]), {
    name: "TypeError",
    message: "Expected labelsPred to have 2 labels like labelsTrue but found 1",
  });
});

const SKLEARN = await pythonPeer("scikit-learn (apt-get install python3-sklearn)", ["sklearn"]);

peerTest({
  name: "nmi() and ari() match scikit-learn on random labelings",
  needs: [SKLEARN],
  fn: async () => {
    const r = rng(7);
    const cases: [number[], number[]][] = [];
    for (const [n, ka, kb] of [[50, 3, 4], [333, 10, 7], [1000, 2, 25], [17, 17, 1]]) {
      cases.push([
        Array.from({ length: n! }, () => Math.floor(r() * ka!)),
        Array.from({ length: n! }, (_, i) => (r() < 0.5 ? i % kb! : Math.floor(r() * kb!))),
      ]);
    }
    const code = "import json,sys\nfrom sklearn.metrics import normalized_mutual_info_score " +
      "as N, adjusted_rand_score as A\nfor a,b in json.load(sys.stdin): print(N(a,b), A(a,b))";
    const out = await python(["-c", code], { stdin: JSON.stringify(cases) });
    const lines = out.trim().split("\n");
    assert.equal(lines.length, cases.length, out);
    cases.forEach(([a, b], i) => {
      const [n, ar] = lines[i]!.split(" ").map(Number);
      assert.ok(Math.abs(nmi(a, b) - n!) < 1e-12, `case ${i}: nmi ${nmi(a, b)} vs ${n}`);
      assert.ok(Math.abs(ari(a, b) - ar!) < 1e-12, `case ${i}: ari ${ari(a, b)} vs ${ar}`);
    });
  },
});

// Three well-separated Gaussian blobs in 5-D (odd sizes): every metric should be near 1.
function blobs(n: number, seed: number) {
  const noise = randomMatrix(n, 5, seed);
  const y = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    y[i] = i % 3;
    noise.data[i * 5 + y[i]!]! += 8;
    for (let j = 0; j < 5; j++) noise.data[i * 5 + j]! *= 1;
  }
  return { x: noise, y };
}

Deno.test("knnTop1(), linearProbe() and retrievalRecall() score separable blobs near 1", async () => {
  const gpu = await testGpu();
  const tr = blobs(61, 1), te = blobs(31, 2);
  assert.ok((await knnTop1(gpu, tr, te, { k: 5 })) >= 0.96);
  const p = await linearProbe(gpu, tr, te, { epochs: 20, batchSize: 16 });
  assert.ok(p.top1 >= 0.96, `probe ${p.top1}`);
  const r = await retrievalRecall(gpu, te.x, tr.x, {
    relevant: (q, k) => te.y[q] === tr.y[k],
    ks: [1, 5],
  });
  assert.ok(r["R@1"]! >= 0.96 && r["R@5"]! >= r["R@1"]!);
});

Deno.test("knnTop1() with shuffled labels scores near chance", async () => {
  const gpu = await testGpu();
  const tr = blobs(61, 1), te = blobs(31, 2);
  const r = rng(3);
  const y = tr.y.map(() => Math.floor(r() * 3));
  assert.ok((await knnTop1(gpu, { x: tr.x, y }, te, { k: 5 })) < 0.8);
});

Deno.test("retrievalRecall() counts a query as a hit only when a relevant key is in the top K", async () => {
  const gpu = await testGpu();
  // keys on the unit circle; query 0 nearest key 0, then key 1, ...
  const keys = { data: new Float32Array([1, 0, 0.9, 0.1, 0, 1]), rows: 3, cols: 2 };
  const q = { data: new Float32Array([1, 0]), rows: 1, cols: 2 };
  const r = await retrievalRecall(gpu, q, keys, { relevant: (_q, k) => k === 2, ks: [1, 2, 3] });
  assert.deepEqual(r, { "R@1": 0, "R@2": 0, "R@3": 1 });
});
