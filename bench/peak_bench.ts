// The adapter's arithmetic peak: the register-only multiply-add loop of
// kernels/peak_fma.wgsl in fp32 and (with shader-f16) packed f16, at a small, medium and
// large dispatch. GPU time comes from timestamp queries when the adapter has them, else
// wall time (said so below the table with the GFLOP/s).
//
//   deno bench -A bench/peak_bench.ts
import { createStorage } from "../src/gpu/buffers.ts";
import { createGpu } from "../src/gpu/gpu.ts";
import { PEAK_FLOPS_PER_ROUND, type PeakPrecision, peakProgram, timeGpu } from "../src/gpu/peak.ts";
import { dispatch } from "../src/gpu/program.ts";

const gpu = await createGpu();
const ITERS = 64;
const out = createStorage(gpu, 4096 * 64 * 4, "peak_bench.out");
const best = new Map<string, { flops: number; ms: number; source: string }>();

const precisions: PeakPrecision[] = gpu.f16 ? ["f32", "f16"] : ["f32"];
for (const precision of precisions) {
  for (const [size, workgroups] of [["small", 64], ["medium", 512], ["large", 4096]] as const) {
    const name = `peak_fma ${precision} ${size} (${workgroups}×64 invocations × ${ITERS} rounds)`;
    const flops = workgroups * 64 * ITERS * PEAK_FLOPS_PER_ROUND;
    Deno.bench({
      name,
      group: `peak_fma ${size}`,
      baseline: precision === "f32",
      n: 10,
      warmup: 1,
      async fn(b) {
        b.start();
        const t = await timeGpu(gpu, (enc) => {
          dispatch(gpu, peakProgram(precision, workgroups, ITERS), [out], enc);
        });
        b.end();
        const prev = best.get(name);
        if (!prev || t.ms < prev.ms) best.set(name, { flops, ms: t.ms, source: t.source });
      },
    });
  }
}

globalThis.addEventListener("unload", () => {
  if (best.size === 0) return;
  console.log(`\nArithmetic throughput on ${gpu.info.description} (best run):`);
  for (const [name, r] of best) {
    console.log(
      `  ${name.padEnd(64)} ${(r.flops / (r.ms * 1e6)).toFixed(1).padStart(8)} GFLOP/s  ` +
        `(${r.ms.toFixed(2)} ms, ${r.source})`,
    );
  }
});
