import assert from "node:assert/strict";
import { countUploads, upload } from "../src/gpu/mod.ts";
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
