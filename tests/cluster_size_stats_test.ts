import assert from "node:assert/strict";
import { clusterSizeStats, formatClusterSizes } from "../src/kmeans/cluster_size_stats.ts";
import { rng } from "./_gpu.ts";

/** numpy.percentile's default (linear) on a sorted copy, in float64. */
function percentile(v: number[], p: number): number {
  const s = [...v].sort((a, b) => a - b);
  const at = (p / 100) * (s.length - 1), lo = Math.floor(at);
  return s[lo]! + (at - lo) * ((s[Math.min(lo + 1, s.length - 1)] ?? s[lo]!) - s[lo]!);
}

Deno.test("clusterSizeStats() matches a direct computation on random sizes", () => {
  const r = rng(3);
  for (const k of [1, 2, 7, 100, 1001]) {
    const counts = Uint32Array.from({ length: k }, () => (r() < 0.1 ? 0 : Math.floor(r() * 50)));
    const s = clusterSizeStats(counts);
    const v = Array.from(counts);
    const total = v.reduce((a, b) => a + b, 0);
    assert.equal(s.k, k);
    assert.equal(s.total, total);
    assert.equal(s.empty, v.filter((c) => c === 0).length);
    assert.equal(s.min, Math.min(...v));
    assert.equal(s.max, Math.max(...v));
    assert.equal(s.median, percentile(v, 50));
    assert.equal(s.p10, percentile(v, 10));
    assert.equal(s.p90, percentile(v, 90));
    assert.equal(s.mean, total / k);
    const want = total ? (k * v.reduce((a, c) => a + c * c, 0)) / total ** 2 : NaN;
    assert.ok(Object.is(s.imbalanceFactor, want) || Math.abs(s.imbalanceFactor - want) < 1e-12);
  }
});

Deno.test("clusterSizeStats() on small known cases", () => {
  const s = clusterSizeStats([0, 4, 4, 12]);
  assert.deepEqual(s, {
    k: 4,
    total: 20,
    empty: 1,
    min: 0,
    p10: 1.2000000000000002,
    median: 4,
    p90: 9.600000000000001,
    max: 12,
    mean: 5,
    imbalanceFactor: 1.76,
  });
  assert.equal(clusterSizeStats([5, 5, 5]).imbalanceFactor, 1); // balanced
  assert.equal(clusterSizeStats([9]).median, 9);
  assert.ok(Number.isNaN(clusterSizeStats([0, 0]).imbalanceFactor)); // nothing assigned
  assert.equal(clusterSizeStats(new Float64Array([0.5, 1.5])).median, 1); // weighted sizes
  assert.equal(
    formatClusterSizes(s),
    "cluster sizes: min 0, p10 1.2, median 4, p90 9.6, max 12, 1 empty of 4, imbalance 1.76",
  );
});

Deno.test("clusterSizeStats() refuses empty, negative and non-finite sizes", () => {
  assert.throws(() => clusterSizeStats([]), {
    name: "RangeError",
    message: "Expected counts to hold at least one cluster size but found none",
  });
  assert.throws(() => clusterSizeStats([1, -1]), {
    name: "RangeError",
    message: "Expected counts[1] to be a finite size ≥ 0 but found -1",
  });
  assert.throws(() => clusterSizeStats([NaN]), { name: "RangeError" });
  assert.throws(() => clusterSizeStats(null as unknown as number[]), { name: "TypeError" });
});
