import assert from "node:assert/strict";
import { createStorage, readF32 } from "../src/gpu/buffers.ts";
import {
  measurePeak,
  PEAK_FLOPS_PER_ROUND,
  type PeakPrecision,
  peakProgram,
  timeGpu,
} from "../src/gpu/peak.ts";
import { dispatch } from "../src/gpu/program.ts";
import { testGpu } from "./_gpu.ts";

// The recurrence of kernels/peak_fma.wgsl for invocation i, in float64.
function reference(i: number, iters: number): number {
  const s = 0.5 + (i & 7) * 0.001;
  const b = 0.999 - 0.0001 * s, c = 0.001 * s;
  let sum = 0;
  for (const start of [s, s + 0.1, s + 0.2, s + 0.3]) {
    for (const offset of [0, 0.05]) {
      let a = start + offset;
      for (let t = 0; t < iters * 8; t++) a = a * b + c;
      sum += a;
    }
  }
  return sum;
}

for (const precision of ["f32", "f16"] as PeakPrecision[]) {
  Deno.test(`peakProgram() runs exactly iters rounds of the recurrence (${precision})`, async () => {
    const gpu = await testGpu();
    if (precision === "f16" && !gpu.f16) return; // no shader-f16 on this adapter
    const workgroups = 3;
    const out = createStorage(gpu, workgroups * 64 * 4);
    const tol = precision === "f32" ? 1e-4 : 0.03; // f16 spacing near 0.5 is 2.4e-4
    for (const iters of [1, 5]) {
      dispatch(gpu, peakProgram(precision, workgroups, iters), [out]);
      const got = await readF32(gpu, out, workgroups * 64);
      for (const i of [0, 1, 7, 8, 63, 64, 191]) {
        const want = reference(i, iters);
        assert.ok(
          Math.abs(got[i]! - want) < tol,
          `${precision} iters=${iters} i=${i}: ${got[i]} vs ${want}`,
        );
      }
    }
    // f32: one round more would fail the tolerance, so the loop count is honoured
    if (precision === "f32") assert.ok(Math.abs(reference(0, 5) - reference(0, 6)) > tol * 100);
    out.destroy();
  });
}

Deno.test("peakProgram() throws RangeError on bad workgroups and iters", () => {
  assert.throws(() => peakProgram("f32", 0, 1), {
    name: "RangeError",
    message: "Expected workgroups to be an integer in [1, 65535] but found 0",
  });
  assert.throws(() => peakProgram("f32", 65536, 1), {
    name: "RangeError",
    message: "Expected workgroups to be an integer in [1, 65535] but found 65536",
  });
  assert.throws(() => peakProgram("f32", 1, 1.5), {
    name: "RangeError",
    message: "Expected iters to be a positive 32-bit integer but found 1.5",
  });
});

Deno.test("measurePeak() reports positive GFLOP/s consistent with flops and ms, timed by timestamps", async () => {
  const gpu = await testGpu();
  const peak = await measurePeak(gpu, { targetMs: 4, repeats: 1, workgroups: 256 });
  assert.equal(peak.adapter, gpu.info.description);
  assert.equal(peak.timing, gpu.timestamps ? "gpu-timestamps" : "cpu-wall");
  for (const m of [peak.f32, peak.f16]) {
    if (!m) continue;
    assert.ok(m.gflops > 0 && Number.isFinite(m.gflops), `${m.gflops}`);
    assert.equal(m.flops, 256 * 64 * m.iters * PEAK_FLOPS_PER_ROUND);
    assert.ok(Math.abs(m.gflops - m.flops / (m.ms * 1e6)) < 1e-9 * m.gflops);
  }
  assert.equal(peak.f16 !== null, gpu.f16);
});

Deno.test("measurePeak() falls back to CPU wall time without timestamp queries and skips f16 on request", async () => {
  const gpu = await testGpu();
  const noTimestamps = { ...gpu, timestamps: false };
  const peak = await measurePeak(noTimestamps, {
    targetMs: 4,
    repeats: 1,
    workgroups: 64,
    f16: false,
  });
  assert.equal(peak.timing, "cpu-wall");
  assert.equal(peak.f16, null);
  assert.ok(peak.f32.gflops > 0);
});

Deno.test("measurePeak() throws RangeError on bad options", async () => {
  const gpu = await testGpu();
  await assert.rejects(() => measurePeak(gpu, { targetMs: 0 }), {
    name: "RangeError",
    message: "Expected targetMs to be a positive number but found 0",
  });
  await assert.rejects(() => measurePeak(gpu, { repeats: 0 }), {
    name: "RangeError",
    message: "Expected repeats to be a positive integer but found 0",
  });
});

Deno.test("timeGpu() times recorded passes and names its source", async () => {
  const gpu = await testGpu();
  const out = createStorage(gpu, 64 * 4);
  const t = await timeGpu(gpu, (enc) => dispatch(gpu, peakProgram("f32", 1, 4), [out], enc));
  assert.ok(t.ms > 0);
  assert.equal(t.source, gpu.timestamps ? "gpu-timestamps" : "cpu-wall");
  const w = await timeGpu(
    { ...gpu, timestamps: false },
    (enc) => dispatch(gpu, peakProgram("f32", 1, 4), [out], enc),
  );
  assert.equal(w.source, "cpu-wall");
  out.destroy();
});
