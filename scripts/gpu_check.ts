// deno task gpu-check: one command that checks the kernels at GPU-sized shapes against float64
// references on sampled rows, times them, and writes bench/results/<adapter>.md and .json.
//
//   deno task gpu-check                   # paper shapes (meant for a datacenter GPU, ≤ 8 min)
//   deno task gpu-check --quick           # small shapes (the software adapter; used by a test)
//   deno task gpu-check --out DIR         # write the results under DIR (default bench/results)
//
// Paper shapes: k-means 1M × 512 → 100k for one iteration (its assignment pass checked against
// float64), top-8 of 100k × 1M at d = 512, the MLCD loss at n = 4096, C = 100k, d = 512 (r = 0.1).
// No npm package is on this script's import path (check: `deno info scripts/gpu_check.ts`), so it
// runs on a bare GPU machine with only the Deno binary and the Vulkan loader. Exit code 1 when a
// check fails, 2 on bad arguments.
import { parseArgs } from "node:util";
import { createGpu, type Gpu } from "../src/gpu/gpu.ts";
import { measurePeak } from "../src/gpu/peak.ts";
import { assignNearest } from "../src/kmeans/assign_nearest.ts";
import { kmeans } from "../src/kmeans/kmeans.ts";
import { topk } from "../src/topk/topk.ts";
import { mlcdLoss } from "../src/loss/mlcd_loss.ts";
import { mlcdLossReference } from "../src/loss/mlcd_loss_reference.ts";
import { sampleClasses } from "../src/loss/sample_classes.ts";
import type { Matrix } from "../src/matrix/matrix.ts";
import { writeFileAtomic } from "../src/data/atomic.ts";
import { TOOLKIT_VERSION } from "../src/version.ts";

/** Shapes of one run. */
interface Shapes {
  kmeans: { n: number; k: number; d: number };
  topk: { nq: number; nk: number; d: number; k: number };
  loss: { n: number; C: number; d: number; l: number; ratio: number };
  /** Rows checked against float64 per check. */
  sampleRows: { kmeans: number; topk: number; loss: number };
}

const PAPER: Shapes = {
  kmeans: { n: 1_000_000, k: 100_000, d: 512 },
  topk: { nq: 100_000, nk: 1_000_000, d: 512, k: 8 },
  loss: { n: 4096, C: 100_000, d: 512, l: 8, ratio: 0.1 },
  sampleRows: { kmeans: 64, topk: 8, loss: 16 },
};

const QUICK: Shapes = {
  kmeans: { n: 3001, k: 97, d: 64 },
  topk: { nq: 97, nk: 3001, d: 64, k: 8 },
  loss: { n: 64, C: 1000, d: 48, l: 4, ratio: 0.2 },
  sampleRows: { kmeans: 64, topk: 16, loss: 16 },
};

/** One check's outcome. */
interface CheckResult {
  name: string;
  shape: string;
  ok: boolean;
  detail: string;
  ms: number;
  gflops: number | null;
}

function usage(message: string): never {
  console.error(`mlcd gpu-check: ${message}`);
  Deno.exit(2);
}

const { values } = (() => {
  try {
    return parseArgs({
      args: Deno.args,
      options: {
        quick: { type: "boolean", default: false },
        out: { type: "string", default: "bench/results" },
        help: { type: "boolean", default: false },
      },
    });
  } catch (e) {
    usage((e as Error).message);
  }
})();
if (values.help) {
  console.log(
    "deno task gpu-check [--quick] [--out DIR]: kernel exactness at GPU-sized shapes against " +
      "float64 on sampled rows, then timings; writes DIR/<adapter>.md and .json",
  );
  Deno.exit(0);
}
const shapes = values.quick ? QUICK : PAPER;

/** Fills a rows × cols matrix with uniform values in [-0.5, 0.5) from a 32-bit LCG. */
function randomMatrix(rows: number, cols: number, seed: number): Matrix {
  const data = new Float32Array(rows * cols);
  let s = seed >>> 0;
  for (let i = 0; i < data.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    data[i] = s / 4294967296 - 0.5;
  }
  return { data, rows, cols };
}

function unitRow(m: Matrix, r: number): Float64Array {
  const v = Float64Array.from(m.data.subarray(r * m.cols, (r + 1) * m.cols));
  let s = 0;
  for (const e of v) s += e * e;
  const inv = s > 0 ? 1 / Math.sqrt(s) : 0;
  for (let i = 0; i < v.length; i++) v[i]! *= inv;
  return v;
}

/** Cosine similarity of float64 unit row `q` with every row of `m`, in float64. */
function cosines(q: Float64Array, m: Matrix): Float64Array {
  const out = new Float64Array(m.rows);
  const d = m.cols;
  for (let j = 0; j < m.rows; j++) {
    let dot = 0, nn = 0;
    const off = j * d;
    for (let c = 0; c < d; c++) {
      const x = m.data[off + c]!;
      dot += q[c]! * x;
      nn += x * x;
    }
    out[j] = nn > 0 ? dot / Math.sqrt(nn) : 0;
  }
  return out;
}

function sampleRows(n: number, count: number): number[] {
  const rows = new Set<number>([0, n - 1]);
  let s = 12345;
  while (rows.size < Math.min(n, count)) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    rows.add(s % n);
  }
  return [...rows].sort((a, b) => a - b);
}

function log(message: string): void {
  console.error(`gpu-check: ${message}`);
}

/** Logs "what i/n, ETA" at most every 5 s while a host loop runs. */
function progress(what: string, total: number): (done: number) => void {
  const t0 = performance.now();
  let last = t0;
  return (done) => {
    const now = performance.now();
    if (now - last < 5000 || done >= total) return;
    last = now;
    const eta = ((now - t0) / done) * (total - done) / 1000;
    log(`${what} ${done}/${total}, ETA ${eta.toFixed(0)} s`);
  };
}

async function checkKmeans(gpu: Gpu, x: Matrix, c: Matrix): Promise<CheckResult[]> {
  const { n, k, d } = shapes.kmeans;
  const shape = `n=${n} k=${k} d=${d}`;
  log(`k-means assignment ${shape}: GPU pass`);
  let t0 = performance.now();
  const { assignments, scores } = await assignNearest(gpu, x, c);
  const assignMs = performance.now() - t0;
  log(`k-means assignment: ${assignMs.toFixed(0)} ms; float64 check of sampled rows`);
  let bad = 0, worst = 0;
  const rows = sampleRows(n, shapes.sampleRows.kmeans);
  const tick = progress("k-means float64 check, row", rows.length);
  for (const [done, r] of rows.entries()) {
    tick(done);
    const sims = cosines(unitRow(x, r), c);
    let best = 0;
    for (let j = 1; j < k; j++) if (sims[j]! > sims[best]!) best = j;
    const got = assignments[r]!;
    const gap = sims[best]! - sims[got]!;
    worst = Math.max(worst, Math.abs(scores[r]! - sims[best]!));
    if (gap > 1e-5) bad++;
  }
  const assign: CheckResult = {
    name: "k-means assignment pass",
    shape,
    ok: bad === 0 && worst < 1e-4,
    detail: `${rows.length} sampled rows: ${bad} not at the float64 best (gap > 1e-5), ` +
      `max score error ${worst.toExponential(2)}`,
    ms: assignMs,
    gflops: (2 * n * k * d) / (assignMs * 1e6),
  };
  log(`k-means one iteration ${shape} (random init)`);
  t0 = performance.now();
  const res = await kmeans(gpu, x, { k, niter: 1, init: "random", seed: 1, onLog: log });
  const iterMs = performance.now() - t0;
  const stat = res.stats[0];
  const iteration: CheckResult = {
    name: "k-means, one iteration (end to end)",
    shape,
    ok: res.centroids.rows === k && res.assignments.length === n && stat !== undefined &&
      Number.isFinite(stat.objective),
    detail: `objective ${
      stat?.objective.toFixed(1)
    }, kernel ${res.kernel.variant} (${res.kernel.source})`,
    ms: iterMs,
    gflops: null,
  };
  return [assign, iteration];
}

async function checkTopk(gpu: Gpu, q: Matrix, keys: Matrix): Promise<CheckResult> {
  const { nq, nk, d, k } = shapes.topk;
  const shape = `queries=${nq} keys=${nk} d=${d} k=${k}`;
  log(`top-${k} ${shape}: GPU`);
  const t0 = performance.now();
  const got = await topk(gpu, q, keys, { k });
  const ms = performance.now() - t0;
  log(`top-${k}: ${ms.toFixed(0)} ms; float64 check of sampled rows`);
  let bad = 0, worst = 0;
  const rows = sampleRows(nq, shapes.sampleRows.topk);
  const tick = progress("top-k float64 check, row", rows.length);
  for (const [done, r] of rows.entries()) {
    tick(done);
    const sims = cosines(unitRow(q, r), keys);
    const order = [...sims.keys()].sort((a, b) => sims[b]! - sims[a]! || a - b).slice(0, k);
    for (let t = 0; t < k; t++) {
      const gi = got.indices[r * k + t]!;
      worst = Math.max(worst, Math.abs(got.scores[r * k + t]! - sims[order[t]!]!));
      if (gi !== order[t] && Math.abs(sims[gi]! - sims[order[t]!]!) > 1e-5) bad++;
    }
  }
  return {
    name: `top-${k}`,
    shape,
    ok: bad === 0 && worst < 1e-4,
    detail: `${rows.length} sampled rows: ${bad} entries differ from float64 (beyond ties), ` +
      `max score error ${worst.toExponential(2)}`,
    ms,
    gflops: (2 * nq * nk * d) / (ms * 1e6),
  };
}

async function checkLoss(gpu: Gpu): Promise<CheckResult> {
  const { n, C, d, l, ratio } = shapes.loss;
  const shape = `n=${n} C=${C} d=${d} l=${l} r=${ratio}`;
  const embeddings = randomMatrix(n, d, 21), centers = randomMatrix(C, d, 22);
  const positives = new Uint32Array(n * l);
  let s = 7;
  for (let i = 0; i < n; i++) {
    const set = new Set<number>();
    while (set.size < l) {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
      set.add(s % C);
    }
    positives.set([...set], i * l);
  }
  const sampled = sampleClasses(positives, { classes: C, ratio, seed: 3 });
  log(`MLCD loss ${shape} (S=${sampled.length}): GPU forward + backward`);
  const t0 = performance.now();
  const got = await mlcdLoss(gpu, { embeddings, centers, positives, sampled, perSample: true });
  const ms = performance.now() - t0;
  // Every sample's loss and embedding gradient depend on its own row only: check sampled rows
  // as a sub-batch (the gradient of a mean scales with 1 / batch size).
  const rows = sampleRows(n, shapes.sampleRows.loss);
  const sub = new Float32Array(rows.length * d);
  const subPos = new Uint32Array(rows.length * l);
  rows.forEach((r, i) => {
    sub.set(embeddings.data.subarray(r * d, (r + 1) * d), i * d);
    subPos.set(positives.subarray(r * l, (r + 1) * l), i * l);
  });
  log(`MLCD loss: ${ms.toFixed(0)} ms; float64 reference on ${rows.length} rows`);
  const ref = mlcdLossReference({
    embeddings: { data: sub, rows: rows.length, cols: d },
    centers,
    positives: subPos,
    sampled,
  });
  let lossErr = 0, gradErr = 0;
  rows.forEach((r, i) => {
    const want = ref.perSample[i]!;
    lossErr = Math.max(lossErr, Math.abs(got.perSample![r]! - want) / Math.max(1, Math.abs(want)));
    let num = 0, den = 0;
    for (let c = 0; c < d; c++) {
      const g = got.gradEmbeddings.data[r * d + c]! * n;
      const w = ref.gradEmbeddings[i * d + c]! * rows.length;
      num += (g - w) ** 2;
      den += w * w;
    }
    gradErr = Math.max(gradErr, Math.sqrt(num / Math.max(den, 1e-30)));
  });
  const S = sampled.length;
  return {
    name: "MLCD loss, forward + backward",
    shape,
    ok: lossErr < 1e-3 && gradErr < 1e-3,
    detail:
      `${rows.length} sampled rows: per-sample loss rel. error ${lossErr.toExponential(2)}, ` +
      `embedding-gradient rel. error ${gradErr.toExponential(2)}`,
    ms,
    gflops: (3 * 2 * n * S * d) / (ms * 1e6),
  };
}

function slug(description: string): string {
  return description.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-|-$/g, "") ||
    "unknown-adapter";
}

const started = performance.now();
const gpu = await createGpu();
log(
  `adapter: ${gpu.info.description} (${gpu.quirks.profile} profile)${
    values.quick ? ", quick shapes" : ""
  }`,
);
const results: CheckResult[] = [];
{
  const { n, k, d } = shapes.kmeans;
  log(`generating ${n} × ${d} rows and ${k} × ${d} centroids`);
  const x = randomMatrix(n, d, 1), c = randomMatrix(k, d, 2);
  results.push(...await checkKmeans(gpu, x, c));
  // Top-k reuses them: the centroids as queries, the rows as keys.
  const t = shapes.topk;
  const q = t.nq === k && t.d === d ? c : randomMatrix(t.nq, t.d, 3);
  const keys = t.nk === n && t.d === d ? x : randomMatrix(t.nk, t.d, 4);
  results.push(await checkTopk(gpu, q, keys));
}
results.push(await checkLoss(gpu));
log("peak FMA throughput");
const peak = await measurePeak(
  gpu,
  values.quick ? { repeats: 1, workgroups: 64, targetMs: 10 } : {},
);
const totalS = (performance.now() - started) / 1000;

const report = {
  adapter: gpu.info,
  profile: gpu.quirks.profile,
  toolkit: TOOLKIT_VERSION,
  deno: Deno.version.deno,
  date: new Date().toISOString(),
  quick: values.quick,
  totalSeconds: totalS,
  peak: { f32: peak.f32.gflops, f16: peak.f16?.gflops ?? null },
  checks: results,
};
const fmt = (v: number | null) => v === null ? "–" : v.toFixed(1);
const md = [
  `# gpu-check: ${gpu.info.description}`,
  "",
  `${report.date}, mlcd ${TOOLKIT_VERSION}, Deno ${report.deno}, ${gpu.quirks.profile} profile` +
  `${values.quick ? ", quick shapes" : ""}; ${totalS.toFixed(0)} s in all. ` +
  `Peak FMA: ${peak.f32.gflops.toFixed(0)} GFLOP/s f32${
    peak.f16 ? `, ${peak.f16.gflops.toFixed(0)} GFLOP/s packed f16` : ""
  }.`,
  "",
  "| check | shape | exact | ms | GFLOP/s | detail |",
  "| --- | --- | --- | --- | --- | --- |",
  ...results.map((r) =>
    `| ${r.name} | ${r.shape} | ${r.ok ? "yes" : "**NO**"} | ${r.ms.toFixed(0)} | ${
      fmt(r.gflops)
    } | ${r.detail} |`
  ),
  "",
].join("\n");
const base = `${values.out.replace(/\/+$/, "")}/${slug(gpu.info.description)}${
  values.quick ? "-quick" : ""
}`;
await Deno.mkdir(values.out, { recursive: true });
const enc = new TextEncoder();
await writeFileAtomic(`${base}.json`, enc.encode(JSON.stringify(report, null, 2) + "\n"));
await writeFileAtomic(`${base}.md`, enc.encode(md));
console.log(md);
log(`wrote ${base}.md and ${base}.json`);
gpu.destroy();
if (results.some((r) => !r.ok)) {
  log(`FAILED: ${results.filter((r) => !r.ok).map((r) => r.name).join(", ")}`);
  Deno.exit(1);
}
