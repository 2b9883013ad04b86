import assert from "node:assert/strict";
import {
  countUploads,
  downloadMatrix,
  type GpuMatrix,
  gpuMatrixView,
  matrixStats,
  normalizeRowsGpu,
  readBack,
  repackMatrix,
  upload,
  uploadMatrix,
  type UploadMatrixOptions,
  useGpuMatrix,
} from "../src/gpu/mod.ts";
import type { Matrix } from "../src/matrix/matrix.ts";
import { uploadMatrixBatches } from "../src/gpu/gpu_matrix.ts";
import { kmeans } from "../src/kmeans/kmeans.ts";
import { assignLabels } from "../src/labels/assign_labels.ts";
import { topk, uploadTopkKeys } from "../src/topk/topk.ts";
import { mlcdLoss } from "../src/loss/mlcd_loss.ts";
import { sampleClasses } from "../src/loss/sample_classes.ts";
import { pseudoLabels } from "../src/train/pseudo_labels.ts";
import { evaluateFeatures } from "../src/eval/evaluate.ts";
import { knnTop1 } from "../src/eval/knn.ts";
import { linearProbe } from "../src/eval/linear_probe.ts";
import { retrievalRecall } from "../src/eval/retrieval.ts";
import { nmi } from "../src/eval/cluster_metrics.ts";
import { randomMatrix, randomPositives, testGpu } from "./_gpu.ts";

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
async function stored(g: GpuMatrix, on = gpu): Promise<Float64Array> {
  const unit = g.dtype === "f16" ? 2 : 4;
  const parts = await readBack(
    on,
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

Deno.test("uploadMatrixBatches() stores the bits uploadMatrix() stores, reading one block at a time", async () => {
  // 101 rows × 7 under a 1000-byte binding: 31-row chunks, so the reads follow the blocks.
  const small = await testGpu({ maxBindingBytes: 1000 });
  const m = randomMatrix(101, 7, 3);
  for (
    const o of [{}, { normalize: true }, { dtype: "f16" as const, normalize: true }, {
      stride: 12,
    }]
  ) {
    const reads: [number, number][] = [];
    const whole = uploadMatrix(small, m, o);
    const batched = await uploadMatrixBatches(small, m.rows, m.cols, (start, count) => {
      reads.push([start, count]);
      const data = m.data.slice(start * m.cols, (start + count) * m.cols);
      return Promise.resolve({ data, rows: count, cols: m.cols });
    }, o);
    try {
      assert.deepEqual(await stored(batched, small), await stored(whole, small), JSON.stringify(o));
      assert.equal(batched.normalized, whole.normalized);
      assert.deepEqual(batched.chunks.map((c) => c.rows), whole.chunks.map((c) => c.rows));
      // Never all rows at once: blocks of at most a binding (1000 bytes), in row order.
      const width = o.normalize || "dtype" in o ? m.cols : (o.stride ?? 8);
      assert.ok(
        reads.length >= 3 && reads.every(([, c]) => c * width * 4 <= 1000),
        JSON.stringify(reads),
      );
      assert.deepEqual(
        reads.map(([s]) => s),
        reads.map((_, i) => reads.slice(0, i).reduce((a, [, c]) => a + c, 0)),
      );
    } finally {
      whole.destroy();
      batched.destroy();
    }
  }
  const bad = randomMatrix(40, 3, 4);
  bad.data[35 * 3 + 2] = Infinity;
  await assert.rejects(
    () =>
      uploadMatrixBatches(small, 40, 3, (start, count) =>
        Promise.resolve({
          data: bad.data.slice(start * 3, (start + count) * 3),
          rows: count,
          cols: 3,
        })),
    {
      name: "RangeError",
      message: "Expected finite values in the matrix but found Infinity at row 35, column 2",
    },
  );
  await assert.rejects(
    () => uploadMatrixBatches(small, 40, 3, () => Promise.resolve(randomMatrix(1, 3, 5))),
    { name: "RangeError", message: /^Expected rows 0\.\.\d+ as \d+ × 3 but found 1 × 3$/ },
  );
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

Deno.test("useGpuMatrix() borrows a GpuMatrix in the wanted layout and re-packs any other", async () => {
  const m = randomMatrix(40, 6, 15);
  const g = uploadMatrix(gpu, m, { normalize: true });
  const same = useGpuMatrix(gpu, g, { normalize: true, stride: 8 });
  assert.equal(same.matrix, g);
  assert.equal(same.owned, false);
  same.release(); // leaves g alive
  for (const want of [{ dtype: "f16" as const }, { stride: 12 }, { maxRowsPerChunk: 16 }]) {
    const other = useGpuMatrix(gpu, g, want);
    assert.equal(other.owned, true, JSON.stringify(want));
    assert.notEqual(other.matrix, g);
    assert.equal(other.matrix.normalized, true);
    other.release();
  }
  const raw = uploadMatrix(gpu, m);
  const normalized = useGpuMatrix(gpu, raw, { normalize: true });
  assert.equal(normalized.owned, true);
  const tol = 1e-6;
  assert.ok(maxDiff(await stored(normalized.matrix), reference(m, { normalize: true }, 8)) <= tol);
  normalized.release();
  const view = gpuMatrixView(g.chunks[0]!.buffer, {
    rows: 40,
    cols: 6,
    stride: 8,
    normalized: true,
  });
  view.destroy(); // a view does not free the buffer
  assert.ok(maxDiff(await stored(g), reference(m, { normalize: true }, 8)) <= tol);
  raw.destroy();
  g.destroy();
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

// ---- Consumers: the same results from a GpuMatrix as from a host Matrix ----

Deno.test("kmeans() gives the same result from a GpuMatrix as from the Matrix", async () => {
  const cases: {
    n: number;
    d: number;
    o: Parameters<typeof kmeans>[2];
    up: UploadMatrixOptions;
  }[] = [
    // in place (normalised f32, stride 8), with a GPU-gathered training sample
    { n: 301, d: 5, o: { k: 7, niter: 4, maxPointsPerCentroid: 20 }, up: { normalize: true } },
    // re-packed: raw rows in small chunks, d = 1, random init
    { n: 130, d: 1, o: { k: 3, niter: 3, init: "random" }, up: { maxRowsPerChunk: 50 } },
    // l2: the fixed-point scale from the GPU's max |value|
    { n: 150, d: 6, o: { k: 4, niter: 3, metric: "l2" }, up: { align: 1 } },
    // f16 storage, k = n
    { n: 9, d: 3, o: { k: 9, niter: 2, f16: true }, up: { dtype: "f16" } },
  ];
  for (const { n, d, o, up } of cases) {
    const x = randomMatrix(n, d, n + d);
    const want = await kmeans(gpu, x, o);
    const g = uploadMatrix(gpu, x, up);
    try {
      const got = await kmeans(gpu, g, o);
      const what = `n=${n} d=${d} ${JSON.stringify(o)}`;
      // An f16 GpuMatrix holds the rows rounded to halves (k-means++ reads those back).
      const tol = up.dtype === "f16" ? 3e-3 : 1e-5;
      assert.ok(maxDiff(got.centroids.data, want.centroids.data) <= tol, what);
      assert.deepEqual(got.assignments, want.assignments, what);
      assert.ok(Math.abs(got.objective - want.objective) <= 1e-4 * Math.abs(want.objective), what);
    } finally {
      g.destroy();
    }
  }
});

Deno.test("kmeans() refuses a GpuMatrix with an all-zero row when spherical", async () => {
  const x = randomMatrix(20, 4, 1);
  x.data.fill(0, 8, 12);
  const g = uploadMatrix(gpu, x);
  await assert.rejects(() => kmeans(gpu, g, { k: 2 }), {
    name: "RangeError",
    message: "Cannot L2-normalise x for cosine k-means: row 2 is all zeros",
  });
  g.destroy();
});

Deno.test("topk() and uploadTopkKeys() give the same lists from GpuMatrix queries and keys", async () => {
  const q = randomMatrix(70, 5, 4), keys = randomMatrix(150, 5, 5);
  for (const variant of ["registers", "tiled"] as const) {
    for (const metric of ["cosine", "ip"] as const) {
      const want = await topk(gpu, q, keys, { k: 6, metric, variant });
      // f16 queries and narrow-stride keys in small chunks are re-packed on the GPU.
      const layouts: [UploadMatrixOptions, UploadMatrixOptions][] = [
        [{ normalize: metric === "cosine" }, { normalize: metric === "cosine" }],
        [{ align: 1 }, { maxRowsPerChunk: 40, stride: 12 }],
      ];
      for (const [lq, lk] of layouts) {
        const gq = uploadMatrix(gpu, q, lq), gk = uploadMatrix(gpu, keys, lk);
        try {
          const got = await topk(gpu, gq, gk, { k: 6, metric, variant });
          const what = `${variant} ${metric} ${JSON.stringify([lq, lk])}`;
          assert.deepEqual(got.indices, want.indices, what);
          assert.ok(maxDiff(got.scores, want.scores) <= 1e-5, what);
          const index = uploadTopkKeys(gpu, gk, { metric, variant });
          const again = await index.search(q, { k: 6 });
          index.destroy();
          assert.deepEqual(again.indices, want.indices, what);
        } finally {
          gq.destroy();
          gk.destroy();
        }
      }
    }
  }
  const f16 = uploadMatrix(gpu, q, { dtype: "f16", normalize: true });
  const approx = await topk(gpu, f16, keys, { k: 6 });
  f16.destroy();
  const want = await topk(gpu, q, keys, { k: 6 });
  assert.ok(maxDiff(approx.scores, want.scores) <= 5e-3);
});

Deno.test("assignLabels() labels GpuMatrix embeddings against GpuMatrix centers like host ones", async () => {
  const x = randomMatrix(90, 7, 6), centers = randomMatrix(20, 7, 7);
  const want = await assignLabels(gpu, x, centers, { l: 3 });
  const gx = uploadMatrix(gpu, x, { maxRowsPerChunk: 32 });
  const gc = uploadMatrix(gpu, centers, { normalize: true });
  try {
    let last = 0;
    const got = await assignLabels(gpu, gx, gc, { l: 3, onProgress: (done) => last = done });
    assert.deepEqual(got.indices, want.indices);
    assert.ok(maxDiff(got.scores, want.scores) <= 1e-5);
    assert.equal(got.rows, 90);
    assert.equal(last, 90);
    centers.data.fill(0, 14, 21);
    const bad = uploadMatrix(gpu, centers);
    await assert.rejects(() => assignLabels(gpu, gx, bad, { l: 3 }), {
      name: "RangeError",
      message: "Cannot L2-normalise centers for cosine similarity: row 2 is all zeros",
    });
    bad.destroy();
  } finally {
    gx.destroy();
    gc.destroy();
  }
});

Deno.test("mlcdLoss() gives the same loss and gradients from GpuMatrix embeddings and centers", async () => {
  const n = 37, C = 150, d = 5;
  const embeddings = randomMatrix(n, d, 8), centers = randomMatrix(C, d, 9);
  const positives = randomPositives(n, 3, C, 10);
  const sampled = sampleClasses(positives, { classes: C, ratio: 0.3, seed: 11 });
  const want = await mlcdLoss(gpu, embeddings, centers, positives, { sampled });
  const ge = uploadMatrix(gpu, embeddings, { stride: 12, maxRowsPerChunk: 10 });
  const gc = uploadMatrix(gpu, centers, { maxRowsPerChunk: 64 });
  try {
    const got = await mlcdLoss(gpu, ge, gc, positives, { sampled });
    assert.ok(Math.abs(got.loss - want.loss) <= 1e-5 * Math.abs(want.loss));
    assert.ok(maxDiff(got.gradEmbeddings.data, want.gradEmbeddings.data) <= 1e-6);
    assert.ok(maxDiff(got.gradCenters.data, want.gradCenters.data) <= 1e-6);
  } finally {
    ge.destroy();
    gc.destroy();
  }
});

// ---- Upload once ----

Deno.test("pseudoLabels() uploads the features once and matches kmeans() + topk()", async () => {
  const x = randomMatrix(600, 30, 12);
  const options = { classes: 8, l: 3, niter: 4, seed: 5 };
  await pseudoLabels(gpu, x, options); // times the kernel designs once (autotune uploads)
  const uploads = countUploads(gpu);
  const got = await pseudoLabels(gpu, x, options);
  uploads.stop();
  const once = 600 * 30 * 4; // raw rows, padded and normalised on the GPU
  // Besides the features: centroids, k-means++'s sample index, top-k's keys (all small).
  assert.ok(uploads.bytes >= once && uploads.bytes < 1.2 * once, `${uploads.bytes} bytes`);
  const km = await kmeans(gpu, x, { k: 8, niter: 4, seed: 5 });
  const tk = await topk(gpu, x, km.centroids, { k: 3 });
  assert.ok(maxDiff(got.centroids.data, km.centroids.data) <= 1e-6);
  assert.deepEqual(got.assignments, km.assignments);
  assert.deepEqual(got.indices, tk.indices);
  assert.ok(Math.abs(got.objective - km.objective) <= 1e-4 * km.objective);
});

Deno.test("evaluateFeatures() uploads each split once for kNN, retrieval and k-means", async () => {
  const train = blobs(300, 13), test = blobs(120, 14);
  const probe = { epochs: 2, batchSize: 64 };
  await evaluateFeatures(gpu, train, test, { knnK: 5, probe }); // autotune's uploads
  const probeUploads = countUploads(gpu);
  await linearProbe(gpu, train, test, probe);
  probeUploads.stop();
  const uploads = countUploads(gpu);
  const got = await evaluateFeatures(gpu, train, test, { knnK: 5, probe });
  uploads.stop();
  const once = (300 + 120) * 9 * 4; // raw rows, padded and normalised on the GPU
  const ours = uploads.bytes - probeUploads.bytes;
  assert.ok(ours >= once && ours < 1.2 * once, `${ours} bytes besides the probe's`);
  const km = await kmeans(gpu, test.x, { k: 3, niter: 25, seed: 1234, nredo: 3 });
  assert.equal(got.knnTop1, await knnTop1(gpu, train, test, { k: 5 }));
  const rec = await retrievalRecall(gpu, test.x, train.x, {
    relevant: (q, k) => test.y[q] === train.y[k],
  });
  assert.deepEqual([got.recallAt1, got.recallAt5, got.recallAt10], [
    rec["R@1"],
    rec["R@5"],
    rec["R@10"],
  ]);
  assert.equal(got.nmi, nmi(test.y, km.assignments));
});

/** Three noisy clusters in 9 dimensions. */
function blobs(n: number, seed: number): { x: Matrix; y: Uint8Array } {
  const x = randomMatrix(n, 9, seed);
  const y = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    y[i] = i % 3;
    x.data[i * 9 + y[i]!]! += 3;
  }
  return { x, y };
}
