import assert from "node:assert/strict";
import { topk, type TopkKeysOptions, uploadTopkKeys } from "../src/topk/topk.ts";
import type { Matrix } from "../src/matrix/matrix.ts";
import { quirksFor } from "../src/gpu/quirks.ts";
import { topkKeysPerDispatch } from "../src/topk/topk_programs.ts";
import { topkTiledPasses, topkTiledPlan } from "../src/topk/topk_tiled_search.ts";
import { topkRegistersDispatches, topkRegistersPlan } from "../src/topk/topk_registers_search.ts";
import { bestK } from "../scripts/gpu_check/common.ts";
import { randomMatrix, testGpu } from "./_gpu.ts";

const gpu = await testGpu();

/** Float64 similarities of every query row against every key (normalised for cosine). */
function scores64(q: Matrix, x: Matrix, metric: "cosine" | "ip"): Float64Array[] {
  const norm = (m: Matrix) => {
    const out: Float64Array[] = [];
    for (let r = 0; r < m.rows; r++) {
      const v = Float64Array.from(m.data.subarray(r * m.cols, (r + 1) * m.cols));
      if (metric === "cosine") {
        const s = Math.sqrt(v.reduce((a, b) => a + b * b, 0));
        if (s > 0) { for (let c = 0; c < v.length; c++) v[c]! /= s; }
      }
      out.push(v);
    }
    return out;
  };
  const qa = norm(q), xa = norm(x);
  return qa.map((qv) => {
    const row = new Float64Array(x.rows);
    for (let j = 0; j < x.rows; j++) {
      const xv = xa[j]!;
      let s = 0;
      for (let c = 0; c < qv.length; c++) s += qv[c]! * xv[c]!;
      row[j] = s;
    }
    return row;
  });
}

/**
 * Checks a GPU result against the float64 brute force (`all`, computed when not given), every
 * row: scores within 1e-4, no index twice, and an index other than float64's only where the
 * two scores tie within 1e-5. Returns those tie swaps.
 */
function checkAgainstReference(
  q: Matrix,
  x: Matrix,
  k: number,
  got: { indices: Uint32Array; scores: Float32Array },
  metric: "cosine" | "ip" = "cosine",
  all: Float64Array[] = scores64(q, x, metric),
): number {
  assert.equal(got.indices.length, q.rows * k);
  assert.equal(got.scores.length, q.rows * k);
  let tieSwaps = 0;
  all.forEach((row, r) => {
    const order = bestK(row, k);
    const seen = new Set<number>();
    for (let t = 0; t < k; t++) {
      const i = got.indices[r * k + t]!;
      assert.ok(i < x.rows, `row ${r} slot ${t}: index ${i} out of range`);
      assert.ok(!seen.has(i), `row ${r}: index ${i} returned twice`);
      seen.add(i);
      const want = row[order[t]!]!;
      assert.ok(
        Math.abs(got.scores[r * k + t]! - want) <= 1e-4,
        `row ${r} slot ${t}: score ${got.scores[r * k + t]} vs ${want}`,
      );
      if (i !== order[t]) {
        // Only (near-)equal scores may swap places.
        assert.ok(
          Math.abs(row[i]! - want) <= 1e-5,
          `row ${r} slot ${t}: index ${i} (score ${row[i]}) instead of ${order[t]} (${want})`,
        );
        tieSwaps++;
      }
    }
  });
  return tieSwaps;
}

for (const variant of ["registers", "tiled"] as const) {
  Deno.test(`topk() matches a float64 brute force at n=1537, C=4099, d=77, k=13 (${variant})`, async () => {
    const q = randomMatrix(1537, 77, 1), x = randomMatrix(4099, 77, 2);
    const got = await topk(gpu, q, x, { k: 13, variant });
    const swaps = checkAgainstReference(q, x, 13, got);
    assert.ok(swaps <= 2, `${swaps} tie swaps`);
  });

  Deno.test(`topk() handles k=1 and k=64 with inner products (${variant})`, async () => {
    const q = randomMatrix(131, 19, 3), x = randomMatrix(517, 19, 4);
    for (const k of [1, 64]) {
      const got = await topk(gpu, q, x, { k, variant, metric: "ip" });
      checkAgainstReference(q, x, k, got, "ip");
    }
  });

  Deno.test(`topk() breaks exact ties by the lower index across chunks (${variant})`, async () => {
    const x = randomMatrix(200, 8, 5);
    for (const j of [3, 70, 150, 199]) x.data.set(x.data.subarray(40 * 8, 41 * 8), j * 8);
    const q = { data: x.data.slice(40 * 8, 41 * 8), rows: 1, cols: 8 };
    for (const keysPerChunk of [undefined, 50]) {
      const options: TopkKeysOptions = { variant, metric: "ip" };
      if (keysPerChunk) options.keysPerChunk = keysPerChunk;
      const got = await topk(gpu, q, x, { ...options, k: 5 });
      assert.deepEqual([...got.indices], [3, 40, 70, 150, 199]);
      assert.equal(new Set(got.scores).size, 1);
    }
  });

  Deno.test(`topk() with C=1, k=1 and with d=1 (${variant})`, async () => {
    const q = randomMatrix(70, 5, 6), x = randomMatrix(1, 5, 7);
    const got = await topk(gpu, q, x, { k: 1, variant });
    assert.deepEqual([...got.indices], new Array(70).fill(0));
    checkAgainstReference(q, x, 1, got);
    const q1 = randomMatrix(9, 1, 8), x1 = randomMatrix(6, 1, 9);
    checkAgainstReference(
      q1,
      x1,
      6,
      await topk(gpu, q1, x1, { k: 6, variant, metric: "ip" }),
      "ip",
    );
  });

  Deno.test(`topk() chunks keys and queries past a 4096-byte binding (${variant})`, async () => {
    const small = await testGpu({ maxBindingBytes: 4096 });
    // Keys: 301 rows × 52 bytes -> 4 chunks; queries: 263 rows -> several batches.
    const q = randomMatrix(263, 13, 10), x = randomMatrix(301, 13, 11);
    const got = await topk(small, q, x, { k: 7, variant });
    checkAgainstReference(q, x, 7, got);
    // Forced small key chunks on the normal device too.
    const got2 = await topk(gpu, q, x, { k: 7, variant, keysPerChunk: 17 });
    checkAgainstReference(q, x, 7, got2);
    assert.deepEqual(got2.indices, got.indices);
  });
}

Deno.test("topk() auto variant picks registers on a fallback adapter and agrees with tiled", async () => {
  const x = randomMatrix(100, 6, 12);
  const idx = uploadTopkKeys(gpu, x);
  assert.equal(idx.variant, gpu.quirks.preferRegisters ? "registers" : "tiled");
  idx.destroy();
  const q = randomMatrix(50, 6, 13);
  const a = await topk(gpu, q, x, { k: 4, variant: "registers" });
  const b = await topk(gpu, q, x, { k: 4, variant: "tiled" });
  assert.deepEqual(a.indices, b.indices);
});

Deno.test("topk() throws RangeError when k is out of range or exceeds the keys", async () => {
  const q = randomMatrix(3, 4, 1), x = randomMatrix(5, 4, 2);
  await assert.rejects(() => topk(gpu, q, x, { k: 6 }), {
    name: "RangeError",
    message: "Expected k to be at most the number of keys (5) but found 6",
  });
  await assert.rejects(() => topk(gpu, q, randomMatrix(100, 4, 3), { k: 65 }), {
    name: "RangeError",
    message: "Expected k to be an integer in [1, 64] but found 65",
  });
  await assert.rejects(() => topk(gpu, q, x, { k: 0 }), { name: "RangeError" });
});

Deno.test("topk() rejects NaN rows and width mismatches", async () => {
  const q = randomMatrix(3, 4, 1), x = randomMatrix(5, 4, 2);
  q.data[2 * 4 + 1] = NaN;
  await assert.rejects(() => topk(gpu, q, x, { k: 2 }), {
    name: "RangeError",
    message: "Expected finite values in queries but found NaN at row 2, column 1",
  });
  await assert.rejects(() => topk(gpu, randomMatrix(3, 3, 1), x, { k: 2 }), {
    name: "TypeError",
    message: "Expected queries to have 4 columns like the keys but found 3",
  });
});

Deno.test("topk() stays exact when every key is an insertion (k=64, ascending scores)", async () => {
  // Key j scores j·ε against the query, so each key enters every list and shifts all 63
  // entries: the most loop iterations a dispatch can take. llvmpipe silently ends a shader
  // invocation's loops after 65535 iterations in total, which cut these lists short
  // before the keys per dispatch were bounded.
  const C = 3001, d = 4;
  const x = { data: new Float32Array(C * d), rows: C, cols: d };
  for (let j = 0; j < C; j++) x.data.set([1, j / C, 0.5, -0.25], j * d);
  const q = { data: new Float32Array([0, 1, 0, 0, 0, 1, 0, 0]), rows: 2, cols: d };
  for (const variant of ["registers", "tiled"] as const) {
    const got = await topk(gpu, q, x, { k: 64, variant, metric: "ip" });
    const want = Array.from({ length: 64 }, (_, t) => C - 1 - t);
    assert.deepEqual([...got.indices.subarray(0, 64)], want, variant);
    assert.deepEqual([...got.indices.subarray(64)], want, variant);
  }
});

Deno.test("topk() registers variant stays exact when one key range would be a long dispatch", async () => {
  // n=2000, C=5000, d=128 in one pass returned wrong lists on lavapipe before key ranges
  // were bounded per dispatch. Every row of both variants against float64, with the tie rule.
  const q = randomMatrix(2000, 128, 14), x = randomMatrix(5000, 128, 15);
  const all = scores64(q, x, "ip");
  for (const variant of ["registers", "tiled"] as const) {
    const got = await topk(gpu, q, x, { k: 4, variant, metric: "ip" });
    checkAgainstReference(q, x, 4, got, "ip", all);
  }
});

Deno.test("topk() passes onProgress to the search: fractions rise to 1", async () => {
  const gpu = await testGpu();
  const q = randomMatrix(33, 5, 1), x = randomMatrix(70, 5, 2);
  const seen: number[] = [];
  const got = await topk(gpu, q, x, { k: 3, keysPerChunk: 16, onProgress: (f) => seen.push(f) });
  checkAgainstReference(q, x, 3, got, "cosine");
  assert.ok(seen.length >= 1, "onProgress was never called");
  assert.equal(seen.at(-1), 1);
  for (let i = 1; i < seen.length; i++) assert.ok(seen[i]! >= seen[i - 1]!, seen.join(", "));
});

Deno.test("topkTiledPasses() covers every key of every chunk once, within the plan's splits", () => {
  const limits = { maxBindingBytes: 1 << 20, quirks: quirksFor("cpu") };
  for (
    const [n, d4, k, chunks] of [[1, 1, 1, [1]], [300, 33, 64, [5000, 0, 17]], [70, 8, 8, [
      4096,
      4096,
      3,
    ]]] as [number, number, number, number[]][]
  ) {
    let start = 0;
    const keyChunks = chunks.map((rows) => ({ rowStart: (start += rows) - rows, rows }));
    const plan = topkTiledPlan(limits, { n, d4, k, maxKeyRows: Math.max(...chunks) });
    assert.ok(plan.nqBatch >= 1 && plan.nqBatch <= n && plan.splits >= 1);
    const seen = new Uint8Array(start);
    for (const p of topkTiledPasses(plan, { nq: n, k, d4, keyChunks })) {
      const kc = keyChunks[p.chunk]!;
      assert.equal(p.keyBase, kc.rowStart);
      assert.ok(p.splits <= plan.splits && p.splits * p.span >= p.count);
      assert.ok(p.count * n * d4 * 4 <= Math.max(plan.passMacs, n * d4 * 4));
      for (let j = p.first; j < p.first + p.count; j++) seen[kc.rowStart + j]! += 1;
    }
    assert.deepEqual([...new Set(seen)], start > 0 ? [1] : []);
  }
  assert.throws(() =>
    topkTiledPlan({ ...limits, maxBindingBytes: 100 }, {
      n: 1,
      d4: 1,
      k: 8,
      maxKeyRows: 1,
    }), {
    name: "RangeError",
    message: "Expected a storage binding of at least 128 bytes for k = 8 but found 100",
  });
});

Deno.test("topkRegistersDispatches() covers every (row, key) pair once and clears each row range first", () => {
  const plan = topkRegistersPlan({ maxBindingBytes: 128 << 20, quirks: quirksFor("cpu") }, {
    n: 5000,
    d4: 2,
    k: 64,
  });
  assert.equal(plan.keysPerDispatch, topkKeysPerDispatch(2, 64));
  const blocks = [{ keyBase: 0, keys: 2048 }, { keyBase: 2048, keys: 2048 }, {
    keyBase: 4096,
    keys: 5,
  }];
  const ds = topkRegistersDispatches({ ...plan, rowsPerDispatch: 1024 }, {
    rows: 3000,
    k: 64,
    d4: 2,
    blocks,
  });
  const cover = new Map<string, number>();
  const rowRanges = new Set<string>();
  for (const d of ds) {
    assert.equal(d.first, d.block === 0 && d.keyOff === 0);
    rowRanges.add(`${d.rowBase}+${d.rows}`);
    for (let j = d.keyOff; j < d.keyOff + d.nkeys; j++) {
      const key = `${d.rowBase}:${d.keyBase + j}`;
      cover.set(key, (cover.get(key) ?? 0) + 1);
    }
  }
  assert.deepEqual([...rowRanges], ["0+1024", "1024+1024", "2048+952"]);
  assert.equal(cover.size, 3 * 4101);
  assert.deepEqual([...new Set(cover.values())], [1]);
  assert.equal(ds.filter((d) => d.endOfBlock).length, 3 * blocks.length);
});
