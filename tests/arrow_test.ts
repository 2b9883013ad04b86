import assert from "node:assert/strict";
import { readIpcFile } from "./_arrow_ipc.ts";
import {
  Field,
  Float32,
  List,
  makeData,
  makeVector,
  Schema,
  Table,
  tableFromIPC,
  tableToIPC,
  Utf8,
  vectorFromArray,
} from "npm:apache-arrow@21.2.0";
import {
  decodeArrowEmbeddings,
  encodeArrowEmbeddings,
  readArrowEmbeddings,
  readArrowLabels,
  writeArrowEmbeddings,
  writeArrowLabels,
} from "../src/data/mod.ts";
import { scanArrowEmbeddings } from "../src/data/arrow.ts";
import { maxAbsDiff, randomMatrix } from "./_gpu.ts";
import { withDir } from "./_tmp.ts";

/** An IPC table with a `List<Float32>` column built from `rows` and an `id` column. */
function listTable(rows: number[][], format: "file" | "stream" = "file"): Uint8Array {
  const offsets = new Int32Array(rows.length + 1);
  rows.forEach((r, i) => offsets[i + 1] = offsets[i]! + r.length);
  const values = new Float32Array(rows.flat());
  const child = makeData({ type: new Float32(), length: values.length, data: values });
  const type = new List(new Field("item", new Float32(), true));
  const list = makeData({ type, length: rows.length, valueOffsets: offsets, child });
  const table = new Table({
    id: vectorFromArray(rows.map((_, i) => `row${i}`), new Utf8()),
    vec: makeVector(list),
  });
  return tableToIPC(table, format);
}

Deno.test("encodeArrowEmbeddings() and decodeArrowEmbeddings() round-trip file and stream formats", () => {
  for (const [rows, cols] of [[1, 1], [17, 5], [0, 3]] as const) {
    const m = randomMatrix(rows, cols, 11 + rows);
    for (const format of ["file", "stream"] as const) {
      const bytes = encodeArrowEmbeddings(m, { column: "embedding", format });
      assert.deepEqual(decodeArrowEmbeddings(bytes), m, `${rows}×${cols} ${format}`);
      assert.deepEqual(scanArrowEmbeddings(bytes), { rows, cols });
    }
  }
});

Deno.test("decodeArrowEmbeddings() reads a FixedSizeList<Float16> column", () => {
  const m = randomMatrix(9, 4, 2);
  const got = decodeArrowEmbeddings(encodeArrowEmbeddings(m, { column: "e", dtype: "f2" }));
  assert.deepEqual([got.rows, got.cols], [9, 4]);
  assert.ok(maxAbsDiff(got.data, m.data) < 4e-3);
  assert.ok(maxAbsDiff(got.data, m.data) > 0, "values really went through float16");
});

Deno.test("decodeArrowEmbeddings() reads a List<Float32> column, picked by default or by name", () => {
  const rows = [[1, 2, 3], [4, 5, 6]];
  for (const format of ["file", "stream"] as const) {
    const bytes = listTable(rows, format);
    const want = { data: new Float32Array([1, 2, 3, 4, 5, 6]), rows: 2, cols: 3 };
    assert.deepEqual(decodeArrowEmbeddings(bytes), want);
    assert.deepEqual(decodeArrowEmbeddings(bytes, { column: "vec" }), want);
  }
});

Deno.test("decodeArrowEmbeddings() throws RangeError naming the first ragged row", () => {
  assert.throws(
    () => decodeArrowEmbeddings(listTable([[1, 2], [3, 4], [5]]), { name: "r.arrow" }),
    {
      name: "RangeError",
      message:
        'Expected every row of column "vec" of r.arrow to hold 2 values but found 1 at row 2',
    },
  );
});

Deno.test("decodeArrowEmbeddings() throws RangeError naming the available columns", () => {
  assert.throws(() => decodeArrowEmbeddings(listTable([[1]]), { column: "emb", name: "c.arrow" }), {
    name: "RangeError",
    message:
      'Expected c.arrow to have a column named "emb" but found columns: id (Utf8), vec (List<Float32>)',
  });
});

Deno.test("decodeArrowEmbeddings() throws TypeError for a column that is not a float list", () => {
  assert.throws(() => decodeArrowEmbeddings(listTable([[1]]), { column: "id", name: "c.arrow" }), {
    name: "TypeError",
    message:
      'Expected column "id" of c.arrow to be FixedSizeList or List of Float16, Float32 or Float64 but found Utf8',
  });
  const ints = tableToIPC(new Table({ n: makeVector(new Int32Array([1, 2])) }));
  assert.throws(() => decodeArrowEmbeddings(ints, { name: "i.arrow" }), {
    name: "TypeError",
    message: "Expected i.arrow to have a list column of floats but found columns: n (Int32)",
  });
});

Deno.test("decodeArrowEmbeddings() throws RangeError for a null row and for bytes that are not Arrow", () => {
  const child = makeData({ type: new Float32(), length: 4, data: new Float32Array(4) });
  const type = new List(new Field("item", new Float32(), true));
  const list = makeData({
    type,
    length: 2,
    nullCount: 1,
    nullBitmap: new Uint8Array([0b01]),
    valueOffsets: new Int32Array([0, 2, 2]),
    child,
  });
  const bytes = tableToIPC(new Table({ vec: makeVector(list) }));
  assert.throws(() => decodeArrowEmbeddings(bytes, { name: "n.arrow" }), {
    name: "RangeError",
    message: 'Expected column "vec" of n.arrow to have no nulls but found a null at row 1',
  });
  assert.throws(
    () => decodeArrowEmbeddings(new TextEncoder().encode("not arrow at all"), { name: "g.arrow" }),
    {
      name: "RangeError",
      message: /^Expected g\.arrow to be an Arrow IPC file or stream but could not parse it/,
    },
  );
});

Deno.test("decodeArrowEmbeddings() names a List column without rows, a truncated file and trailing bytes", () => {
  // A List column's width comes from its rows: none (no record batch, or empty ones) is refused.
  const schema = new Schema([new Field("vec", new List(new Field("item", new Float32(), true)))]);
  for (const bytes of [tableToIPC(new Table(schema)), listTable([], "stream")]) {
    assert.throws(() => decodeArrowEmbeddings(bytes, { name: "e.arrow" }), {
      name: "RangeError",
      message:
        "Expected column \"vec\" of e.arrow to hold at least one row (a List column's width is its rows' length) but found none",
    });
  }
  const good = listTable([[1, 2, 3], [4, 5, 6]]);
  for (const cut of [20, good.length >> 1]) {
    assert.throws(
      () => decodeArrowEmbeddings(good.subarray(0, good.length - cut), { name: "t.arrow" }),
      {
        name: "RangeError",
        message:
          "Expected t.arrow to be a complete Arrow IPC file but found it truncated (it does not end with the file footer and the ARROW1 magic)",
      },
    );
  }
  const stream = listTable([[1, 2, 3], [4, 5, 6]], "stream");
  assert.throws(
    () => decodeArrowEmbeddings(stream.subarray(0, stream.length - 20), { name: "s.arrows" }),
    {
      name: "RangeError",
      message:
        /^Expected s\.arrows to be a complete Arrow IPC stream but found it truncated \(a message needs \d+ bytes and \d+ remain\)$/,
    },
  );
  const appended = new Uint8Array(good.length + 7);
  appended.set(good);
  appended.set([1, 2, 3, 4, 5, 6, 7], good.length);
  assert.throws(() => decodeArrowEmbeddings(appended, { name: "a.arrow" }), {
    name: "RangeError",
    message: "Expected a.arrow to end with its Arrow IPC file footer but found 7 bytes after it",
  });
});

Deno.test("decodeArrowEmbeddings() fills options.into and checks its length", () => {
  const m = randomMatrix(3, 2, 4);
  const bytes = encodeArrowEmbeddings(m);
  const into = new Float32Array(6);
  assert.equal(decodeArrowEmbeddings(bytes, { into }).data, into);
  assert.deepEqual(into, m.data);
  assert.throws(() => decodeArrowEmbeddings(bytes, { into: new Float32Array(5) }), {
    name: "TypeError",
    message: "Expected options.into to hold 3 × 2 = 6 values but found 5",
  });
});

Deno.test("writeArrowEmbeddings() and readArrowEmbeddings() round-trip through a file", async () => {
  await withDir(async (dir) => {
    const m = randomMatrix(21, 6, 9);
    await writeArrowEmbeddings(`${dir}/e.arrow`, m, { column: "clip" });
    await writeArrowEmbeddings(`${dir}/s.ipc`, m, { column: "clip", format: "stream" });
    assert.deepEqual(await readArrowEmbeddings(`${dir}/e.arrow`, { column: "clip" }), m);
    assert.deepEqual(await readArrowEmbeddings(`${dir}/s.ipc`), m);
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name).sort(), ["e.arrow", "s.ipc"]);
  });
});

Deno.test("writeArrowLabels() and readArrowLabels() round-trip labels, scores and ids", async () => {
  await withDir(async (dir) => {
    const labels = new Uint32Array([4, 1, 0, 3, 4294967295, 2]);
    const scores = new Float32Array([0.9, 0.5, 0.25, 0.125, -1, 0]);
    await writeArrowLabels(`${dir}/a.arrow`, { indices: labels, scores, l: 2 });
    assert.deepEqual(await readArrowLabels(`${dir}/a.arrow`), {
      indices: labels,
      scores,
      l: 2,
      rows: 3,
    });
    // An independent reader (tests/_arrow_ipc.ts, from the format's spec, not apache-arrow)
    // sees the documented layout: labels FixedSizeList<UInt32>[l], scores FixedSizeList<Float32>[l].
    assert.deepEqual(readIpcFile(await Deno.readFile(`${dir}/a.arrow`)), [
      { name: "labels", type: "fixed_size_list<uint32>[2]", values: labels, listSize: 2 },
      { name: "scores", type: "fixed_size_list<float32>[2]", values: scores, listSize: 2 },
    ]);
    for (
      const ids of [new BigInt64Array([10n, 20n, 30n]), new Int32Array([7, 8, 9]), ["a", "b", "c"]]
    ) {
      await writeArrowLabels(`${dir}/b.arrow`, {
        indices: labels,
        scores,
        l: 3,
        ids: ids.slice(0, 2),
      });
      const back = await readArrowLabels(`${dir}/b.arrow`);
      assert.deepEqual(back, { indices: labels, scores, l: 3, rows: 2, ids: ids.slice(0, 2) });
      const [a, b, id] = readIpcFile(await Deno.readFile(`${dir}/b.arrow`));
      assert.deepEqual([a, b], [
        { name: "labels", type: "fixed_size_list<uint32>[3]", values: labels, listSize: 3 },
        { name: "scores", type: "fixed_size_list<float32>[3]", values: scores, listSize: 3 },
      ]);
      const idType = ids instanceof BigInt64Array
        ? "int64"
        : ids instanceof Int32Array
        ? "int32"
        : "utf8";
      assert.deepEqual(id, { name: "id", type: idType, values: ids.slice(0, 2) });
    }
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name).sort(), ["a.arrow", "b.arrow"]);
  });
});

Deno.test("writeArrowLabels() throws RangeError for a bad l, TypeError for mismatched lengths", async () => {
  const labels = new Uint32Array(6), scores = new Float32Array(6);
  await assert.rejects(
    () => writeArrowLabels("/nonexistent/x.arrow", { indices: labels, scores, l: 0 }),
    {
      name: "RangeError",
      message: "Expected l to be a positive integer but found 0",
    },
  );
  await assert.rejects(
    () => writeArrowLabels("/nonexistent/x.arrow", { indices: labels, scores, l: 4 }),
    {
      name: "TypeError",
      message: "Expected indices and scores to hold rows × 4 values each but found 6 and 6",
    },
  );
  await assert.rejects(
    () => writeArrowLabels("/nonexistent/x.arrow", { indices: labels, scores, l: 2, ids: ["a"] }),
    { name: "TypeError", message: "Expected ids to hold 3 values but found 1" },
  );
});

Deno.test("decodeArrowEmbeddings() concatenates several record batches in order", () => {
  const a = randomMatrix(5, 3, 1), b = randomMatrix(4, 3, 2);
  const batches = [a, b].flatMap((m) => tableFromIPC(encodeArrowEmbeddings(m)).batches);
  const bytes = tableToIPC(new Table(batches), "stream");
  const got = decodeArrowEmbeddings(bytes);
  assert.deepEqual([got.rows, got.cols], [9, 3]);
  assert.deepEqual(got.data, new Float32Array([...a.data, ...b.data]));
});
