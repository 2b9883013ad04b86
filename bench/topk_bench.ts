// deno bench -A bench/topk_bench.ts — fused GPU top-k (similarity GEMM + per-row top-k),
// both kernel variants, a few small shapes. Each case also prints its GFLOP/s (2·n·C·d).
// No npm imports: runs with the bare Deno binary on a GPU server.
import { createGpu } from "../src/gpu/gpu.ts";
import { topk, type TopkVariant } from "../src/topk/topk.ts";
import { uniformMatrix } from "./synthetic.ts";

const gpu = await createGpu();

const shapes: { n: number; c: number; d: number; k: number }[] = [
  { n: 1024, c: 4096, d: 128, k: 8 },
  { n: 256, c: 16384, d: 128, k: 8 },
  { n: 1024, c: 4096, d: 64, k: 32 },
];
const variants: TopkVariant[] = ["registers", "tiled"];
const auto = gpu.quirks.preferRegisters ? "registers" : "tiled";

for (const { n, c, d, k } of shapes) {
  const q = uniformMatrix(n, d, 1), x = uniformMatrix(c, d, 2);
  const group = `n=${n} C=${c} d=${d} k=${k}`;
  for (const variant of variants) {
    await topk(gpu, q, x, { k, variant }); // compile + warm up
    const t0 = performance.now();
    await topk(gpu, q, x, { k, variant });
    const ms = performance.now() - t0;
    console.log(
      `topk ${group} ${variant}: ${ms.toFixed(1)} ms, ${
        (2 * n * c * d / ms / 1e6).toFixed(2)
      } GFLOP/s (${gpu.info.description})`,
    );
    Deno.bench({
      name: `topk ${variant}`,
      group,
      baseline: variant === auto,
      n: 3,
      warmup: 1,
      async fn() {
        await topk(gpu, q, x, { k, variant });
      },
    });
  }
}
