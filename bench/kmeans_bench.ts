// deno bench bench/kmeans_bench.ts — the fused k-means assignment kernel (similarity GEMM +
// per-row argmax) and one full k-means iteration, both kernel variants, small shapes so it
// finishes on a software adapter. Times are CPU wall time of `assignNearest` (upload,
// normalisation, the pass, and the readback of every assignment, including the ~10 ms
// mapAsync round trip); GFLOP/s (2·n·k·d per pass) are printed at the end. Public API only,
// no npm imports: runs with the bare Deno binary.
import { createGpu } from "../src/gpu/gpu.ts";
import { assignNearest, kmeans, type KMeansVariant } from "../src/kmeans/mod.ts";

const gpu = await createGpu();
const shapes: [number, number, number][] = [[4096, 64, 64], [8192, 256, 128], [2001, 100, 77]];
const variants: KMeansVariant[] = ["registers", "tiled"];
const measured: { name: string; flops: number; ms: number[] }[] = [];

function rand(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 32 - 0.5;
  }
  return out;
}

for (const [n, k, d] of shapes) {
  const x = { data: rand(n * d, 1), rows: n, cols: d };
  const c = { data: rand(k * d, 2), rows: k, cols: d };
  for (const variant of variants) {
    const name = `assign ${variant} n=${n} k=${k} d=${d}`;
    const entry = { name, flops: 2 * n * k * d, ms: [] as number[] };
    measured.push(entry);
    const pass = () => assignNearest(gpu, x, c, { variant, autotune: false });
    await pass(); // compile outside the timed runs
    Deno.bench({
      name,
      group: `assign n=${n} k=${k} d=${d}`,
      baseline: variant === "registers",
      n: 5,
      warmup: 1,
      async fn(b) {
        b.start();
        const t = performance.now();
        await pass();
        entry.ms.push(performance.now() - t);
        b.end();
      },
    });
  }
}

for (const variant of variants) {
  const x = { data: rand(4000 * 64, 3), rows: 4000, cols: 64 };
  const name = `kmeans ${variant} 1 iteration n=4000 k=64 d=64`;
  Deno.bench({
    name,
    group: "kmeans iteration",
    baseline: variant === "registers",
    n: 3,
    warmup: 1,
    async fn() {
      await kmeans(gpu, x, { k: 64, niter: 1, variant, init: "random" });
    },
  });
}

globalThis.addEventListener("unload", () => {
  console.log(`\nadapter: ${gpu.info.description} (CPU wall time incl. upload and readback)`);
  for (const m of measured) {
    if (!m.ms.length) continue;
    const sorted = [...m.ms].sort((a, b) => a - b);
    const med = sorted[Math.floor(sorted.length / 2)]!;
    console.log(`${m.name}: ${med.toFixed(1)} ms, ${(m.flops / med / 1e6).toFixed(2)} GFLOP/s`);
  }
});
