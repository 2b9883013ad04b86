import assert from "node:assert/strict";
import { createStorage, readF32 } from "../src/gpu/buffers.ts";
import { measurePeak, PEAK_FLOPS_PER_ROUND, peakProgram, timeGpu } from "../src/gpu/peak.ts";
import { dispatch } from "../src/gpu/program.ts";
import { testGpu } from "./_gpu.ts";
import { type Peer, peerTest } from "./_peer.ts";

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

/** How a device may evaluate the f16 kernel's `a = a * b + c`. */
type F16Model = "f16, rounded after * and after +" | "f16, fused multiply-add" | "f32 registers";

/**
 * The f16 kernel for invocation i, step by step as WGSL evaluates it: `s`, `b` and `c` in f32,
 * converted to f16 by `T(...)`; then `iters × 8` steps of `a * b + c` on each of the 8 lanes,
 * rounded to f16 as `model` says; `v = a0 + a1` in f16; the four lanes of `v` summed in f32.
 * Each model is exact (no tolerance needed): lavapipe rounds after each operation, GPUs with
 * packed f16 FMA round once per step, and a driver may keep f16 values in f32 registers.
 */
function referenceF16(i: number, iters: number, model: F16Model): number {
  const f32 = Math.fround, f16 = Math.f16round;
  const r = model === "f32 registers" ? f32 : f16;
  const s = f32(0.5 + f32(f32(i & 7) * f32(0.001)));
  const b = f16(f32(f32(0.999) - f32(f32(0.0001) * s)));
  const c = f16(f32(f32(0.001) * s));
  const step = model === "f16, fused multiply-add"
    ? (a: number) => f16(a * b + c) // exact in float64 before the one rounding
    : (a: number) => r(r(a * b) + c);
  let sum = 0;
  for (const off of [0, 0.1, 0.2, 0.3]) {
    let a0 = f16(off === 0 ? s : f32(s + f32(off)));
    let a1 = r(a0 + f16(0.05));
    for (let t = 0; t < iters * 8; t++) a0 = step(a0), a1 = step(a1);
    sum = f32(sum + r(a0 + a1));
  }
  return sum;
}

const F16_MODELS: F16Model[] = [
  "f16, rounded after * and after +",
  "f16, fused multiply-add",
  "f32 registers",
];

const gpu = await testGpu();
const SHADER_F16: Peer = {
  name: "shader-f16 (a WebGPU adapter feature; lavapipe has it)",
  missing: gpu.f16 ? null : `${gpu.info.description} does not offer shader-f16`,
};

Deno.test("peakProgram() runs exactly iters rounds of the recurrence (f32)", async () => {
  const workgroups = 3;
  const out = createStorage(gpu, workgroups * 64 * 4);
  // One round more or less moves the sum by ≥ 0.005 here (asserted below): 50× the tolerance.
  const tol = 1e-4;
  for (const iters of [1, 5]) {
    dispatch(gpu, peakProgram("f32", workgroups, iters), [out]);
    const got = await readF32(gpu, out, workgroups * 64);
    for (const i of [0, 1, 7, 8, 63, 64, 191]) {
      const want = reference(i, iters);
      assert.ok(Math.abs(got[i]! - want) < tol, `f32 iters=${iters} i=${i}: ${got[i]} vs ${want}`);
      for (const wrong of [iters - 1, iters + 1]) {
        assert.ok(Math.abs(reference(i, wrong) - want) > 50 * tol, `iters ${wrong} vs ${iters}`);
      }
    }
  }
  out.destroy();
});

peerTest({
  name: "peakProgram() runs exactly iters rounds of the recurrence (f16)",
  needs: [SHADER_F16],
  fn: async () => {
    const workgroups = 3;
    const out = createStorage(gpu, workgroups * 64 * 4);
    // The f16 result equals one of the exact models bit for bit, and no model at iters ± 1
    // gives that value (asserted below; one round moves the sum by ≈ 0.008, a change of model
    // by a few f16 steps of 2⁻¹⁰): a wrong count cannot pass as another rounding.
    for (const iters of [1, 2, 5, 6]) {
      dispatch(gpu, peakProgram("f16", workgroups, iters), [out]);
      const got = await readF32(gpu, out, workgroups * 64);
      for (const i of [0, 1, 7, 8, 63, 64, 191]) {
        const g = got[i]!;
        const models = F16_MODELS.filter((m) => referenceF16(i, iters, m) === g);
        assert.ok(
          models.length > 0,
          `f16 iters=${iters} i=${i}: ${g} is none of ${
            F16_MODELS.map((m) => `${referenceF16(i, iters, m)} (${m})`).join(", ")
          }`,
        );
        for (const m of F16_MODELS) {
          for (const wrong of [iters - 1, iters + 1]) {
            const w = referenceF16(i, wrong, m);
            assert.notEqual(w, g, `iters=${iters} i=${i}: ${wrong} rounds (${m}) give ${w} too`);
          }
        }
      }
    }
    out.destroy();
  },
});

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
