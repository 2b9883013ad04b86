// Renders every chart of a run report to PNG, for looking at them: a synthetic run (300 steps,
// 20 k-means iterations, long-tailed cluster sizes, three eval rows) at each k given, its
// report.html and one PNG per chart (sharp rasterises the SVGs).
//
//   deno run -A scripts/render_report_charts.ts [--k 10,100,10000] [--out DIR]
//
// Prints the files written. The charts' checks that can be automated are in tests/report_test.ts.
import { parseArgs } from "node:util";
import sharp from "sharp";
import { renderRunReport } from "../report.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: { k: { type: "string", default: "10,100,10000" }, out: { type: "string" } },
});
const out = values.out ?? await Deno.makeTempDir({ prefix: "mlcd_charts_" });
await Deno.mkdir(out, { recursive: true });
const metrics = (v: number) => ({
  linearProbeTop1: v,
  knnTop1: v - 0.02,
  nmi: v - 0.2,
  ari: v - 0.3,
  recallAt1: v,
  recallAt5: v + 0.01,
  recallAt10: v + 0.02,
});
for (const k of values.k.split(",").map(Number)) {
  const html = await renderRunReport({
    runDir: `synthetic k=${k}`,
    steps: Array.from({ length: 300 }, (_, i) => ({
      step: i + 1,
      loss: 20 * Math.exp(-i / 80) + 10 + 0.5 * Math.sin(i),
      lr: 1e-3 * Math.min(1, (i + 1) / 30) * 0.5 * (1 + Math.cos(Math.PI * i / 300)),
    })),
    kmeans: Array.from({ length: 20 }, (_, i) => ({
      objective: 30 * k * (0.6 - 0.2 * Math.exp(-i)),
      imbalanceFactor: 1.2,
    })),
    clusterSizes: Array.from({ length: k }, (_, i) => Math.round(60 * Math.exp(-3 * i / k) + 5)),
    eval: [
      ["raw inputs", metrics(0.9)],
      ["untrained encoder", metrics(0.85)],
      ["trained (step 300)", metrics(0.93)],
    ],
    config: { encoder: "head" },
  });
  await Deno.writeTextFile(`${out}/report_k${k}.html`, html);
  const svgs = [...html.matchAll(/<svg[\s\S]*?<\/svg>/g)].map((m) => m[0]);
  for (const [i, svg] of svgs.entries()) {
    const file = `${out}/k${k}_chart${i + 1}.png`;
    await sharp(new TextEncoder().encode(svg)).flatten({ background: "#ffffff" }).png().toFile(
      file,
    );
    console.log(file);
  }
}
