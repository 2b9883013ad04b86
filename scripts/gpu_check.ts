// deno task gpu-check: one command that checks the kernels at GPU-sized shapes against float64
// references on sampled rows, times them, and writes bench/results/<adapter>.md and .json.
//
//   deno task gpu-check                   # paper shapes (meant for a datacenter GPU, ≤ 8 min)
//   deno task gpu-check --quick           # small shapes (the software adapter; used by a test)
//   deno task gpu-check --out DIR         # write the results under DIR (default bench/results)
//
// Paper shapes: k-means 1M × 512 → 100k for one iteration (its assignment pass checked against
// float64), top-8 of 100k × 1M at d = 512, the MLCD loss at n = 4096, C = 100k, d = 512 (r = 0.1).
// Then the PyTorch matmul + topk peer at the top-k shape (bench/peers/torch_topk.py) when an
// interpreter (MLCD_PYTHON, /usr/bin/python3, python3) imports torch: on CUDA when torch sees a
// GPU, else on the CPU; otherwise the report says "torch: not available". Then the benchmark
// suite: bench/'s k-means and top-k sections at full shapes (--no-suite skips it; with --quick
// it runs only when --suite asks, at the bench's --quick shapes).
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
import { findTorch, torchTopk } from "../bench/torch_peer.ts";
import { findPython } from "../bench/python.ts";
import { FULL, QUICK as BENCH_QUICK } from "../bench/shapes.ts";
import { sectionKmeans } from "../bench/kmeans_section.ts";
import { sectionTopk } from "../bench/topk_section.ts";
import {
  computeRatios,
  details,
  fmtRatio,
  fmtSeconds,
  roofline,
  rows as benchRows,
  tunings,
} from "../bench/report.ts";

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
        "no-suite": { type: "boolean", default: false },
        suite: { type: "boolean", default: false },
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
    "deno task gpu-check [--quick] [--suite] [--no-suite] [--out DIR]: kernel exactness at GPU-sized " +
      "shapes against float64 on sampled rows, timings, the PyTorch top-k peer, then the bench " +
      "suite's k-means and top-k sections (with --quick only if --suite); writes DIR/<adapter>.md and .json",
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

/** The `k` largest entries' indices, best first (ties: lower index first), in one pass. */
function bestK(v: Float64Array, k: number): number[] {
  const top: number[] = [];
  for (let j = 0; j < v.length; j++) {
    if (top.length === k && v[j]! <= v[top[k - 1]!]!) continue;
    let at = top.length;
    while (at > 0 && v[top[at - 1]!]! < v[j]!) at--;
    top.splice(at, 0, j);
    if (top.length > k) top.pop();
  }
  return top;
}

/** Top-k's check, with our result and the float64 similarities of the sampled rows. */
interface TopkCheck {
  result: CheckResult;
  got: { indices: Uint32Array; scores: Float32Array };
  /** Sampled row → its float64 similarities to every key and its float64 top-k. */
  sampled: Map<number, { sims: Float64Array; order: number[] }>;
}

async function checkTopk(gpu: Gpu, q: Matrix, keys: Matrix): Promise<TopkCheck> {
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
  const kept: TopkCheck["sampled"] = new Map();
  for (const [done, r] of rows.entries()) {
    tick(done);
    const sims = cosines(unitRow(q, r), keys);
    const order = bestK(sims, k);
    kept.set(r, { sims, order });
    for (let t = 0; t < k; t++) {
      const gi = got.indices[r * k + t]!;
      worst = Math.max(worst, Math.abs(got.scores[r * k + t]! - sims[order[t]!]!));
      if (gi !== order[t] && Math.abs(sims[gi]! - sims[order[t]!]!) > 1e-5) bad++;
    }
  }
  const result = {
    name: `top-${k}`,
    shape,
    ok: bad === 0 && worst < 1e-4,
    detail: `${rows.length} sampled rows: ${bad} entries differ from float64 (beyond ties), ` +
      `max score error ${worst.toExponential(2)}`,
    ms,
    gflops: (2 * nq * nk * d) / (ms * 1e6),
  };
  return { result, got, sampled: kept };
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

/** The PyTorch matmul + topk peer's entry in the report. */
type TorchPeerReport =
  | { status: "not available"; reason: string }
  | { status: "failed"; python: string; error: string }
  | {
    status: "ok";
    python: string;
    torch: string;
    device: string;
    deviceName: string;
    shape: string;
    /** Ours, second run (pipelines compiled), from host rows to host indices. */
    oursSeconds: number;
    /** Torch from host rows to host indices: upload + compute + download. */
    torchSeconds: number;
    /** Torch's normalise + matmul + topk on the device alone (after a warm-up). */
    torchComputeSeconds: number;
    /** torchSeconds / oursSeconds: above 1, ours is faster (the bench's convention). */
    ratio: number;
    /** torchComputeSeconds / oursSeconds. */
    computeRatio: number;
    /** Fraction of our top-k entries (all rows) that torch's top-k also holds. */
    recall: number;
    /** Rows whose top-k equals torch's, in order. */
    rowsIdentical: number;
    /** On the float64-checked rows: torch entries that differ from float64 beyond ties. */
    torchBeyondTies: number;
    agrees: boolean;
  };

/**
 * Times PyTorch's float32 matmul + topk (CUDA when it sees a GPU, else the CPU) on the same
 * rows as our top-k, and checks its indices against ours (all rows) and against float64 (the
 * sampled rows). Ours is timed again for the ratio, now with its pipelines compiled.
 */
async function torchPeer(
  gpu: Gpu,
  q: Matrix,
  keys: Matrix,
  top: TopkCheck,
): Promise<TorchPeerReport> {
  const { k } = shapes.topk;
  const py = await findTorch();
  if (!("exe" in py)) {
    log(`torch: not available (${py.reason})`);
    return { status: "not available", reason: py.reason };
  }
  log(`top-${k} peer: PyTorch ${py.torch} on ${py.device} (${py.name}) via ${py.exe}`);
  try {
    const t0 = performance.now();
    await topk(gpu, q, keys, { k });
    const oursSeconds = (performance.now() - t0) / 1000;
    const run = await torchTopk(py, q, keys, k, values.quick ? 300 : 900);
    const ours = top.got.indices;
    let hits = 0, identical = 0;
    for (let r = 0; r < q.rows; r++) {
      const mine = new Set(ours.subarray(r * k, (r + 1) * k));
      let same = true;
      for (let t = 0; t < k; t++) {
        const i = run.indices[r * k + t]!;
        if (mine.has(i)) hits++;
        if (i !== ours[r * k + t]) same = false;
      }
      if (same) identical++;
    }
    let beyond = 0;
    for (const [r, { sims, order }] of top.sampled) {
      for (let t = 0; t < k; t++) {
        const i = run.indices[r * k + t]!;
        if (i !== order[t] && !(Math.abs(sims[i]! - sims[order[t]!]!) <= 1e-5)) beyond++;
      }
    }
    const recall = hits / (q.rows * k);
    const torchSeconds = run.uploadSeconds + run.computeSeconds + run.downloadSeconds;
    const report: TorchPeerReport = {
      status: "ok",
      python: py.exe,
      torch: run.torch,
      device: run.device,
      deviceName: run.name,
      shape: `queries=${q.rows} keys=${keys.rows} d=${keys.cols} k=${k}`,
      oursSeconds,
      torchSeconds,
      torchComputeSeconds: run.computeSeconds,
      ratio: torchSeconds / oursSeconds,
      computeRatio: run.computeSeconds / oursSeconds,
      recall,
      rowsIdentical: identical,
      torchBeyondTies: beyond,
      // float32 ties may order differently; anything else is a disagreement.
      agrees: recall >= 0.999 && beyond === 0,
    };
    log(
      `top-${k} peer: ours ${oursSeconds.toFixed(3)} s, torch ${torchSeconds.toFixed(3)} s ` +
        `(compute ${run.computeSeconds.toFixed(3)} s); recall of ours in torch's ${
          recall.toFixed(5)
        }`,
    );
    return report;
  } catch (e) {
    log(`torch peer failed: ${(e as Error).message}`);
    return { status: "failed", python: py.exe, error: (e as Error).message };
  }
}

function torchMarkdown(p: TorchPeerReport): string[] {
  const head = [`## PyTorch matmul + topk peer`, ""];
  if (p.status === "not available") return [...head, `torch: not available (${p.reason}).`, ""];
  if (p.status === "failed") return [...head, `torch: **FAILED** via ${p.python}: ${p.error}`, ""];
  const s = (v: number) => v >= 1 ? `${v.toFixed(2)} s` : `${(v * 1000).toFixed(1)} ms`;
  return [
    ...head,
    `PyTorch ${p.torch} on ${p.device} (${p.deviceName}), ${p.python}; float32 matmul (TF32 off) ` +
    `+ torch.topk on L2-normalised rows, ${p.shape}. Ratio = torch time / our time (above 1: ` +
    `ours is faster); both from host rows to host indices, ours after a first run compiled its ` +
    `pipelines, torch after a warm-up.`,
    "",
    "| tool | time | ratio | agreement |",
    "| --- | --- | --- | --- |",
    `| mlcd top-k (ours) | ${s(p.oursSeconds)} | | |`,
    `| torch, upload + compute + download | ${s(p.torchSeconds)} | ${
      p.ratio.toFixed(2)
    }× | recall of ours in torch's top-k ${p.recall.toFixed(5)}; ${p.rowsIdentical} rows ` +
    `identical in order; ${p.torchBeyondTies} torch entries off float64 beyond ties on the ` +
    `sampled rows${p.agrees ? "" : " (**disagrees**)"} |`,
    `| torch, compute on the device only | ${s(p.torchComputeSeconds)} | ${
      p.computeRatio.toFixed(2)
    }× | |`,
    "",
  ];
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
log(`device: ${gpu.selection.note}`);
const results: CheckResult[] = [];
const peers: { torch?: TorchPeerReport } = {};
{
  const { n, k, d } = shapes.kmeans;
  log(`generating ${n} × ${d} rows and ${k} × ${d} centroids`);
  const x = randomMatrix(n, d, 1), c = randomMatrix(k, d, 2);
  results.push(...await checkKmeans(gpu, x, c));
  // Top-k reuses them: the centroids as queries, the rows as keys.
  const t = shapes.topk;
  const q = t.nq === k && t.d === d ? c : randomMatrix(t.nq, t.d, 3);
  const keys = t.nk === n && t.d === d ? x : randomMatrix(t.nk, t.d, 4);
  const top = await checkTopk(gpu, q, keys);
  results.push(top.result);
  peers.torch = await torchPeer(gpu, q, keys, top);
}
results.push(await checkLoss(gpu));
log("peak FMA throughput");
const peak = await measurePeak(
  gpu,
  values.quick ? { repeats: 1, workgroups: 64, targetMs: 10 } : {},
);

// The benchmark suite: bench/'s k-means and top-k sections at their full shapes, in this
// process (their npm peers, ml-kmeans and hnswlib, load dynamically and fail to a row of their
// own on a machine without npm packages). The loss section's peer is tfjs (npm); the loss is
// timed above at the paper shape.
let suite: { ran: boolean; why?: string } = { ran: false };
const suiteShapes = values.quick ? BENCH_QUICK : FULL;
if (values["no-suite"] || (values.quick && !values.suite)) {
  suite.why = values["no-suite"]
    ? "not run (--no-suite)"
    : "not run with --quick (--suite runs it)";
} else {
  log(
    `benchmark suite: bench/kmeans_section.ts and bench/topk_section.ts at ${
      values.quick ? "--quick" : "full"
    } shapes`,
  );
  const py = await findPython();
  const tmp = await Deno.makeTempDir({ prefix: "mlcd-gpu-check-" });
  try {
    await sectionKmeans(gpu, suiteShapes, py, tmp, peak.f32.gflops, 600);
    await sectionTopk(gpu, suiteShapes, values.quick, py, tmp, peak.f32.gflops, 600);
    computeRatios();
    suite = { ran: true };
  } catch (e) {
    suite.why = `failed: ${(e as Error).message}`;
  } finally {
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
  }
}
const suiteMd = suite.ran
  ? [
    `## Benchmark suite (bench/ sections, ${values.quick ? "--quick" : "full"} shapes)`,
    "",
    "Ratio = peer time / mlcd time (above 1: mlcd is faster); for a variant, our time / its time.",
    "",
    "| task | tool | shape | time | quality | ratio | note |",
    "| --- | --- | --- | --- | --- | --- | --- |",
    ...benchRows.map((r) =>
      `| ${r.section} | ${r.tool} | ${r.shape} | ${fmtSeconds(r.seconds)} | ${r.quality} | ${
        fmtRatio(r.ratio)
      } | ${r.note} |`
    ),
    "",
    ...tunings.map((t) => `- autotune: ${t}`),
    "",
  ]
  : ["## Benchmark suite", "", `Benchmark suite: ${suite.why}.`, ""];
const totalS = (performance.now() - started) / 1000;

const report = {
  adapter: gpu.info,
  device: gpu.selection,
  profile: gpu.quirks.profile,
  toolkit: TOOLKIT_VERSION,
  deno: Deno.version.deno,
  date: new Date().toISOString(),
  quick: values.quick,
  totalSeconds: totalS,
  peak: { f32: peak.f32.gflops, f16: peak.f16?.gflops ?? null },
  checks: results,
  peers,
  suite: { ...suite, rows: benchRows, roofline, tunings, details },
};
const fmt = (v: number | null) => v === null ? "–" : v.toFixed(1);
const md = [
  `# gpu-check: ${gpu.info.description}`,
  "",
  `${report.date}, mlcd ${TOOLKIT_VERSION}, Deno ${report.deno}, ${gpu.quirks.profile} profile` +
  `${values.quick ? ", quick shapes" : ""}; ${totalS.toFixed(0)} s in all. ` +
  `Device: ${gpu.selection.note}. ` +
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
  ...(peers.torch ? torchMarkdown(peers.torch) : []),
  ...suiteMd,
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
const failed = results.filter((r) => !r.ok).map((r) => r.name);
// torch absent is reported ("torch: not available"), not a failure; a peer that ran and broke,
// or disagrees with ours beyond float32 ties, is.
if (peers.torch?.status === "failed") failed.push("PyTorch peer (failed to run)");
if (peers.torch?.status === "ok" && !peers.torch.agrees) failed.push("PyTorch peer (disagrees)");
if (suite.why?.startsWith("failed")) failed.push("benchmark suite");
if (failed.length) {
  log(`FAILED: ${failed.join(", ")}`);
  Deno.exit(1);
}
