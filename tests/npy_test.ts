import assert from "node:assert/strict";
import { atomicPath } from "../src/data/atomic.ts";
import {
  decodeNpy,
  decodeNpyMatrix,
  encodeNpy,
  float16ToFloat32,
  readNpy,
  readNpyArray,
  readNpyHeader,
  writeFileAtomic,
  writeNpy,
} from "../src/data/mod.ts";
import { maxAbsDiff, randomMatrix } from "./_gpu.ts";
import { peerTest, pythonPeer } from "./_peer.ts";
import { python } from "./_python.ts";
import { withDir } from "./_tmp.ts";

const NUMPY = await pythonPeer("numpy (apt-get install python3-numpy)", ["numpy"]);

/** A hand-made npy file: v1 header with `dict`, then `data`. */
function rawNpy(dict: string, data: Uint8Array, major = 1): Uint8Array {
  const prefix = major === 1 ? 10 : 12;
  const total = Math.ceil((prefix + dict.length + 1) / 64) * 64;
  const head = new Uint8Array(total);
  head.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, major, 0]);
  const view = new DataView(head.buffer);
  if (major === 1) view.setUint16(8, total - prefix, true);
  else view.setUint32(8, total - prefix, true);
  const text = dict.padEnd(total - prefix - 1, " ") + "\n";
  for (let i = 0; i < text.length; i++) head[prefix + i] = text.charCodeAt(i);
  const out = new Uint8Array(total + data.length);
  out.set(head);
  out.set(data, total);
  return out;
}

Deno.test("encodeNpy() and decodeNpy() round-trip float32 on odd shapes", () => {
  for (const [rows, cols] of [[1, 1], [7, 3], [13, 77], [0, 5]] as const) {
    const m = randomMatrix(rows, cols, rows * 100 + cols);
    const a = decodeNpy(encodeNpy(m.data, [rows, cols]), "x.npy");
    assert.equal(a.dtype, "f4");
    assert.deepEqual(a.shape, [rows, cols]);
    assert.deepEqual(a.data, m.data);
  }
});

Deno.test("encodeNpy() and decodeNpy() round-trip uint32, int32, uint8 and 1-D/3-D shapes", () => {
  const u = new Uint32Array([0, 1, 4294967295, 7, 9]);
  assert.deepEqual(decodeNpy(encodeNpy(u, [5])), { dtype: "u4", shape: [5], data: u });
  const i = new Int32Array([-2147483648, -1, 0, 2147483647, 3, 4]);
  assert.deepEqual(decodeNpy(encodeNpy(i, [2, 3])), { dtype: "i4", shape: [2, 3], data: i });
  const b = new Uint8Array([0, 255, 3, 4, 5, 6, 7, 8]);
  assert.deepEqual(decodeNpy(encodeNpy(b, [2, 2, 2])), { dtype: "u1", shape: [2, 2, 2], data: b });
  const s = decodeNpy(encodeNpy(new Float32Array([2.5]), []));
  assert.deepEqual(s.shape, []);
  assert.deepEqual(s.data, new Float32Array([2.5]));
});

Deno.test("encodeNpy() writes 64-byte aligned headers", () => {
  const bytes = encodeNpy(new Float32Array(3), [3]);
  const len = new DataView(bytes.buffer).getUint16(8, true);
  assert.equal((10 + len) % 64, 0);
  assert.equal(bytes[10 + len - 1], 0x0a);
  assert.match(new TextDecoder().decode(bytes.subarray(10, 10 + len)), /'shape': \(3,\), \}/);
});

Deno.test("encodeNpy() stores float16 within float16 precision and decodeNpy() converts it", () => {
  const m = randomMatrix(9, 5, 3);
  const bytes = encodeNpy(m.data, [9, 5], { dtype: "f2" });
  assert.equal(bytes.length, 128 + 45 * 2);
  const a = decodeNpy(bytes);
  assert.equal(a.dtype, "f2");
  assert.ok(a.data instanceof Float32Array);
  for (let i = 0; i < m.data.length; i++) {
    const v = m.data[i]!;
    assert.ok(Math.abs(a.data[i]! - v) <= Math.abs(v) * 2 ** -11 + 2 ** -24, `index ${i}`);
  }
  const exact = new Float32Array([0, 1, -2, 0.5, 65504, 2 ** -14]);
  assert.deepEqual(decodeNpy(encodeNpy(exact, [6], { dtype: "f2" })).data, exact);
});

Deno.test("decodeNpy() reads version 2 and 3 headers", () => {
  const data = new Uint8Array(new Float32Array([1, 2, 3, 4, 5, 6]).buffer);
  const dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
  for (const major of [2, 3]) {
    const a = decodeNpy(rawNpy(dict, data, major));
    assert.deepEqual(a.shape, [2, 3]);
    assert.deepEqual(a.data, new Float32Array([1, 2, 3, 4, 5, 6]));
  }
});

Deno.test("decodeNpy() converts float64 and int64 and accepts python 2 long shapes", () => {
  const f8 = new Uint8Array(new Float64Array([1.5, -2.25]).buffer);
  const a = decodeNpy(rawNpy("{'descr': '<f8', 'fortran_order': False, 'shape': (2L,), }", f8));
  assert.equal(a.dtype, "f8");
  assert.deepEqual(a.data, new Float32Array([1.5, -2.25]));
  const i8 = new Uint8Array(new BigInt64Array([-5n, 7n]).buffer);
  const b = decodeNpy(rawNpy("{'descr': '<i8', 'fortran_order': False, 'shape': (2,), }", i8));
  assert.deepEqual(b.data, new Int32Array([-5, 7]));
  const big = new Uint8Array(new BigInt64Array([1n, 2n ** 40n]).buffer);
  assert.throws(
    () => decodeNpy(rawNpy("{'descr': '<i8', 'fortran_order': False, 'shape': (2,), }", big)),
    {
      name: "RangeError",
      message:
        "Expected the int64 values of npy to fit in int32 but found 1099511627776 at index 1",
    },
  );
});

Deno.test("decodeNpy() throws RangeError for a bad magic string", () => {
  const bytes = encodeNpy(new Float32Array(2), [2]);
  bytes[1] = 0x58;
  assert.throws(() => decodeNpy(bytes, "bad.npy"), {
    name: "RangeError",
    message:
      'Expected bad.npy to start with the npy magic string 93 4e 55 4d 50 59 ("\\x93NUMPY") but found 93 58 55 4d 50 59',
  });
  assert.throws(() => decodeNpy(new Uint8Array(0), "empty.npy"), {
    name: "RangeError",
    message: /but found an empty file$/,
  });
});

Deno.test("decodeNpy() throws RangeError for truncated data, truncated headers and trailing bytes", () => {
  const bytes = encodeNpy(new Float32Array(12), [3, 4]);
  assert.throws(() => decodeNpy(bytes.subarray(0, bytes.length - 5), "t.npy"), {
    name: "RangeError",
    message:
      "Expected t.npy to hold 48 data bytes for shape (3, 4) and dtype 'f4' but found 43 (truncated file)",
  });
  assert.throws(() => decodeNpy(bytes.subarray(0, 40), "t.npy"), {
    name: "RangeError",
    message: "Expected t.npy to hold a 118-byte npy header but found 30 bytes (truncated file)",
  });
  const longer = new Uint8Array(bytes.length + 4);
  longer.set(bytes);
  assert.throws(() => decodeNpy(longer, "t.npy"), {
    name: "RangeError",
    message:
      "Expected t.npy to hold 48 data bytes for shape (3, 4) and dtype 'f4' but found 52 (trailing bytes)",
  });
});

Deno.test("decodeNpy() throws RangeError for Fortran order and accepts it for 1-D data", () => {
  const data = new Uint8Array(24);
  assert.throws(
    () =>
      decodeNpy(
        rawNpy("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }", data),
        "f.npy",
      ),
    {
      name: "RangeError",
      message:
        "Cannot read f.npy: fortran_order True is not supported for shape (2, 3); save a C-order array (np.ascontiguousarray)",
    },
  );
  const ok = decodeNpy(rawNpy("{'descr': '<f4', 'fortran_order': True, 'shape': (6,), }", data));
  assert.deepEqual(ok.shape, [6]);
});

Deno.test("decodeNpy() throws TypeError naming an unsupported or big-endian dtype", () => {
  assert.throws(
    () =>
      decodeNpy(
        rawNpy("{'descr': '<c8', 'fortran_order': False, 'shape': (1,), }", new Uint8Array(8)),
        "c.npy",
      ),
    {
      name: "TypeError",
      message:
        "Expected c.npy to have dtype float16, float32, float64, uint8, uint32, int32 or int64 but found '<c8'",
    },
  );
  assert.throws(
    () =>
      decodeNpy(
        rawNpy("{'descr': '>f4', 'fortran_order': False, 'shape': (1,), }", new Uint8Array(4)),
        "b.npy",
      ),
    {
      name: "TypeError",
      message:
        "Expected b.npy to be little-endian but found big-endian dtype '>f4' (convert with arr.astype('<f4'))",
    },
  );
  assert.throws(
    () =>
      decodeNpy(
        rawNpy(
          "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }",
          new Uint8Array(4),
        ),
        "s.npy",
      ),
    { name: "TypeError", message: /found a structured dtype$/ },
  );
});

Deno.test("decodeNpy() throws RangeError for a malformed header dict", () => {
  assert.throws(
    () => decodeNpy(rawNpy("{'descr': '<f4', 'shape': (1,), }", new Uint8Array(4)), "h.npy"),
    {
      name: "RangeError",
      message:
        /^Expected h\.npy to have an npy header dict with 'descr', 'fortran_order' and 'shape' but found /,
    },
  );
});

Deno.test("decodeNpy() throws RangeError for a header dict that repeats a key", () => {
  // numpy reads the dict as a Python literal, so the last 'shape' wins; we read neither.
  const data = new Uint8Array(6 * 4);
  const dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), 'shape': (3, 2), }";
  assert.throws(() => decodeNpy(rawNpy(dict, data), "d.npy"), {
    name: "RangeError",
    message: "Expected d.npy to have an npy header dict with each key once but found 'shape' twice",
  });
});

Deno.test("decodeNpyMatrix() maps 1-D to n × 1 and rejects other dtypes and ranks", () => {
  const m = decodeNpyMatrix(encodeNpy(new Float32Array([1, 2, 3]), [3]), "v.npy");
  assert.deepEqual(m, { data: new Float32Array([1, 2, 3]), rows: 3, cols: 1 });
  assert.throws(() => decodeNpyMatrix(encodeNpy(new Uint32Array(4), [2, 2]), "u.npy"), {
    name: "TypeError",
    message: "Expected u.npy to have dtype float16, float32 or float64 but found 'u4'",
  });
  assert.throws(() => decodeNpyMatrix(encodeNpy(new Float32Array(8), [2, 2, 2]), "r.npy"), {
    name: "TypeError",
    message: "Expected r.npy to be a 1-D or 2-D array but found shape (2, 2, 2)",
  });
});

Deno.test("encodeNpy() throws TypeError when the shape does not match the data", () => {
  assert.throws(() => encodeNpy(new Float32Array(5), [2, 3]), {
    name: "TypeError",
    message: "Expected shape (2, 3) to hold 6 values but found 5",
  });
});

Deno.test("writeNpy() and readNpy() round-trip float32 and float16 files", async () => {
  await withDir(async (dir) => {
    const m = randomMatrix(33, 7, 5);
    await writeNpy(`${dir}/a.npy`, m.data, [33, 7]);
    assert.deepEqual(await readNpy(`${dir}/a.npy`), m);
    await writeNpy(`${dir}/h.npy`, m.data, [33, 7], { dtype: "f2" });
    const h = await readNpy(`${dir}/h.npy`);
    assert.equal(h.rows, 33);
    assert.ok(maxAbsDiff(h.data, m.data) < 4e-3);
    assert.deepEqual(await readNpyHeader(`${dir}/h.npy`), {
      dtype: "f2",
      shape: [33, 7],
      fortranOrder: false,
      dataOffset: 128,
    });
    await writeNpy(`${dir}/u.npy`, new Uint32Array([5, 6]), [1, 2]);
    assert.deepEqual((await readNpyArray(`${dir}/u.npy`)).data, new Uint32Array([5, 6]));
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name).sort(), [
      "a.npy",
      "h.npy",
      "u.npy",
    ]);
  });
});

Deno.test("readNpy() throws RangeError naming a truncated file", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/truncated.npy`;
    await Deno.writeFile(path, encodeNpy(new Float32Array(12), [3, 4]).subarray(0, 130));
    await assert.rejects(() => readNpy(path), {
      name: "RangeError",
      message:
        `Expected ${path} to hold 48 data bytes for shape (3, 4) and dtype 'f4' but found 2 (truncated file)`,
    });
  });
});

peerTest({
  name:
    "readNpy() reads files written by numpy (float32, float16, 1-D, v2, v3) and numpy reads writeNpy()",
  needs: [NUMPY],
  fn: async () => {
    await withDir(async (dir) => {
      await python([
        "-c",
        `
import numpy as np
rng = np.random.default_rng(0)
a = rng.standard_normal((37, 19)).astype(np.float32)
np.save("${dir}/img_emb_0.npy", a)
np.save("${dir}/img_emb_1.npy", a.astype(np.float16))
np.save("${dir}/vec.npy", a[:, 0].copy())
np.save("${dir}/f8.npy", a.astype(np.float64))
np.save("${dir}/fortran.npy", np.asfortranarray(a))
np.save("${dir}/big.npy", a.astype(">f4"))
np.save("${dir}/i8.npy", np.arange(-3, 4))
np.save("${dir}/bool.npy", a > 0)
with open("${dir}/v2.npy", "wb") as f: np.lib.format.write_array(f, a, version=(2, 0))
with open("${dir}/v3.npy", "wb") as f: np.lib.format.write_array(f, a, version=(3, 0))
a.tofile("${dir}/raw.f32")
`,
      ]);
      const raw = new Float32Array((await Deno.readFile(`${dir}/raw.f32`)).buffer);
      const a = { data: raw, rows: 37, cols: 19 };
      assert.deepEqual(await readNpy(`${dir}/img_emb_0.npy`), a);
      assert.deepEqual(await readNpy(`${dir}/v2.npy`), a);
      assert.deepEqual(await readNpy(`${dir}/v3.npy`), a);
      assert.deepEqual(await readNpy(`${dir}/f8.npy`), a);
      const h = await readNpy(`${dir}/img_emb_1.npy`);
      assert.ok(maxAbsDiff(h.data, raw) < 4e-3);
      const exactF16 = decodeNpy(encodeNpy(raw, [37, 19], { dtype: "f2" })).data;
      assert.deepEqual(h.data, exactF16, "our float16 rounding equals numpy's");
      const v = await readNpy(`${dir}/vec.npy`);
      assert.deepEqual([v.rows, v.cols], [37, 1]);
      assert.equal(v.data[1], raw[19]);
      assert.deepEqual(
        (await readNpyArray(`${dir}/i8.npy`)).data,
        new Int32Array([-3, -2, -1, 0, 1, 2, 3]),
      );
      await assert.rejects(() => readNpy(`${dir}/fortran.npy`), {
        name: "RangeError",
        message: /fortran_order True is not supported/,
      });
      await assert.rejects(() => readNpy(`${dir}/big.npy`), {
        name: "TypeError",
        message: /big-endian dtype '>f4'/,
      });
      await assert.rejects(() => readNpy(`${dir}/bool.npy`), {
        name: "TypeError",
        message: /found '\|b1'$/,
      });

      await writeNpy(`${dir}/ours.npy`, raw, [37, 19]);
      await writeNpy(`${dir}/ours16.npy`, raw, [37, 19], { dtype: "f2" });
      await writeNpy(`${dir}/ours_u4.npy`, new Uint32Array([1, 2, 3]), [3]);
      const out = await python([
        "-c",
        `
import numpy as np
a = np.fromfile("${dir}/raw.f32", dtype=np.float32).reshape(37, 19)
b = np.load("${dir}/ours.npy"); c = np.load("${dir}/ours16.npy"); u = np.load("${dir}/ours_u4.npy")
print(b.dtype, b.shape, bool((b == a).all()), c.dtype, bool((c == a.astype(np.float16)).all()), u.dtype, u.tolist())
`,
      ]);
      assert.equal(out.trim(), "float32 (37, 19) True float16 True uint32 [1, 2, 3]");
    });
  },
});

Deno.test("writeFileAtomic() leaves no temporary file on success", async () => {
  await withDir(async (dir) => {
    await writeFileAtomic(`${dir}/out.bin`, new Uint8Array([1, 2, 3]));
    await writeFileAtomic(`${dir}/out.bin`, async function* () {
      yield new Uint8Array([4]);
      yield new Uint8Array([5, 6]);
    });
    assert.deepEqual(await Deno.readFile(`${dir}/out.bin`), new Uint8Array([4, 5, 6]));
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["out.bin"]);
  });
});

Deno.test("writeFileAtomic() keeps the old file and removes the temporary file when the writer throws", async () => {
  await withDir(async (dir) => {
    await Deno.writeFile(`${dir}/out.bin`, new Uint8Array([9, 9]));
    await assert.rejects(
      () =>
        writeFileAtomic(`${dir}/out.bin`, async function* () {
          yield new Uint8Array([1, 2, 3]);
          throw new Error("writer failed");
        }),
      { name: "Error", message: "writer failed" },
    );
    assert.deepEqual(await Deno.readFile(`${dir}/out.bin`), new Uint8Array([9, 9]));
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["out.bin"]);
    await assert.rejects(
      () => writeFileAtomic(`${dir}/missing/out.bin`, new Uint8Array(1)),
      Deno.errors.NotFound,
    );
  });
});

Deno.test("atomicPath() returns distinct temporary names beside the target", () => {
  const a = atomicPath("/x/y.npy"), b = atomicPath("/x/y.npy");
  assert.match(a, /^\/x\/y\.npy\.tmp-[0-9a-f]{12}$/);
  assert.notEqual(a, b);
});

Deno.test("float16ToFloat32() converts all 65,536 float16 patterns exactly", () => {
  const bits = Uint16Array.from({ length: 65536 }, (_, i) => i);
  const got = float16ToFloat32(bits);
  const want = new Float32Array(new Float16Array(bits.buffer));
  for (let i = 0; i < 65536; i++) {
    assert.ok(
      Object.is(got[i], want[i]) || (Number.isNaN(got[i]) && Number.isNaN(want[i])),
      `0x${i.toString(16)}`,
    );
  }
  assert.deepEqual(
    float16ToFloat32(new Uint16Array([0x3c00, 0x8000, 0x0001])),
    new Float32Array([1, -0, 2 ** -24]),
  );
  assert.throws(() => float16ToFloat32(new Uint16Array(3), new Float32Array(2)), {
    name: "RangeError",
    message: "Expected out to hold at least 3 values but found 2",
  });
});
