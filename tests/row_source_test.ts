import assert from "node:assert/strict";
import {
  gatherRows,
  openRowSource,
  partOf,
  type RowSource,
  streamRows,
  writeNpy,
} from "../src/data/mod.ts";
import type { Matrix } from "../src/matrix/matrix.ts";
import { randomMatrix, rng } from "./_gpu.ts";
import { writeShards, type WriteShardsOptions } from "./_shards.ts";
import { withDir } from "./_tmp.ts";

/** emb_0.npy (f4), emb_5.npy (f2), emb_10.arrow, …: natural, not lexical, order. */
const EMB: WriteShardsOptions = {
  name: (i) => `emb_${i * 5}`,
  formats: ["npy", "npy-f16", "arrow"],
};

/** Shards of random rows with `rowCounts` rows of `cols` values; all rows as the files hold them. */
async function shards(dir: string, rowCounts: number[], cols: number): Promise<Float32Array> {
  return (await writeShards(dir, { cols, seed: 200 }, rowCounts, EMB)).data;
}

async function streamAll(source: RowSource, batchRows: number): Promise<Matrix> {
  const data = new Float32Array(source.rows * source.cols);
  let next = 0;
  for await (const b of streamRows(source, { batchRows })) {
    assert.equal(b.rowStart, next, "batches arrive in order");
    assert.ok(b.matrix.rows >= 1 && b.matrix.rows <= batchRows);
    data.set(b.matrix.data, b.rowStart * source.cols);
    next += b.matrix.rows;
  }
  assert.equal(next, source.rows);
  return { data, rows: source.rows, cols: source.cols };
}

const ROWS = [5, 0, 7, 1, 9, 4, 3];

Deno.test("openRowSource() reads shapes of mixed shards in natural order", async () => {
  await withDir(async (dir) => {
    const all = await shards(dir, ROWS, 3);
    const source = await openRowSource([dir]);
    assert.equal(source.rows, 29);
    assert.equal(source.cols, 3);
    assert.equal(source.globalStart, 0);
    assert.deepEqual(
      source.slices.map((s) => [s.file.slice(dir.length + 1), s.rowStart, s.rowEnd]),
      [
        ["emb_0.npy", 0, 5],
        ["emb_5.npy", 0, 0],
        ["emb_10.arrow", 0, 7],
        ["emb_15.npy", 0, 1],
        ["emb_20.npy", 0, 9],
        ["emb_25.arrow", 0, 4],
        ["emb_30.npy", 0, 3],
      ],
    );
    for (const batch of [1, 2, 4, 100]) {
      assert.deepEqual((await streamAll(source, batch)).data, all, `batchRows ${batch}`);
    }
  });
});

Deno.test("partOf() splits contiguously; the parts concatenate to all rows", async () => {
  await withDir(async (dir) => {
    const all = await shards(dir, ROWS, 2);
    const source = await openRowSource([dir]);
    for (const count of [1, 2, 3, 7, 29, 40]) {
      let next = 0;
      const got = new Float32Array(all.length);
      for (let index = 0; index < count; index++) {
        const part = partOf(source, { index, count });
        assert.equal(part.globalStart, Math.floor((index * 29) / count));
        assert.equal(part.rows, Math.floor(((index + 1) * 29) / count) - part.globalStart);
        assert.equal(part.globalStart, next);
        assert.equal(part.rows, part.slices.reduce((s, x) => s + x.rowEnd - x.rowStart, 0));
        got.set((await streamAll(part, 3)).data, next * 2);
        next += part.rows;
        // A part of a part shifts globalStart again and stays inside its parent.
        if (part.rows >= 2) {
          const sub = partOf(part, { index: 1, count: 2 });
          assert.equal(sub.globalStart, part.globalStart + Math.floor(part.rows / 2));
          const subRows = (await streamAll(sub, 2)).data;
          assert.deepEqual(
            subRows,
            all.subarray(sub.globalStart * 2, (sub.globalStart + sub.rows) * 2),
          );
        }
      }
      assert.equal(next, 29);
      assert.deepEqual(got, all, `count ${count}`);
    }
  });
});

Deno.test("gatherRows() returns the listed rows of sources and parts, repeats included", async () => {
  await withDir(async (dir) => {
    const all = await shards(dir, ROWS, 3);
    const source = await openRowSource([dir]);
    const r = rng(5);
    for (
      const source2 of [
        source,
        partOf(source, { index: 1, count: 3 }),
        partOf(source, { index: 2, count: 3 }),
      ]
    ) {
      for (let trial = 0; trial < 5; trial++) {
        const m = Math.floor(r() * 2 * source2.rows);
        const rows = new Uint32Array(m).map(() => Math.floor(r() * source2.rows)).sort();
        const got = await gatherRows(source2, rows);
        assert.equal(got.rows, m);
        assert.equal(got.cols, 3);
        for (let i = 0; i < m; i++) {
          const g = source2.globalStart + rows[i]!;
          assert.deepEqual(got.data.subarray(i * 3, i * 3 + 3), all.subarray(g * 3, g * 3 + 3));
        }
      }
    }
    assert.equal((await gatherRows(source, new Uint32Array(0))).rows, 0);
  });
});

Deno.test("gatherRows() reads far-apart and dense rows of a large .npy (positioned and block reads)", async () => {
  await withDir(async (dir) => {
    const m = randomMatrix(30000, 5, 9); // 600 kB: gaps over 256 kB are sought past
    await writeNpy(`${dir}/big.npy`, m.data, [m.rows, m.cols]);
    const source = partOf(await openRowSource([dir]), { index: 1, count: 2 }); // rows 15000..29999
    const rows = new Uint32Array([0, 1, 2, 2, 40, 14000, 14998, 14999]);
    const got = await gatherRows(source, rows);
    rows.forEach((row, i) => {
      const g = (15000 + row) * 5;
      assert.deepEqual(got.data.subarray(i * 5, i * 5 + 5), m.data.subarray(g, g + 5));
    });
  });
});

Deno.test("row sources refuse bad arguments", async () => {
  await withDir(async (dir) => {
    await shards(dir, [4, 3], 2);
    const source = await openRowSource([dir]);
    assert.throws(() => partOf(source, { index: 2, count: 2 }), RangeError);
    assert.throws(() => partOf(source, { index: -1, count: 2 }), RangeError);
    assert.throws(() => partOf(source, { index: 0, count: 0 }), /integer ≥ 1/);
    assert.throws(() => partOf(source, { index: 0.5, count: 2 }), RangeError);
    await assert.rejects(() => gatherRows(source, new Uint32Array([3, 1])), /sorted ascending/);
    await assert.rejects(() => gatherRows(source, new Uint32Array([7])), /below 7 but found 7/);
    await assert.rejects(async () => {
      for await (const _ of streamRows(source, { batchRows: 0 })) { /* nothing */ }
    }, RangeError);
    await writeNpy(`${dir}/wide.npy`, new Float32Array(3), [1, 3]);
    await assert.rejects(() => openRowSource([dir]), /found 3 in .*wide.npy/);
    await assert.rejects(() => openRowSource([`${dir}/missing`]), Deno.errors.NotFound);
  });
});

Deno.test("streamRows() with reuse yields the same rows from two alternating buffers", async () => {
  await withDir(async (dir) => {
    const all = await shards(dir, [5, 0, 7, 9, 4], 3);
    const source = await openRowSource([dir]);
    const got = new Float32Array(all.length);
    const buffers: ArrayBufferLike[] = [];
    for await (const b of streamRows(source, { batchRows: 2, reuse: true })) {
      got.set(b.matrix.data, b.rowStart * 3);
      if (b.file.endsWith(".npy")) buffers.push(b.matrix.data.buffer);
    }
    assert.deepEqual(got, all);
    assert.equal(new Set(buffers).size, 2, "npy batches share two buffers");
  });
});
