// deno task train uploads its vector features to the GPU once: k-means, top-l and every
// training step read the same resident buffers (only row ids and small tensors go up per step).
import assert from "node:assert/strict";
import { countUploads } from "../src/gpu/count_uploads.ts";
import { downloadMatrix, gpuMatrixView, uploadMatrix } from "../src/gpu/gpu_matrix.ts";
import { writeNpy } from "../src/data/npy.ts";
import { main } from "../src/cli/train.ts";
import { residentRows } from "../src/model/resident_rows.ts";
import { tf, useTfBackend } from "../src/model/tf.ts";
import { createEncoder, embed } from "../src/model/encoder.ts";
import { upload } from "../src/gpu/buffers.ts";
import { randomMatrix, testGpu } from "./_gpu.ts";
import { withDir } from "./_tmp.ts";

const gpu = await testGpu();

Deno.test("deno task train writes its features to the GPU once, not per step or per stage", async () => {
  await withDir(async (dir) => {
    // 1000 × 100 float32 = 400 kB of features; the model and per-step tensors are far smaller.
    const n = 1000, d = 100;
    const x = randomMatrix(n, d, 12);
    await writeNpy(`${dir}/x.npy`, x.data, [n, d]);
    const xBytes = n * d * 4;
    // Autotuning (first run of a shape on a machine) times kernels on synthetic inputs of its
    // own; it is off here so that only the run's own writes are counted.
    const tune = Deno.env.get("MLCD_AUTOTUNE");
    Deno.env.set("MLCD_AUTOTUNE", "0");
    const counter = countUploads(gpu);
    await main([
      "--data",
      `${dir}/x.npy`,
      "--run-dir",
      `${dir}/run`,
      "--classes",
      "8",
      "--l",
      "2",
      "--hidden",
      "16",
      "--embed-dim",
      "8",
      "--batch-size",
      "125",
      "--epochs",
      "2",
      "--kmeans-iters",
      "3",
      "--checkpoint-every",
      "100",
    ], { gpu }).finally(() => {
      counter.stop();
      if (tune === undefined) Deno.env.delete("MLCD_AUTOTUNE");
      else Deno.env.set("MLCD_AUTOTUNE", tune);
    });
    const total = counter.bytes + counter.mappedBytes;
    const detail =
      `${counter.bytes} bytes in ${counter.writes} writeBuffer calls + ${counter.mappedBytes} bytes in ${counter.mappedWrites} mapped buffers, features ${xBytes} bytes`;
    // At least the features once; everything else (weights, Adam state, 16 steps of row ids,
    // positives and uniforms, k-means centroids) well under half of them. Uploading the
    // features for k-means and again for top-l, or a batch per step (2 epochs), would each add
    // at least `xBytes` more.
    assert.ok(total >= xBytes, detail);
    assert.ok(total < xBytes * 1.5, detail);
    const manifest = JSON.parse(await Deno.readTextFile(`${dir}/run/checkpoint.json`));
    assert.equal(manifest.step, 16);
  }, "mlcd-train-uploads-");
});

Deno.test("residentRows() gathers and slices rows across chunks exactly, uploading only the ids", async () => {
  await useTfBackend(gpu);
  const x = randomMatrix(23, 5, 3);
  const g = uploadMatrix(gpu, x, { maxRowsPerChunk: 7, align: 1 }); // chunks of 7, 7, 7, 2 rows
  assert.equal(g.chunks.length, 4);
  const rows = residentRows(g);
  try {
    const ids = [22, 0, 7, 6, 13, 21, 14, 1, 22];
    const counter = countUploads(gpu);
    const t = rows.gather(ids);
    const got = await t.data();
    counter.stop();
    t.dispose();
    const want = new Float32Array(ids.flatMap((r) => [...x.data.subarray(r * 5, r * 5 + 5)]));
    assert.deepEqual(got, want);
    // Only int32 ids go up, through tfjs's mapped staging buffers: each chunk's local ids
    // (9 in all) and the order that restores `ids` (9); nothing of x.
    assert.equal(counter.mappedBytes, 2 * ids.length * 4);
    const s = rows.slice(5, 16);
    assert.deepEqual(await s.data(), x.data.slice(5 * 5, 16 * 5));
    s.dispose();
    const one = rows.gather([3]);
    assert.deepEqual(await one.data(), x.data.slice(15, 20));
    one.dispose();
    assert.throws(() => rows.gather([23]), {
      name: "RangeError",
      message: "Expected row ids in [0, 22] but found 23",
    });
  } finally {
    rows.dispose();
  }
  // tfjs never owned the buffers: they still hold the matrix after the tensors are gone.
  assert.deepEqual((await downloadMatrix(gpu, g)).data, x.data);
  g.destroy();
});

Deno.test("residentRows() cuts a padded stride back to the columns and refuses f16", async () => {
  await useTfBackend(gpu);
  const x = randomMatrix(6, 3, 5), stride = 4;
  const host = new Float32Array(6 * stride).fill(9);
  for (let r = 0; r < 6; r++) host.set(x.data.subarray(r * 3, r * 3 + 3), r * stride);
  const buffer = upload(gpu, host);
  const padded = gpuMatrixView(buffer, { rows: 6, cols: 3, stride });
  const rows = residentRows(padded);
  const t = rows.gather([4, 1]), s = rows.slice(2, 5);
  assert.deepEqual(
    await t.data(),
    new Float32Array([...x.data.slice(12, 15), ...x.data.slice(3, 6)]),
  );
  assert.deepEqual(await s.data(), x.data.slice(6, 15));
  tf.dispose([t, s]);
  rows.dispose();
  const half = { ...padded, dtype: "f16" as const };
  assert.throws(() => residentRows(half), {
    name: "TypeError",
    message: 'Expected a float32 GPU matrix for tfjs but found dtype "f16"',
  });
  buffer.destroy();
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

Deno.test("embed() of GPU-resident rows equals embed() of the host rows, uploading none of them", async () => {
  await useTfBackend(gpu);
  const x = randomMatrix(23, 7, 9);
  const enc = createEncoder({ kind: "head", inputShape: [7], embedDim: 3, hidden: [5] }, {
    seed: 1,
  });
  const g = uploadMatrix(gpu, x, { maxRowsPerChunk: 7 }); // batches of 5 cross the chunk edges
  try {
    const host = await embed(enc, x, { batchSize: 5, normalize: true });
    const counter = countUploads(gpu);
    const resident = await embed(enc, g, { batchSize: 5, normalize: true });
    counter.stop();
    assert.deepEqual(resident, host);
    // Only tfjs's scalar constants of each batch go up (the host path uploads 644 bytes of rows).
    assert.ok(counter.mappedBytes < x.data.byteLength / 10, `${counter.mappedBytes} bytes`);
  } finally {
    g.destroy();
    enc.dispose();
  }
});
