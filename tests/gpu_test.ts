import assert from "node:assert/strict";
import {
  createGpu,
  downloadMatrix,
  foldDispatch,
  GpuUnavailableError,
  normalizeRowsGpu,
  profile,
  readBack,
  submit,
  upload,
  uploadMatrix,
} from "../src/gpu/mod.ts";
import { maxAbsDiff, randomMatrix, testGpu } from "./_gpu.ts";

Deno.test("createGpu() requests the adapter's binding limit and reports features", async () => {
  const gpu = await testGpu();
  assert.ok(gpu.maxBindingBytes >= 128 * 1024 * 1024 - 4, `binding ${gpu.maxBindingBytes}`);
  assert.equal(gpu.maxBindingBytes % 4, 0);
  assert.equal(typeof gpu.f16, "boolean");
  assert.ok(gpu.info.description.length > 0);
});

Deno.test("createGpu() names the software adapter install command when no adapter is found", async () => {
  const gpuNav = navigator.gpu;
  const original = gpuNav.requestAdapter;
  (gpuNav as { requestAdapter: unknown }).requestAdapter = () => Promise.resolve(null);
  try {
    await assert.rejects(() => createGpu(), (e: Error) => {
      assert.ok(e instanceof GpuUnavailableError, "the CLIs map it to exit code 2");
      assert.match(e.message, /No WebGPU adapter found/);
      assert.ok(!e.message.includes("\n"), "one line");
      assert.match(e.message, /apt-get install -y mesa-vulkan-drivers libvulkan1/);
      return true;
    });
    // Without OpenGL among the backends, the message says how to add it; with it, nothing.
    const before = Deno.env.get("DENO_WEBGPU_BACKEND");
    try {
      Deno.env.set("DENO_WEBGPU_BACKEND", "vulkan,metal,dx12");
      await assert.rejects(() => createGpu(), (e: Error) => {
        assert.match(e.message, /run with DENO_WEBGPU_BACKEND=vulkan,metal,dx12,gl\.$/);
        assert.ok(!e.message.includes("\n"), "one line");
        return true;
      });
      Deno.env.set("DENO_WEBGPU_BACKEND", "vulkan,gl");
      await assert.rejects(() => createGpu(), (e: Error) => {
        assert.doesNotMatch(e.message, /DENO_WEBGPU_BACKEND/);
        return true;
      });
    } finally {
      if (before === undefined) Deno.env.delete("DENO_WEBGPU_BACKEND");
      else Deno.env.set("DENO_WEBGPU_BACKEND", before);
    }
  } finally {
    (gpuNav as { requestAdapter: unknown }).requestAdapter = original;
  }
});

Deno.test("readBack() returns several ranges from one round trip", async () => {
  const gpu = await testGpu();
  const a = upload(gpu, new Float32Array([1, 2, 3]));
  const b = upload(gpu, new Uint32Array([7, 8, 9, 10]));
  const [ra, rb] = await readBack(gpu, [{ buffer: a, bytes: 12 }, {
    buffer: b,
    bytes: 8,
    offset: 8,
  }]);
  assert.deepEqual([...new Float32Array(ra!)], [1, 2, 3]);
  assert.deepEqual([...new Uint32Array(rb!)], [9, 10]);
});

Deno.test("uploadMatrix() splits rows over chunks under a forced binding limit and round-trips", async () => {
  const gpu = await testGpu({ maxBindingBytes: 1000 });
  const m = randomMatrix(101, 7, 1); // 28 bytes/row → 35 rows per 1000-byte chunk
  const g = uploadMatrix(gpu, m, { align: 1 });
  assert.equal(g.chunks.length, 3);
  assert.deepEqual(g.chunks.map((c) => c.rows), [35, 35, 31]);
  const back = await downloadMatrix(gpu, g);
  assert.deepEqual(back.data, m.data);
  g.destroy();
});

Deno.test("normalizeRowsGpu() matches a float64 reference across chunks, d=1 and zero rows", async () => {
  const gpu = await testGpu({ maxBindingBytes: 4096 });
  for (const [rows, d] of [[203, 77], [65, 1], [1, 3]] as const) {
    const m = randomMatrix(rows, d, rows * 31 + d);
    m.data.fill(0, 0, d); // row 0 all zeros stays zero
    const g = uploadMatrix(gpu, m);
    normalizeRowsGpu(gpu, g);
    const got = await downloadMatrix(gpu, g);
    const want = new Float64Array(m.data.length);
    for (let r = 0; r < rows; r++) {
      let s = 0;
      for (let c = 0; c < d; c++) s += m.data[r * d + c]! ** 2;
      for (let c = 0; c < d; c++) want[r * d + c] = s > 0 ? m.data[r * d + c]! / Math.sqrt(s) : 0;
    }
    assert.ok(maxAbsDiff(got.data, want) < 1e-6, `rows=${rows} d=${d}`);
    g.destroy();
  }
});

Deno.test("foldDispatch() keeps each dimension within the limit", () => {
  assert.deepEqual(foldDispatch(10), [10, 1, 1]);
  const [x, y] = foldDispatch(200000);
  assert.ok(x <= 65535 && x * y >= 200000);
});

Deno.test("profile() times the passes dispatched into an encoder", async () => {
  const gpu = await testGpu();
  const g = uploadMatrix(gpu, randomMatrix(4099, 33, 5));
  const t0 = performance.now();
  const enc = gpu.device.createCommandEncoder();
  const prof = profile(gpu, enc);
  normalizeRowsGpu(gpu, g, enc);
  normalizeRowsGpu(gpu, g, enc);
  submit(gpu, enc);
  const ms = await prof.resolve();
  const wall = performance.now() - t0;
  if (gpu.timestamps) {
    assert.equal(prof.passes, 2);
    // No wall-clock threshold: the GPU's own time of the passes lies inside the host's time
    // from recording them to reading the timestamps back.
    assert.ok(ms !== null && ms > 0 && ms <= wall, `ms=${ms}, host ${wall} ms`);
  } else {
    assert.equal(ms, null);
  }
  g.destroy();
});

Deno.test("createGpu() keeps Deno's WebGPU off the GL backend unless backends were chosen", async () => {
  const before = Deno.env.get("DENO_WEBGPU_BACKEND");
  const gpu = await testGpu();
  assert.ok(gpu.info.description.length > 0);
  // Set by the first createGpu of this runtime when the user had not chosen backends.
  if (before === undefined || before === "vulkan,metal,dx12") {
    assert.equal(Deno.env.get("DENO_WEBGPU_BACKEND"), "vulkan,metal,dx12");
  } else {
    assert.equal(Deno.env.get("DENO_WEBGPU_BACKEND"), before);
  }
});
