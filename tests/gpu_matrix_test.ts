import assert from "node:assert/strict";
import {
  countUploads,
  downloadMatrix,
  type GpuMatrix,
  matrixStats,
  normalizeRowsGpu,
  readBack,
  repackMatrix,
  upload,
  uploadMatrix,
  type UploadMatrixOptions,
} from "../src/gpu/mod.ts";
import type { Matrix } from "../src/matrix/matrix.ts";
import { tf, useTfBackend } from "../src/model/tf.ts";
import { randomMatrix, testGpu } from "./_gpu.ts";

const gpu = await testGpu();

/** Float64 reference of a packed matrix: gathered, normalised, `rows × stride` with zeros. */
function reference(m: Matrix, o: UploadMatrixOptions, stride: number): Float64Array {
  const rows = o.index ? [...o.index] : Array.from({ length: m.rows }, (_, i) => i);
  const out = new Float64Array(rows.length * stride);
  rows.forEach((row, r) => {
    const v = Float64Array.from(m.data.subarray(row * m.cols, (row + 1) * m.cols));
    const s = Math.sqrt(v.reduce((a, b) => a + b * b, 0));
    for (let c = 0; c < m.cols; c++) out[r * stride + c] = o.normalize && s > 0 ? v[c]! / s : v[c]!;
  });
  return out;
}

/** The raw stored values of every chunk, widened from f16 when needed, `rows × stride`. */
async function stored(g: GpuMatrix): Promise<Float64Array> {
  const unit = g.dtype === "f16" ? 2 : 4;
  const parts = await readBack(
    gpu,
    g.chunks.map((c) => ({ buffer: c.buffer, bytes: Math.max(4, c.rows * g.stride * unit) })),
  );
  const out = new Float64Array(g.rows * g.stride);
  g.chunks.forEach((c, i) => {
    const v = g.dtype === "f16"
      ? new (globalThis as unknown as { Float16Array: new (b: ArrayBuffer) => ArrayLike<number> })
        .Float16Array(parts[i]!)
      : new Float32Array(parts[i]!);
    for (let j = 0; j < c.rows * g.stride; j++) out[c.rowStart * g.stride + j] = v[j]!;
  });
  return out;
}

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

Deno.test("uploadMatrix() pads, converts, normalises and gathers like a float64 reference on odd shapes", async () => {
  const cases: [number, number, UploadMatrixOptions][] = [
    [67, 1, {}],
    [67, 1, { normalize: true, maxRowsPerChunk: 10 }],
    [130, 5, { normalize: true }],
    [130, 5, { dtype: "f16", maxRowsPerChunk: 7 }],
    [130, 5, { dtype: "f16", normalize: true, align: 1 }],
    [65, 33, { normalize: true, maxRowsPerChunk: 64, stride: 40 }],
    [0, 5, { normalize: true }],
    [90, 6, { index: new Uint32Array([89, 0, 5, 5, 44, 3, 70]), normalize: true }],
    [90, 6, { index: new Uint32Array([2, 88, 1]), dtype: "f16", maxRowsPerChunk: 2 }],
  ];
  for (const [rows, d, o] of cases) {
    const m = randomMatrix(rows, d, rows * 7 + d);
    if (rows > 3) m.data.fill(0, 3 * d, 4 * d); // an all-zero row stays zero
    const g = uploadMatrix(gpu, m, o);
    const what = `rows=${rows} d=${d} ${JSON.stringify({ ...o, index: o.index?.length })}`;
    try {
      const n = o.index ? o.index.length : rows;
      const stride = o.stride ?? Math.ceil(d / (o.align ?? 4)) * (o.align ?? 4) +
          (o.dtype === "f16" && o.stride === undefined && d % 2 === 1 && (o.align ?? 4) === 1
            ? 1
            : 0);
      assert.equal(g.rows, n, what);
      assert.equal(g.cols, d, what);
      assert.equal(g.stride, stride, what);
      assert.equal(g.dtype, o.dtype ?? "f32", what);
      assert.equal(g.normalized, o.normalize ?? false, what);
      const per = o.maxRowsPerChunk ?? Infinity;
      assert.ok(g.chunks.every((c) => c.rows <= per), what);
      assert.equal(g.chunks.reduce((a, c) => a + c.rows, 0), n, what);
      const tol = o.dtype === "f16" ? 2e-3 * Math.max(1, o.normalize ? 1 : 4) : 1e-6;
      const want = reference(m, o, stride);
      assert.ok(maxDiff(await stored(g), want) <= tol, what);
      const back = await downloadMatrix(gpu, g);
      assert.equal(back.rows, n);
      const unpadded = new Float64Array(n * d);
      for (let r = 0; r < n; r++) {
        for (let c = 0; c < d; c++) unpadded[r * d + c] = want[r * stride + c]!;
      }
      assert.ok(maxDiff(back.data, unpadded) <= tol, what);
    } finally {
      g.destroy();
    }
  }
});

Deno.test("uploadMatrix() splits rows over chunks under a forced binding limit", async () => {
  const small = await testGpu({ maxBindingBytes: 1000 });
  const m = randomMatrix(101, 7, 1); // 8 padded floats = 32 bytes/row → 31 rows per chunk
  const g = uploadMatrix(small, m);
  assert.deepEqual(g.chunks.map((c) => c.rows), [31, 31, 31, 8]);
  assert.deepEqual((await downloadMatrix(small, g)).data, m.data);
  g.destroy();
});

Deno.test("uploadMatrix() throws RangeError naming the row of a non-finite value", () => {
  const m = randomMatrix(5, 3, 2);
  m.data[7] = NaN;
  assert.throws(() => uploadMatrix(gpu, m, { normalize: true }), {
    name: "RangeError",
    message: "Expected finite values in the matrix but found NaN at row 2, column 1",
  });
  assert.throws(() => uploadMatrix(gpu, randomMatrix(5, 3, 2), { index: new Uint32Array([5]) }), {
    name: "RangeError",
    message: "Expected index[0] to be a row in [0, 4] but found 5",
  });
  assert.throws(() => uploadMatrix(gpu, randomMatrix(5, 3, 2), { stride: 2 }), {
    name: "RangeError",
    message: "Expected stride to be an integer ≥ cols = 3 but found 2",
  });
});

Deno.test("repackMatrix() gathers, converts and re-chunks on the GPU like a float64 reference", async () => {
  const m = randomMatrix(150, 9, 3);
  const g = uploadMatrix(gpu, m, { maxRowsPerChunk: 40 });
  const index = new Uint32Array([149, 0, 41, 40, 39, 80, 7, 7]);
  for (
    const o of [
      { index, normalize: true, maxRowsPerChunk: 3 },
      { dtype: "f16" as const, normalize: true },
      { stride: 9, maxRowsPerChunk: 64 },
    ]
  ) {
    const r = repackMatrix(gpu, g, o);
    const stride = o.stride ?? 12;
    const tol = o.dtype === "f16" ? 2e-3 : 1e-6;
    assert.ok(maxDiff(await stored(r), reference(m, o, stride)) <= tol, JSON.stringify(o));
    // and from f16 back to f32
    const back = repackMatrix(gpu, r, {});
    assert.ok(maxDiff(await stored(back), reference(m, o, 12)) <= tol);
    back.destroy();
    r.destroy();
  }
  g.destroy();
});

Deno.test("normalizeRowsGpu() normalises f32 and f16 rows in place; matrixStats() scans them", async () => {
  for (const dtype of ["f32", "f16"] as const) {
    const m = randomMatrix(70, 5, 9);
    m.data.fill(0, 10, 15); // row 2
    m.data[33] = -7.5;
    const g = uploadMatrix(gpu, m, { dtype, maxRowsPerChunk: 64 });
    const s = await matrixStats(gpu, g);
    assert.equal(s.firstZeroRow, 2);
    assert.equal(s.firstNonFiniteRow, -1);
    assert.equal(s.maxAbs, 7.5);
    normalizeRowsGpu(gpu, g);
    assert.equal(g.normalized, true);
    const tol = dtype === "f16" ? 2e-3 : 1e-6;
    assert.ok(maxDiff(await stored(g), reference(m, { normalize: true }, 8)) <= tol, dtype);
    g.destroy();
  }
});

Deno.test("countUploads() counts the bytes written through the queue until stopped", () => {
  const counter = countUploads(gpu);
  const b = upload(gpu, new Float32Array(10));
  gpu.device.queue.writeBuffer(b, 0, new Float32Array(10), 2, 3);
  gpu.device.queue.writeBuffer(b, 0, new Uint8Array(8).buffer);
  counter.stop();
  upload(gpu, new Float32Array(10)).destroy();
  b.destroy();
  assert.equal(counter.bytes, 40 + 12 + 8);
  assert.equal(counter.writes, 3);
});

Deno.test("countUploads() counts the bytes written through buffers mapped at creation (tfjs's uploads)", async () => {
  const counter = countUploads(gpu);
  const m = gpu.device.createBuffer({
    size: 24,
    usage: GPUBufferUsage.COPY_SRC,
    mappedAtCreation: true,
  });
  new Float32Array(m.getMappedRange(0, 16)).set([1, 2, 3, 4]);
  m.unmap();
  const plain = gpu.device.createBuffer({ size: 64, usage: GPUBufferUsage.STORAGE });
  await useTfBackend(gpu);
  const t = tf.tensor1d(new Float32Array(10)); // tfjs uploads through a mapped staging buffer
  const sum = tf.sum(t);
  await sum.data();
  counter.stop();
  tf.dispose([t, sum]);
  const after = gpu.device.createBuffer({
    size: 8,
    usage: GPUBufferUsage.COPY_SRC,
    mappedAtCreation: true,
  });
  after.getMappedRange();
  after.unmap();
  for (const b of [m, plain, after]) b.destroy();
  assert.equal(counter.mappedBytes, 16 + 40);
  assert.equal(counter.mappedWrites, 2);
});
