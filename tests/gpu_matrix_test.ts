import assert from "node:assert/strict";
import { countUploads, upload } from "../src/gpu/mod.ts";
import { tf, useTfBackend } from "../src/model/tf.ts";
import { testGpu } from "./_gpu.ts";

const gpu = await testGpu();

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
