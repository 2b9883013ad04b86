import assert from "node:assert/strict";
import { AUTOTUNE_CACHE_FILE } from "../src/gpu/autotune.ts";
import {
  autoTopkVariant,
  type TopkKeys,
  type TopkResult,
  type TopkTuning,
  uploadTopkKeys,
} from "../src/topk/topk.ts";
import type { Matrix } from "../src/matrix/matrix.ts";
import { randomMatrix, testGpu } from "./_gpu.ts";
import { withCacheDir } from "./_env.ts";

const gpu = await testGpu();

/** Checks a cosine top-k result against a float64 brute force (index swaps only on ties). */
function checkCosine(q: Matrix, x: Matrix, k: number, got: TopkResult): void {
  const unit = (m: Matrix, r: number) => {
    const v = Float64Array.from(m.data.subarray(r * m.cols, (r + 1) * m.cols));
    const s = Math.sqrt(v.reduce((a, b) => a + b * b, 0));
    return v.map((e) => e / s);
  };
  const keys = Array.from({ length: x.rows }, (_, j) => unit(x, j));
  assert.equal(got.indices.length, q.rows * k);
  for (let r = 0; r < q.rows; r++) {
    const qv = unit(q, r);
    const row = keys.map((kv) => kv.reduce((a, e, c) => a + e * qv[c]!, 0));
    const order = Array.from(row.keys()).sort((a, b) => row[b]! - row[a]! || a - b);
    for (let t = 0; t < k; t++) {
      const i = got.indices[r * k + t]!, want = row[order[t]!]!;
      assert.ok(Math.abs(got.scores[r * k + t]! - want) <= 1e-4, `row ${r} slot ${t} score`);
      if (i !== order[t]) {
        assert.ok(Math.abs(row[i]! - want) <= 1e-5, `row ${r} slot ${t}: ${i} vs ${order[t]}`);
      }
    }
  }
}

/** Reads `tuning` afresh (a getter: assertions must not narrow it across searches). */
function tuningOf(index: TopkKeys): TopkTuning | undefined {
  return index.tuning;
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

Deno.test("uploadTopkKeys() auto tunes on the first search, then reads the cache", async () => {
  await withCacheDir(async (dir) => {
    const q = randomMatrix(37, 20, 21), x = randomMatrix(301, 20, 22);
    const index = uploadTopkKeys(gpu, x);
    assert.equal(index.tuning, undefined);
    assert.equal(index.variant, autoTopkVariant(gpu, 20));
    // Two concurrent first searches share one tuning run.
    const [a, b] = await Promise.all([index.search(q, { k: 5 }), index.search(q, { k: 5 })]);
    checkCosine(q, x, 5, a);
    assert.deepEqual(b, a);
    const tuning = tuningOf(index);
    assert.equal(tuning?.source, "tuned");
    assert.ok(typeof tuning.ms === "number" && tuning.ms >= 0, `ms ${tuning.ms}`);
    const tuned = index.variant;
    assert.ok(tuned === "registers" || tuned === "tiled");
    checkCosine(q, x, 5, await index.search(q, { k: 5 }));
    index.destroy();

    const cache = JSON.parse(await Deno.readTextFile(`${dir}/${AUTOTUNE_CACHE_FILE}`)) as {
      entries: Record<string, { config: { variant: string } }>;
    };
    const keys = Object.keys(cache.entries).filter((k) => k.endsWith("|topk/d4=5/cosine"));
    assert.equal(keys.length, 1, Object.keys(cache.entries).join(", "));
    assert.equal(cache.entries[keys[0]!]!.config.variant, tuned);

    // Same d4 and metric, other keys and k: the cached choice, untimed.
    const x2 = randomMatrix(64, 19, 23), q2 = randomMatrix(5, 19, 24);
    const again = uploadTopkKeys(gpu, x2);
    const got = await again.search(q2, { k: 3 });
    assert.equal(again.tuning?.source, "cache");
    assert.equal(again.variant, tuned);
    checkCosine(q2, x2, 3, got);
    again.destroy();
  });
});

Deno.test("uploadTopkKeys() with autotune: false uses the heuristic and writes no cache", async () => {
  await withCacheDir(async (dir) => {
    const q = randomMatrix(37, 20, 25), x = randomMatrix(301, 20, 26);
    const index = uploadTopkKeys(gpu, x, { autotune: false });
    assert.deepEqual(index.tuning, { source: "default", ms: null });
    checkCosine(q, x, 5, await index.search(q, { k: 5 }));
    assert.equal(index.variant, autoTopkVariant(gpu, 20));
    assert.deepEqual(index.tuning, { source: "default", ms: null });
    index.destroy();
    assert.equal(await exists(`${dir}/${AUTOTUNE_CACHE_FILE}`), false);
  });
});

Deno.test("uploadTopkKeys() respects an explicit variant without tuning", async () => {
  await withCacheDir(async (dir) => {
    const q = randomMatrix(37, 20, 27), x = randomMatrix(301, 20, 28);
    const index = uploadTopkKeys(gpu, x, { variant: "tiled" });
    checkCosine(q, x, 5, await index.search(q, { k: 5 }));
    assert.equal(index.variant, "tiled");
    assert.deepEqual(index.tuning, { source: "requested", ms: null });
    index.destroy();
    assert.equal(await exists(`${dir}/${AUTOTUNE_CACHE_FILE}`), false);
    assert.throws(() => uploadTopkKeys(gpu, x, { autotune: "no" as unknown as boolean }), {
      name: "TypeError",
      message: "Expected autotune to be a boolean but found no",
    });
  });
});
