// deno run -A bench/kmeans_compare.ts [--quick] [--no-f16] [--n N --d D --k K --niter I --ml-rows M]
// One spherical k-means run of ours against faiss and scikit-learn (python3 subprocess,
// bench/peers/kmeans_peers.py) and ml-kmeans (npm, pure JS) on the same synthetic data;
// every objective is recomputed the same way (sum over all rows of the best cosine to
// the L2-normalised centroids). Writes bench/results/kmeans.md.
import { parseArgs } from "node:util";
import { createGpu } from "../src/gpu/gpu.ts";
import { assignNearest } from "../src/kmeans/assign_nearest.ts";
import { kmeans } from "../src/kmeans/kmeans.ts";
import { mlKmeans } from "../src/kmeans/ml_kmeans_peer.ts";
import type { Matrix } from "../src/matrix/matrix.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    quick: { type: "boolean" },
    "no-f16": { type: "boolean" },
    n: { type: "string" },
    d: { type: "string" },
    k: { type: "string" },
    niter: { type: "string" },
    "ml-rows": { type: "string" },
    out: { type: "string" },
  },
});
const quick = values.quick ?? false;
const n = Number(values.n ?? (quick ? 20000 : 100000));
const d = Number(values.d ?? (quick ? 64 : 128));
const k = Number(values.k ?? (quick ? 100 : 1000));
const niter = Number(values.niter ?? 25);
const mlRows = Math.min(n, Number(values["ml-rows"] ?? (quick ? 5000 : 5000)));
const outPath = values.out ?? new URL("./results/kmeans.md", import.meta.url).pathname;
const seed = 1234;

/** k·4 Gaussian blobs on the unit sphere (noise 0.5 / √d per dimension), normalised. */
function makeData(): Matrix {
  let s = 42;
  const u = () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s + 0.5) / 2 ** 32;
  };
  const g = () => Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u());
  const m = Math.max(1, 4 * k);
  const centers = new Float32Array(m * d).map(g);
  const data = new Float32Array(n * d);
  for (let i = 0; i < n; i++) {
    const c = Math.floor(u() * m);
    let ss = 0;
    for (let j = 0; j < d; j++) {
      const v = centers[c * d + j]! / Math.sqrt(d) + (0.5 / Math.sqrt(d)) * g();
      data[i * d + j] = v;
      ss += v * v;
    }
    const inv = 1 / Math.sqrt(ss);
    for (let j = 0; j < d; j++) data[i * d + j]! *= inv;
  }
  return { data, rows: n, cols: d };
}

const gpu = await createGpu();
const x = makeData();
const objective = async (c: Matrix) => {
  const { scores } = await assignNearest(gpu, x, c, { metric: "cosine" });
  let s = 0;
  for (const v of scores) s += v;
  return s;
};
type Row = { tool: string; seconds: number | null; objective: number | null; note: string };
const rows: Row[] = [];
const log = (m: string) => console.error(`kmeans_compare: ${m}`);
log(`n=${n} d=${d} k=${k} niter=${niter} on ${gpu.info.description}`);

for (const f16 of values["no-f16"] ? [false] : [false, true]) {
  // warm-up: compile the kernels for this shape outside the timing
  await kmeans(gpu, {
    ...x,
    rows: Math.min(n, 4096),
    data: x.data.subarray(0, Math.min(n, 4096) * d),
  }, {
    k: Math.min(k, 64),
    niter: 1,
    f16,
  });
  const t = performance.now();
  const r = await kmeans(gpu, x, { k, niter, seed, f16 });
  const seconds = (performance.now() - t) / 1000;
  const perIter = r.stats.reduce((a, s) => a + s.timeSearch, 0) / r.stats.length;
  rows.push({
    tool: `mlcd${f16 ? " (f16 storage)" : ""}`,
    seconds,
    objective: await objective(r.centroids),
    note: `${(perIter * 1000).toFixed(0)} ms/iteration (assign + update + readback)`,
  });
  log(`mlcd f16=${f16}: ${seconds.toFixed(2)} s`);
}

const dir = await Deno.makeTempDir();
try {
  const file = `${dir}/x.f32`;
  await Deno.writeFile(file, new Uint8Array(x.data.buffer));
  const script = new URL("./peers/kmeans_peers.py", import.meta.url).pathname;
  log("faiss + scikit-learn ...");
  const py = await new Deno.Command("/usr/bin/python3", {
    args: [script, file, ...[n, d, k, niter, seed].map(String), `${dir}/c`],
    stdout: "piped",
    stderr: "inherit",
  }).output().catch((e) => ({ success: false, stdout: new TextEncoder().encode(String(e)) }));
  const text = new TextDecoder().decode(py.stdout);
  const res = py.success ? JSON.parse(text) : {};
  for (const [tool, label] of [["faiss", "faiss"], ["sklearn", "scikit-learn KMeans (lloyd)"]]) {
    const p = res[tool!];
    if (!p || p.error) {
      rows.push({
        tool: label!,
        seconds: null,
        objective: null,
        note: `skipped: ${p?.error ?? text}`,
      });
      continue;
    }
    const c = new Float32Array((await Deno.readFile(`${dir}/c.${tool}.f32`)).buffer);
    rows.push({
      tool: `${label} ${p.version}`,
      seconds: p.seconds,
      objective: await objective({ data: c, rows: k, cols: d }),
      note: tool === "faiss" ? `${p.threads} OpenMP threads` : `${p.iterations} iterations`,
    });
  }
} finally {
  await Deno.remove(dir, { recursive: true });
}

log(`ml-kmeans on ${mlRows} rows ...`);
{
  const sub = { data: x.data.subarray(0, mlRows * d), rows: mlRows, cols: d };
  const t = performance.now();
  const c = mlKmeans(sub, k, { maxIterations: niter, seed });
  const measured = (performance.now() - t) / 1000;
  const scale = n / mlRows;
  rows.push({
    tool: "ml-kmeans 7.0.1 (npm, JS)",
    seconds: measured * scale,
    objective: mlRows === n ? await objective(c) : await objective(c),
    note: mlRows === n
      ? "pure JS, 1 thread"
      : `trained on the first ${mlRows} rows in ${measured.toFixed(1)} s, time extrapolated ×${
        scale.toFixed(1)
      } (cost ∝ n); objective of those centroids on all rows`,
  });
}

const cpu = (await Deno.readTextFile("/proc/cpuinfo").catch(() => "")).match(
  /model name\s*:\s*(.*)/,
)?.[1] ?? "unknown CPU";
const cores = navigator.hardwareConcurrency;
const load = (await Deno.readTextFile("/proc/loadavg").catch(() => "?")).split(" ")[0];
const ours = rows[0]!;
const md = [
  `# Spherical k-means: mlcd vs faiss, scikit-learn, ml-kmeans`,
  ``,
  `Command: \`deno run -A bench/kmeans_compare.ts${quick ? " --quick" : ""}\` — ${
    new Date().toISOString().slice(0, 16)
  }Z`,
  ``,
  `- Data: ${n} × ${d} synthetic unit rows (${
    4 * k
  } Gaussian blobs), k = ${k}, ${niter} iterations, seed ${seed}, nredo 1.`,
  `- Adapter: ${gpu.info.description}; CPU: ${cpu} (${cores} cores); Deno ${Deno.version.deno}.`,
  `- Objective: sum over all ${n} rows of the best cosine similarity to the L2-normalised centroids, recomputed the same way for every tool (higher is better).`,
  `- Load average at the end of the run: ${load} on ${cores} cores${
    Number(load) > cores + 0.5
      ? " (more than this run's own threads: other jobs shared the machine, so timings are pessimistic)"
      : " (this run's own threads; no other heavy jobs)"
  }.`,
  ``,
  `| tool | time (s) | objective | time / mlcd | objective / mlcd | note |`,
  `|---|---|---|---|---|---|`,
  ...rows.map((r) =>
    `| ${r.tool} | ${r.seconds === null ? "—" : r.seconds.toFixed(2)} | ${
      r.objective === null ? "—" : r.objective.toFixed(1)
    } | ${r.seconds === null ? "—" : (r.seconds / ours.seconds!).toFixed(2)} | ${
      r.objective === null ? "—" : (r.objective / ours.objective!).toFixed(4)
    } | ${r.note} |`
  ),
  ``,
].join("\n");
await Deno.writeTextFile(outPath + ".tmp", md);
await Deno.rename(outPath + ".tmp", outPath);
console.log(md);
gpu.destroy();
