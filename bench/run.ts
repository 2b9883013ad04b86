// `deno task bench [--quick] [--out bench/results] [--only kmeans,topk,loss]`
//
// End-to-end comparisons against the peers on the same data in one run, a table of ratios
// on stdout, and bench/results/<machine>.md + .json:
//   - spherical k-means (objective and time) vs faiss, scikit-learn KMeans and ml-kmeans,
//     plus our packed-f16 variant; every tool's centroids are scored by the same exact
//     assignment so the objectives compare;
//   - top-8 over the centers vs faiss IndexFlatIP (exact) and hnswlib (recall and time);
//   - the MLCD loss forward + backward vs the same math in plain tfjs ops;
//   - the adapter's measured arithmetic peak, transfer GB/s, and a roofline line per kernel.
// Each section is independent: a missing peer or a failing part prints one line and the
// run goes on. --quick uses smaller shapes (named in the table) and finishes in a few
// minutes on a 2-core machine with the software adapter.
import { parseArgs } from "node:util";
import { createGpu, type Gpu } from "../src/gpu/gpu.ts";
import { downloadMatrix, uploadMatrix } from "../src/gpu/gpu_matrix.ts";
import { measurePeak, type PeakResult } from "../src/gpu/peak.ts";
import { autotuneCacheDir } from "../src/gpu/autotune.ts";
import type { Matrix } from "../src/matrix/matrix.ts";
import { readNpyArray, writeNpy } from "../src/data/npy.ts";
import { writeFileAtomic } from "../src/data/atomic.ts";
import { mulberry32 } from "../src/random/mulberry32.ts";
import { oocSection } from "./ooc_bench.ts";

type KMeansModule = typeof import("../src/kmeans/mod.ts");
type TopkModule = typeof import("../src/topk/mod.ts");
type LossModule = typeof import("../src/loss/mod.ts");
type TfModule = typeof import("../src/model/tf.ts");
type AnnModule = typeof import("../src/ann/mod.ts");

const HERE = new URL(".", import.meta.url).pathname;
const PEERS_PY = `${HERE}peers/mlcd_peers.py`;
const KMEANS_PEERS_PY = `${HERE}peers/kmeans_peers.py`;
const TOPK_PEERS_PY = `${HERE}peers/topk_peers.py`;

// ---------------------------------------------------------------------------------------
// Shapes

interface Shapes {
  kmeans: { n: number; d: number; k: number; niter: number; mlN: number };
  topk: { keys: number; queries: number; d: number; k: number };
  loss: { n: number; d: number; C: number; l: number; ratio: number; repeats: number };
}

const FULL: Shapes = {
  kmeans: { n: 100_000, d: 128, k: 1000, niter: 25, mlN: 2_000 },
  topk: { keys: 100_000, queries: 10_000, d: 128, k: 8 },
  loss: { n: 512, d: 512, C: 100_000, l: 8, ratio: 0.1, repeats: 3 },
};

const QUICK: Shapes = {
  kmeans: { n: 20_000, d: 128, k: 1000, niter: 10, mlN: 2_000 },
  topk: { keys: 20_000, queries: 1_000, d: 128, k: 8 },
  loss: { n: 128, d: 128, C: 10_000, l: 8, ratio: 0.1, repeats: 2 },
};

// ---------------------------------------------------------------------------------------
// Results

/** One line of the ratio table. */
interface Row {
  section: string;
  tool: string;
  shape: string;
  /** Seconds for the whole task (extrapolated when `note` says so). */
  seconds: number | null;
  /** Quality figure: objective, recall or loss value. */
  quality: string;
  /** Peer time / our time (> 1: ours faster); for a variant, our time / its time. */
  ratio: number | null;
  /** Our baseline row, a variant of ours, or a peer; ratios are computed per section. */
  kind: "ours" | "variant" | "peer";
  note: string;
}

interface Roofline {
  kernel: string;
  shape: string;
  gflop: number;
  ms: number;
  gflops: number;
  peakGflops: number;
  fraction: number;
  timing: string;
}

const rows: Row[] = [];
const roofline: Roofline[] = [];
const notes: string[] = [];
const tunings: string[] = [];
const details: Record<string, unknown> = {};

function log(line: string): void {
  console.error(`bench: ${line}`);
}

let childResultPath: string | null = null;

/** In a section's child process, rewrites the result file so far (survives a later hang). */
function flush(): void {
  if (!childResultPath) return;
  const tmp = `${childResultPath}.tmp`;
  Deno.writeTextFileSync(tmp, JSON.stringify({ rows, roofline, details, notes, tunings }));
  Deno.renameSync(tmp, childResultPath);
}

function emit(row: Row): void {
  rows.push(row);
  flush();
}

function skip(
  section: string,
  tool: string,
  shape: string,
  why: string,
  kind: Row["kind"] = "peer",
): void {
  emit({ section, tool, shape, seconds: null, quality: "—", ratio: null, kind, note: why });
  log(`${section} / ${tool}: ${why}`);
}

/** Fills every row's ratio from its section's "ours" row. */
function computeRatios(): void {
  for (const r of rows) {
    const base = rows.find((o) => o.section === r.section && o.kind === "ours" && o.seconds);
    if (!base || r.seconds === null || r.kind === "ours") r.ratio = null;
    else if (r.kind === "variant") r.ratio = base.seconds! / r.seconds;
    else r.ratio = r.seconds / base.seconds!;
  }
  const order = { ours: 0, variant: 1, peer: 2 };
  const sections = [...new Set(rows.map((r) => r.section))];
  rows.sort((a, b) =>
    sections.indexOf(a.section) - sections.indexOf(b.section) || order[a.kind] - order[b.kind]
  );
}

function fail(section: string, tool: string, shape: string, e: unknown): void {
  const msg = (e instanceof Error ? e.message : String(e)).split("\n")[0]!.slice(0, 240);
  skip(section, tool, shape, `error: ${msg}`);
}

// ---------------------------------------------------------------------------------------
// Data (seeded, clustered on the unit sphere)

function normals(count: number, rand: () => number): Float32Array {
  const out = new Float32Array(count);
  for (let i = 0; i < count; i += 2) {
    const u = Math.max(rand(), 1e-12), v = rand();
    const r = Math.sqrt(-2 * Math.log(u));
    out[i] = r * Math.cos(2 * Math.PI * v);
    if (i + 1 < count) out[i + 1] = r * Math.sin(2 * Math.PI * v);
  }
  return out;
}

function normalizeRowsInPlace(m: Matrix): Matrix {
  const { data, rows: n, cols: d } = m;
  for (let r = 0; r < n; r++) {
    let s = 0;
    for (let c = 0; c < d; c++) s += data[r * d + c]! ** 2;
    const inv = s > 0 ? 1 / Math.sqrt(s) : 0;
    for (let c = 0; c < d; c++) data[r * d + c]! *= inv;
  }
  return m;
}

/** `n` unit rows around `clusters` random directions (cosine to the own center ≈ 0.7). */
function clustered(n: number, d: number, clusters: number, seed: number): Matrix {
  const rand = mulberry32(seed);
  const centers = normals(clusters * d, rand);
  normalizeRowsInPlace({ data: centers, rows: clusters, cols: d });
  const data = normals(n * d, rand);
  const sigma = 1 / Math.sqrt(d);
  for (let r = 0; r < n; r++) {
    const c = Math.floor(rand() * clusters);
    for (let j = 0; j < d; j++) data[r * d + j] = centers[c * d + j]! + sigma * data[r * d + j]!;
  }
  return normalizeRowsInPlace({ data, rows: n, cols: d });
}

function sliceRows(m: Matrix, start: number, count: number): Matrix {
  return {
    data: m.data.slice(start * m.cols, (start + count) * m.cols),
    rows: count,
    cols: m.cols,
  };
}

// ---------------------------------------------------------------------------------------
// Environment

async function cpuModel(): Promise<string> {
  try {
    const text = await Deno.readTextFile("/proc/cpuinfo");
    const m = text.match(/^model name\s*:\s*(.+)$/m);
    if (m) return m[1]!.trim();
  } catch { /* not Linux */ }
  return `${Deno.build.arch} cpu`;
}

function slug(s: string): string {
  return s.toLowerCase().replace(/\(r\)|\(tm\)|cpu|processor|@.*$/g, " ")
    .replace(/[^a-z0-9]+/g, "-").replace(/^-+|-+$/g, "");
}

/** e.g. "lavapipe-2core-amd-epyc" or "nvidia-h100-80gb-hbm3-16core-amd-epyc-9454". */
function machineSlug(adapter: string, cpu: string, cores: number): string {
  let a = adapter.replace(/\(.*$/, "").trim();
  if (/^llvmpipe/i.test(a)) a = "lavapipe"; // Mesa's Vulkan name for the llvmpipe adapter
  const words = slug(a).split("-").slice(0, 4).join("-") || "adapter";
  const c = slug(cpu).split("-").slice(0, 4).join("-") || "cpu";
  return `${words}-${cores}core-${c}`;
}

/** CPU seconds used by every process on the machine and by this one (with children). */
async function cpuCounters(): Promise<{ total: number; self: number } | null> {
  try {
    const stat = (await Deno.readTextFile("/proc/stat")).split("\n")[0]!.trim().split(/\s+/);
    const f = stat.slice(1).map(Number);
    const busy = f[0]! + f[1]! + f[2]! + f[5]! + f[6]! + f[7]!; // minus idle, iowait
    const self = await Deno.readTextFile("/proc/self/stat");
    const g = self.slice(self.lastIndexOf(")") + 2).split(" ").map(Number);
    // fields 14..17 (utime stime cutime cstime) are at 11..14 after "pid (comm) "
    const mine = g[11]! + g[12]! + g[13]! + g[14]!;
    return { total: busy / 100, self: mine / 100 }; // USER_HZ is 100 on Linux
  } catch {
    return null;
  }
}

// ---------------------------------------------------------------------------------------
// Python peers

interface Python {
  exe: string;
  faiss: string | null;
  sklearn: string | null;
  numpy: string | null;
}

async function runPython(
  exe: string,
  script: string,
  args: string[],
  timeoutS: number,
): Promise<Record<string, unknown>> {
  const out = await new Deno.Command(exe, {
    args: [script, ...args],
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(timeoutS * 1000),
  }).output();
  const text = new TextDecoder().decode(out.stdout).trim();
  if (!out.success) {
    const err = new TextDecoder().decode(out.stderr).trim().split("\n").pop() ?? "";
    throw new Error(`${script.split("/").pop()} ${args[0]} exited with ${out.code}: ${err}`);
  }
  return JSON.parse(text.split("\n").pop()!);
}

async function findPython(): Promise<Python | null> {
  const candidates = [Deno.env.get("MLCD_PYTHON"), "/usr/bin/python3", "python3"].filter(
    (p): p is string => !!p,
  );
  let best: Python | null = null;
  for (const exe of candidates) {
    try {
      const p = await runPython(exe, PEERS_PY, ["probe"], 60);
      const found: Python = {
        exe,
        faiss: (p.faiss as string | null) ?? null,
        sklearn: (p.sklearn as string | null) ?? null,
        numpy: (p.numpy as string | null) ?? null,
      };
      const score = (x: Python | null) => x ? (x.faiss ? 2 : 0) + (x.sklearn ? 1 : 0) : -1;
      if (score(found) > score(best)) best = found;
      if (found.faiss && found.sklearn) break;
    } catch { /* not there */ }
  }
  return best;
}

const INSTALL_FAISS =
  "not installed: apt-get install -y python3-faiss (or pip install faiss-cpu); MLCD_PYTHON picks the interpreter";
const INSTALL_SKLEARN =
  "not installed: apt-get install -y python3-sklearn (or pip install scikit-learn); MLCD_PYTHON picks the interpreter";

// ---------------------------------------------------------------------------------------
// Sections

function fmtShapeK(s: Shapes["kmeans"]): string {
  return `n=${s.n} d=${s.d} k=${s.k} ${s.niter} it`;
}

async function sectionKmeans(
  gpu: Gpu,
  shapes: Shapes,
  py: Python | null,
  tmp: string,
  peak: number | null,
  timeoutS: number,
): Promise<void> {
  const S = shapes.kmeans;
  const shape = fmtShapeK(S);
  const section = "spherical k-means";
  log(`${section}: generating ${S.n}×${S.d} clustered rows`);
  const x = clustered(S.n, S.d, S.k, 7);
  let km: KMeansModule;
  try {
    km = await import("../src/kmeans/mod.ts");
  } catch (e) {
    fail(section, "mlcd (ours)", shape, e);
    return;
  }
  const info: Record<string, unknown> = { shape: S };
  details.kmeans = info;
  /** Objective of any centroids on all rows: sum of best cosines (same exact kernel). */
  const score = async (c: Matrix): Promise<number> => {
    const { scores } = await km.assignNearest(gpu, x, c, { spherical: true });
    let s = 0;
    for (let i = 0; i < scores.length; i++) s += scores[i]!;
    return s;
  };
  flush();
  const tuneLogs: string[] = [];
  let ours: number | null = null;
  for (const f16 of [false, true]) {
    const tool = f16 ? "mlcd f16 storage" : "mlcd (ours)";
    try {
      log(`${section}: ${tool}`);
      const t0 = performance.now();
      const r = await km.kmeans(gpu, x, {
        k: S.k,
        niter: S.niter,
        spherical: true,
        init: "random",
        seed: 1234,
        f16,
        // "auto" (the default) times its candidate kernels once per adapter and caches
        // the winner; the log line lists every candidate's time.
        onLog: (m) => {
          if (m.startsWith("Autotuned")) tuneLogs.push(m);
        },
      });
      const seconds = (performance.now() - t0) / 1000;
      const kern = r.kernel;
      tunings.push(
        `assignment kernel for d=${S.d}${f16 ? " (f16 storage)" : ""}: **${kern.variant}${
          kern.variant === "registers" ? `×${kern.rows} rows` : ""
        }** (${kern.source}${
          kern.ms === null ? "" : `, ${kern.ms.toFixed(1)} ms on the tuning problem`
        })` +
          (tuneLogs.length ? `. ${tuneLogs.pop()}` : ""),
      );
      info[f16 ? "kernelF16" : "kernel"] = kern;
      const obj = await score(r.centroids);
      const search = r.stats.map((s) => s.timeSearch);
      const perIter = search.reduce((a, b) => a + b, 0) / Math.max(1, search.length);
      if (!f16) ours = seconds;
      emit({
        section,
        kind: f16 ? "variant" : "ours",
        tool,
        shape,
        seconds,
        quality: `obj ${obj.toFixed(1)}`,
        ratio: f16 && ours ? ours / seconds : null,
        note: `${(perIter * 1000).toFixed(0)} ms/iteration (assign + update)` +
          (f16 ? "; ratio = f32 time / f16 time" : ""),
      });
      info[f16 ? "oursF16" : "ours"] = { seconds, objective: obj, perIterS: perIter };
      if (peak) {
        const gflop = (2 * S.n * S.k * S.d + 3 * S.n * S.d) / 1e9;
        addRoofline(
          f16 ? "kmeans iteration (f16 storage)" : "kmeans iteration",
          shape,
          gflop,
          perIter * 1000,
          peak,
          "timeSearch per iteration",
        );
      }
    } catch (e) {
      fail(section, tool, shape, e);
    }
  }
  // faiss and scikit-learn through helper B's bench/peers/kmeans_peers.py (one process
  // for both), on the same already-normalised rows as a raw float32 file.
  const want = [
    ["faiss", "faiss", py?.faiss, INSTALL_FAISS],
    ["sklearn", "scikit-learn KMeans", py?.sklearn, INSTALL_SKLEARN],
  ] as const;
  for (const [, tool, ok, install] of want) if (!py || !ok) skip(section, tool, shape, install);
  if (py && (py.faiss || py.sklearn)) {
    let out: Record<string, Record<string, unknown>> = {};
    const prefix = `${tmp}/kmeans`;
    try {
      log(`${section}: faiss and scikit-learn (bench/peers/kmeans_peers.py)`);
      await Deno.writeFile(
        `${tmp}/x.f32`,
        new Uint8Array(x.data.buffer, x.data.byteOffset, x.data.byteLength),
      );
      out = await runPython(py.exe, KMEANS_PEERS_PY, [
        `${tmp}/x.f32`,
        `${S.n}`,
        `${S.d}`,
        `${S.k}`,
        `${S.niter}`,
        "1234",
        prefix,
      ], timeoutS) as Record<string, Record<string, unknown>>;
    } catch (e) {
      for (const [, tool, ok] of want) if (ok) fail(section, tool, shape, e);
    }
    for (const [key, tool, ok] of want) {
      const r = out[key];
      if (!ok || !r) continue;
      if (r.error) {
        fail(section, tool, shape, r.error);
        continue;
      }
      try {
        const data = new Float32Array((await Deno.readFile(`${prefix}.${key}.f32`)).buffer);
        const obj = await score({ data, rows: S.k, cols: S.d });
        const seconds = r.seconds as number;
        emit({
          section,
          kind: "peer",
          tool: `${tool} ${r.version}`,
          shape,
          seconds,
          quality: `obj ${obj.toFixed(1)}`,
          ratio: ours ? seconds / ours : null,
          note: key === "faiss"
            ? `CPU, ${r.threads} threads; ${(seconds / S.niter * 1000).toFixed(0)} ms/iteration`
            : `lloyd, k-means++ init, ${r.iterations} iterations`,
        });
        info[key] = { ...r, objective: obj };
      } catch (e) {
        fail(section, tool, shape, e);
      }
    }
  }
  await mlKmeansPeer(S, x, ours, score, info);
}

/**
 * ml-kmeans (pure JS, k-means++ init) is far too slow for the full shape, so it runs all
 * `niter` iterations on the first `mlN` rows; its k-means++ initialisation and every
 * iteration each cost ∝ n·k·d, so the full-shape time is that run's time × n / mlN.
 */
async function mlKmeansPeer(
  S: Shapes["kmeans"],
  x: Matrix,
  ours: number | null,
  score: (c: Matrix) => Promise<number>,
  info: Record<string, unknown>,
): Promise<void> {
  const section = "spherical k-means";
  const shape = `${fmtShapeK(S)} (run on n=${S.mlN})`;
  let mod: Record<string, unknown>;
  try {
    mod = await import("../src/kmeans/ml_kmeans_peer.ts") as Record<string, unknown>;
  } catch (e) {
    fail(section, "ml-kmeans", shape, e);
    return;
  }
  const run = mod.mlKmeans as
    | ((
      x: Matrix,
      k: number,
      options: { maxIterations: number; seed: number },
    ) => Promise<Matrix> | Matrix)
    | undefined;
  if (typeof run !== "function") {
    skip(section, "ml-kmeans", shape, "src/kmeans/ml_kmeans_peer.ts has no mlKmeans export");
    return;
  }
  try {
    log(`${section}: ml-kmeans on ${S.mlN} rows, ${S.niter} iterations`);
    const sub = sliceRows(x, 0, S.mlN);
    const t0 = performance.now();
    const c = await run(sub, S.k, { maxIterations: S.niter, seed: 1234 });
    const measured = (performance.now() - t0) / 1000;
    const seconds = measured * (S.n / S.mlN);
    const obj = await score(c);
    emit({
      section,
      kind: "peer",
      tool: "ml-kmeans 7.0.1",
      shape,
      seconds,
      quality: `obj ${obj.toFixed(1)} (trained on ${S.mlN} rows)`,
      ratio: ours ? seconds / ours : null,
      note: `extrapolated: ${measured.toFixed(1)} s on ${S.mlN} rows × n/${S.mlN} ` +
        "(k-means++ init and iterations both ∝ n; pure JS, 1 thread)",
    });
    info.mlKmeans = {
      measuredS: measured,
      mlN: S.mlN,
      extrapolatedS: seconds,
      objective: obj,
    };
  } catch (e) {
    fail(section, "ml-kmeans", shape, e);
  }
}

function addRoofline(
  kernel: string,
  shape: string,
  gflop: number,
  ms: number,
  peakGflops: number,
  timing: string,
): void {
  const gflops = gflop / (ms / 1000);
  flushLater();
  roofline.push({
    kernel,
    shape,
    gflop,
    ms,
    gflops,
    peakGflops,
    fraction: gflops / peakGflops,
    timing,
  });
}

function flushLater(): void {
  queueMicrotask(flush);
}

function recall(found: Uint32Array, truth: Uint32Array, nq: number, k: number): number {
  let hit = 0;
  for (let q = 0; q < nq; q++) {
    const want = new Set(truth.subarray(q * k, (q + 1) * k));
    for (let j = 0; j < k; j++) if (want.has(found[q * k + j]!)) hit++;
  }
  return hit / (nq * k);
}

async function sectionTopk(
  gpu: Gpu,
  shapes: Shapes,
  quick: boolean,
  py: Python | null,
  tmp: string,
  peak: number | null,
  timeoutS: number,
): Promise<void> {
  const S = shapes.topk;
  const section = `top-${S.k}`;
  const shape = `${S.queries} q × ${S.keys} centers, d=${S.d}`;
  // Centers and queries drawn around the same directions, like embeddings and their
  // cluster centers.
  const all = clustered(S.keys + S.queries, S.d, Math.max(1, Math.floor(S.keys / 100)), 11);
  const keys = sliceRows(all, 0, S.keys);
  const queries = sliceRows(all, S.keys, S.queries);
  const info: Record<string, unknown> = { shape: S };
  details.topk = info;
  let oursS: number | null = null;
  let truth: Uint32Array | null = null;
  let truthName = "";
  // faiss first: its exact result is the ground truth.
  if (py?.faiss) {
    try {
      log(`${section}: faiss IndexFlatIP`);
      await writeNpy(`${tmp}/keys.npy`, keys.data, [keys.rows, keys.cols]);
      await writeNpy(`${tmp}/queries.npy`, queries.data, [queries.rows, queries.cols]);
      // helper C's bench/peers/topk_peers.py: add, warm-up search, timed search
      const r = await runPython(py.exe, TOPK_PEERS_PY, [
        `${tmp}/queries.npy`,
        `${tmp}/keys.npy`,
        `${S.k}`,
        `${tmp}/faiss_idx.npy`,
      ], timeoutS);
      truth = (await readNpyArray(`${tmp}/faiss_idx.npy`)).data as Uint32Array;
      truthName = "faiss IndexFlatIP";
      emit({
        section,
        kind: "peer",
        tool: `faiss IndexFlatIP ${r.faiss_version}`,
        shape,
        seconds: r.faiss_seconds as number,
        quality: "recall 1 (exact, reference)",
        ratio: null,
        note: `CPU, ${r.threads} threads; search only (after add and a warm-up search)`,
      });
      info.faiss = r;
    } catch (e) {
      fail(section, "faiss IndexFlatIP", shape, e);
    }
  } else {
    skip(section, "faiss IndexFlatIP", shape, INSTALL_FAISS);
  }
  try {
    const tk: TopkModule = await import("../src/topk/mod.ts");
    log(`${section}: mlcd (ours)`);
    const tu = performance.now();
    const index = tk.uploadTopkKeys(gpu, keys, { metric: "ip" });
    await gpu.device.queue.onSubmittedWorkDone();
    const uploadS = (performance.now() - tu) / 1000;
    let r: Awaited<ReturnType<typeof index.search>>;
    try {
      // Compiles the pipelines; with variant "auto" the first search also times both
      // kernel designs on up to 256 of these queries (once per adapter, then cached).
      await index.search(sliceRows(queries, 0, Math.min(256, S.queries)), S.k);
      const t0 = performance.now();
      r = await index.search(queries, S.k);
      oursS = (performance.now() - t0) / 1000;
      const tn = index.tuning;
      tunings.push(
        `top-k kernel for d=${S.d}: **${index.variant}** (${tn?.source ?? "default"}${
          tn?.ms == null ? "" : `, ${tn.ms.toFixed(1)} ms on 256 queries`
        })`,
      );
    } finally {
      index.destroy();
    }
    if (!truth) truthName = "ours (exact)";
    const ref: Uint32Array = truth ?? r.indices;
    truth = ref;
    const rec = recall(r.indices, ref, S.queries, S.k);
    emit({
      section,
      kind: "ours",
      tool: "mlcd (ours)",
      shape,
      seconds: oursS,
      quality: `recall ${rec.toFixed(4)}`,
      ratio: null,
      note: `exact; search incl. query upload + readback (centers resident, upload ${
        (uploadS * 1000).toFixed(0)
      } ms); recall vs ${truthName}`,
    });
    info.ours = { seconds: oursS, recall: rec };
    if (peak) {
      addRoofline(
        `top-${S.k} (fused GEMM + select)`,
        shape,
        (2 * S.queries * S.keys * S.d) / 1e9,
        oursS * 1000,
        peak,
        "wall, incl. query upload + readback",
      );
    }
  } catch (e) {
    fail(section, "mlcd (ours)", shape, e);
  }
  await hnswPeer(S, keys, queries, truth, truthName, info, quick);
}

async function hnswPeer(
  S: Shapes["topk"],
  keys: Matrix,
  queries: Matrix,
  truth: Uint32Array | null,
  truthName: string,
  info: Record<string, unknown>,
  quick: boolean,
): Promise<void> {
  const section = `top-${S.k}`;
  const shape = `${S.queries} q × ${S.keys} centers, d=${S.d}`;
  let ann: AnnModule;
  try {
    ann = await import("../src/ann/mod.ts");
  } catch (e) {
    fail(section, "hnswlib", shape, e);
    return;
  }
  try {
    const efConstruction = quick ? 100 : 200;
    log(`${section}: hnswlib build (M 16, efConstruction ${efConstruction}) + search`);
    const index = await ann.buildHnswIndex(keys, { metric: "ip", efConstruction });
    const t1 = performance.now();
    const r = ann.annTopk(index, queries, S.k);
    const seconds = (performance.now() - t1) / 1000;
    const rec = truth ? recall(r.indices, truth, S.queries, S.k) : NaN;
    emit({
      section,
      kind: "peer",
      tool: "hnswlib-node 3.0.0 (ANN)",
      shape,
      seconds,
      quality: truth ? `recall ${rec.toFixed(4)}` : "recall —",
      ratio: null,
      note:
        `search only, 1 thread, ef ${ann.DEFAULT_HNSW_EF}; build (M 16, efConstruction ${efConstruction}) ${
          index.buildSeconds.toFixed(1)
        } s; recall vs ${truthName}`,
    });
    info.hnswlib = { buildS: index.buildSeconds, searchS: seconds, recall: rec, efConstruction };
  } catch (e) {
    fail(section, "hnswlib", shape, e);
  }
}

async function sectionLoss(gpu: Gpu, shapes: Shapes, peak: number | null): Promise<void> {
  const S = shapes.loss;
  const section = "MLCD loss fwd+bwd";
  const shape = `n=${S.n} d=${S.d} C=${S.C} l=${S.l} sampled ${S.ratio}`;
  const info: Record<string, unknown> = { shape: S };
  details.loss = info;
  let lm: LossModule;
  try {
    lm = await import("../src/loss/mod.ts");
  } catch (e) {
    fail(section, "mlcd (ours)", shape, e);
    return;
  }
  const rand = mulberry32(5);
  const embeddings = { data: normals(S.n * S.d, rand), rows: S.n, cols: S.d };
  const centers = { data: normals(S.C * S.d, rand), rows: S.C, cols: S.d };
  const positives = new Uint32Array(S.n * S.l);
  for (let i = 0; i < S.n; i++) {
    const seen = new Set<number>();
    for (let t = 0; t < S.l; t++) {
      let c: number;
      do c = Math.floor(rand() * S.C); while (seen.has(c));
      seen.add(c);
      positives[i * S.l + t] = c;
    }
  }
  const sampled = lm.sampleClasses(positives, S.C, S.ratio, 3);
  const Ssz = sampled.length;
  const gflop = (3 * 2 * S.n * Ssz * S.d) / 1e9; // logits GEMM + two gradient GEMMs
  // tfjs first: its row survives if our kernels hang and the section is stopped.
  let tfLoss = NaN;
  try {
    const tfm: TfModule = await import("../src/model/tf.ts");
    log(`${section}: plain tfjs ops (webgpu backend)`);
    const tf = await tfm.useTfBackend(gpu);
    const e = tf.tensor2d(embeddings.data, [S.n, S.d]);
    const c = tf.tensor2d(centers.data, [S.C, S.d]);
    const grad = tf.grads((...[a, b]) =>
      lm.mlcdLossTf(a as typeof e, b as typeof c, positives, { sampled })
    );
    const step = async (): Promise<number> => {
      const [ge, gc] = grad([e, c]);
      const lossT = lm.mlcdLossTf(e, c, positives, { sampled });
      const [lv] = await Promise.all([lossT.data(), ge!.data(), gc!.data()]);
      tf.dispose([ge!, gc!, lossT]);
      return lv![0]!;
    };
    await step(); // compile
    let best = Infinity;
    for (let r = 0; r < S.repeats; r++) {
      const t0 = performance.now();
      tfLoss = await step();
      best = Math.min(best, (performance.now() - t0) / 1000);
    }
    tf.dispose([e, c]);
    emit({
      section,
      kind: "peer",
      tool: "tfjs 4.22 ops (webgpu)",
      shape,
      seconds: best,
      quality: `loss ${tfLoss.toFixed(4)}`,
      ratio: null,
      note: `best of ${S.repeats}; tf.grads + a forward for the value (same device)`,
    });
    info.tfjs = { seconds: best, loss: tfLoss };
  } catch (e) {
    fail(section, "tfjs ops", shape, e);
  }
  let oursLoss = NaN;
  try {
    log(`${section}: mlcd (ours)`);
    const input = { embeddings, centers, positives, sampled };
    await lm.mlcdLoss(gpu, input); // compile
    let best = Infinity;
    for (let r = 0; r < S.repeats; r++) {
      const t0 = performance.now();
      const res = await lm.mlcdLoss(gpu, input);
      best = Math.min(best, (performance.now() - t0) / 1000);
      oursLoss = res.loss;
    }
    emit({
      section,
      kind: "ours",
      tool: "mlcd (ours)",
      shape,
      seconds: best,
      quality: `loss ${oursLoss.toFixed(4)}`,
      ratio: null,
      note: `best of ${S.repeats}; host in/out incl. the C×d center gradient` +
        (Number.isFinite(tfLoss)
          ? `; |Δloss| vs tfjs ${Math.abs(tfLoss - oursLoss).toExponential(1)}`
          : ""),
    });
    info.ours = { seconds: best, loss: oursLoss };
    if (peak) {
      addRoofline(
        "MLCD loss fwd+bwd",
        shape,
        gflop,
        best * 1000,
        peak,
        "wall, incl. upload + readback",
      );
    }
  } catch (e) {
    fail(section, "mlcd (ours)", shape, e);
  }
}

async function sectionTransfer(gpu: Gpu, quick: boolean): Promise<void> {
  const mib = quick ? 16 : 64;
  const cols = 256;
  const rowsN = (mib << 20) / (cols * 4);
  const host = { data: new Float32Array(rowsN * cols).fill(0.25), rows: rowsN, cols };
  const out: Record<string, unknown> = {};
  for (
    const [label, g] of [["default binding", gpu], [
      "1 MiB binding",
      await createGpu({ maxBindingBytes: 1 << 20 }),
    ]] as const
  ) {
    let up = Infinity, down = Infinity, chunks = 0;
    for (let r = 0; r < 3; r++) {
      const t0 = performance.now();
      const m = uploadMatrix(g, host);
      await g.device.queue.onSubmittedWorkDone();
      const t1 = performance.now();
      await downloadMatrix(g, m);
      const t2 = performance.now();
      up = Math.min(up, t1 - t0);
      down = Math.min(down, t2 - t1);
      chunks = m.chunks.length;
      m.destroy();
    }
    const bytes = mib << 20;
    out[label] = {
      uploadGBs: bytes / (up * 1e6),
      readbackGBs: bytes / (down * 1e6),
      chunks,
    };
    if (g !== gpu) g.destroy();
  }
  details.transfer = { mib, ...out };
}

// ---------------------------------------------------------------------------------------
// Report

function tildeHome(path: string): string {
  const home = Deno.env.get("HOME");
  return home && path.startsWith(`${home}/`) ? `~${path.slice(home.length)}` : path;
}

function fmtSeconds(s: number | null): string {
  if (s === null) return "—";
  return s >= 100
    ? `${s.toFixed(0)} s`
    : s >= 1
    ? `${s.toFixed(2)} s`
    : `${(s * 1000).toFixed(0)} ms`;
}

function fmtRatio(r: number | null): string {
  return r === null || !Number.isFinite(r) ? "" : `${r.toFixed(2)}×`;
}

function markdown(meta: Record<string, unknown>, peak: PeakResult | null): string {
  const lines: string[] = [];
  lines.push(`# mlcd benchmarks: ${meta.machine}`);
  lines.push("");
  lines.push(
    `${meta.date} · adapter **${meta.adapter}** · CPU ${meta.cpu} (${meta.cores} cores) · ` +
      `Deno ${meta.deno} · ${meta.quick ? "`--quick` shapes" : "full shapes"}`,
  );
  lines.push("");
  lines.push(`Reproduce: \`${meta.command}\``);
  lines.push("");
  lines.push(
    "Ratio = peer time / mlcd time (above 1: mlcd is faster); for the f16 row, f32 time / " +
      "f16 time.",
  );
  lines.push("");
  lines.push("| task | tool | shape | time | quality | ratio | note |");
  lines.push("|---|---|---|---|---|---|---|");
  for (const r of rows) {
    lines.push(
      `| ${r.section} | ${r.tool} | ${r.shape} | ${fmtSeconds(r.seconds)} | ${r.quality} | ${
        fmtRatio(r.ratio)
      } | ${r.note} |`,
    );
  }
  lines.push("");
  if (peak) {
    lines.push(
      `Measured peak (register-only multiply-add loop, \`src/gpu/peak.ts\`, ${peak.timing}): ` +
        `fp32 ${peak.f32.gflops.toFixed(1)} GFLOP/s` +
        (peak.f16 ? `, packed f16 ${peak.f16.gflops.toFixed(1)} GFLOP/s` : "") + ".",
    );
    lines.push("");
  }
  if (roofline.length) {
    lines.push("| kernel (roofline) | shape | GFLOP | ms | GFLOP/s | of fp32 peak | timing |");
    lines.push("|---|---|---|---|---|---|---|");
    for (const r of roofline) {
      lines.push(
        `| ${r.kernel} | ${r.shape} | ${r.gflop.toFixed(2)} | ${r.ms.toFixed(1)} | ${
          r.gflops.toFixed(1)
        } | ${(r.fraction * 100).toFixed(0)}% | ${r.timing} |`,
      );
    }
    lines.push("");
  }
  const tr = details.transfer as
    | Record<string, { uploadGBs: number; readbackGBs: number; chunks: number } | number>
    | undefined;
  if (tr) {
    const parts = Object.entries(tr).filter(([k]) => k !== "mib").map(([k, v]) => {
      const t = v as { uploadGBs: number; readbackGBs: number; chunks: number };
      return `${k} (${t.chunks} chunk${t.chunks === 1 ? "" : "s"}): upload ${
        t.uploadGBs.toFixed(2)
      } GB/s, readback ${t.readbackGBs.toFixed(2)} GB/s`;
    });
    lines.push(`Transfers of ${tr.mib} MiB (wall time): ${parts.join("; ")}.`);
    lines.push("");
  }
  if (tunings.length) {
    lines.push(
      `Autotune (per-adapter cache \`${
        tildeHome(autotuneCacheDir() ?? "(none)")
      }/autotune.json\`, ` +
        "`MLCD_AUTOTUNE=0` disables): " + tunings.join("; ") + ".",
    );
    lines.push("");
  }
  for (const n of notes) lines.push(`- ${n}`);
  lines.push("");
  return lines.join("\n");
}

function printTable(): void {
  const head = ["task", "tool", "shape", "time", "quality", "ratio"];
  const body = rows.map((
    r,
  ) => [r.section, r.tool, r.shape, fmtSeconds(r.seconds), r.quality, fmtRatio(r.ratio)]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join("  ");
  console.log(line(head));
  console.log(widths.map((w) => "-".repeat(w)).join("  "));
  for (const b of body) console.log(line(b));
  for (const r of rows) {
    if (r.seconds === null) console.log(`  ${r.section} / ${r.tool}: ${r.note}`);
  }
  for (const t of tunings) console.log(`autotune  ${t.replaceAll("**", "")}`);
  if (roofline.length) {
    console.log("");
    for (const r of roofline) {
      console.log(
        `roofline  ${r.kernel.padEnd(34)} ${r.gflops.toFixed(1).padStart(8)} GFLOP/s = ${
          (r.fraction * 100).toFixed(0).padStart(3)
        }% of ${r.peakGflops.toFixed(1)} (${r.timing})`,
      );
    }
  }
}

// ---------------------------------------------------------------------------------------
// Main

const SECTIONS = ["kmeans", "topk", "loss"] as const;
type Section = typeof SECTIONS[number];

interface SectionContext {
  quick: boolean;
  peakGflops: number | null;
  py: Python | null;
  tmp: string;
  timeoutS: number;
}

interface SectionOutput {
  tunings: string[];
  rows: Row[];
  roofline: Roofline[];
  details: Record<string, unknown>;
  notes: string[];
}

/** Child-process mode: runs one section and writes its rows to `resultPath`. */
async function runSection(name: Section, ctx: SectionContext, resultPath: string): Promise<void> {
  childResultPath = resultPath;
  const gpu = await createGpu();
  const shapes = ctx.quick ? QUICK : FULL;
  if (name === "kmeans") {
    await sectionKmeans(gpu, shapes, ctx.py, ctx.tmp, ctx.peakGflops, ctx.timeoutS);
  } else if (name === "topk") {
    await sectionTopk(gpu, shapes, ctx.quick, ctx.py, ctx.tmp, ctx.peakGflops, ctx.timeoutS);
  } else {
    await sectionLoss(gpu, shapes, ctx.peakGflops);
  }
  const out: SectionOutput = { rows, roofline, details, notes, tunings };
  await writeAtomic(resultPath, JSON.stringify(out));
  gpu.destroy();
}

const SECTION_TITLES: Record<Section, string> = {
  kmeans: "spherical k-means",
  topk: "top-8",
  loss: "MLCD loss fwd+bwd",
};

/**
 * Runs a section in its own Deno process with a time limit, so that a hang, a lost
 * device or a crash in one library part costs only that section's rows.
 */
async function spawnSection(name: Section, ctx: SectionContext, limitS: number): Promise<void> {
  const resultPath = `${ctx.tmp}/${name}.result.json`;
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      new URL(import.meta.url).pathname,
      "--section",
      name,
      "--context",
      JSON.stringify(ctx),
      "--result",
      resultPath,
    ],
    stdout: "inherit",
    stderr: "inherit",
  }).spawn();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    try {
      child.kill("SIGKILL");
    } catch { /* already gone */ }
  }, limitS * 1000);
  const status = await child.status;
  clearTimeout(timer);
  let partial = false;
  try {
    const out = JSON.parse(await Deno.readTextFile(resultPath)) as SectionOutput;
    rows.push(...out.rows);
    roofline.push(...out.roofline);
    Object.assign(details, out.details);
    notes.push(...out.notes);
    tunings.push(...(out.tunings ?? []));
    partial = out.rows.length > 0;
  } catch { /* nothing was written */ }
  if (timedOut || !status.success) {
    const why = timedOut
      ? `section stopped after its ${limitS} s limit`
      : `section process exited with code ${status.code} (see its stderr above)`;
    skip(
      SECTION_TITLES[name],
      "remaining tools",
      "—",
      partial ? `${why}; rows above finished` : why,
    );
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      quick: { type: "boolean", default: false },
      out: { type: "string", default: "bench/results" },
      only: { type: "string" },
      help: { type: "boolean", short: "h", default: false },
      // internal: child-process mode for one section
      section: { type: "string" },
      context: { type: "string" },
      result: { type: "string" },
    },
  });
  if (values.help) {
    console.log(
      "deno task bench [--quick] [--out DIR] [--only kmeans,topk,loss,ooc]\n" +
        "Runs the end-to-end comparisons and writes DIR/<machine>.md and .json.",
    );
    return;
  }
  if (values.section) {
    await runSection(
      values.section as Section,
      JSON.parse(values.context!) as SectionContext,
      values.result!,
    );
    return;
  }
  const quick = values.quick!;
  const only = (values.only ?? SECTIONS.join(",")).split(",").map((s) => s.trim());
  for (const o of only) {
    if (![...SECTIONS, "ooc"].includes(o)) {
      console.error(`bench: --only expects some of ${SECTIONS.join(",")},ooc but found "${o}"`);
      Deno.exit(2);
    }
  }
  const timeoutS = quick ? 120 : 1800;
  // Per-section wall-clock limits: --quick must finish in about 3 minutes in all.
  const limits: Record<Section, number> = quick
    ? { kmeans: 90, topk: 45, loss: 30 }
    : { kmeans: 2400, topk: 1800, loss: 900 };
  const started = performance.now();
  const cpu0 = await cpuCounters();

  const gpu = await createGpu();
  const cpu = await cpuModel();
  const cores = navigator.hardwareConcurrency;
  const machine = machineSlug(gpu.info.description, cpu, cores);
  log(`${machine}: ${gpu.info.description}; ${cpu}, ${cores} cores`);

  let peak: PeakResult | null = null;
  try {
    log("measuring the arithmetic peak");
    peak = await measurePeak(gpu, { repeats: 5 });
  } catch (e) {
    notes.push(`peak measurement failed: ${(e as Error).message}`);
  }
  try {
    log("measuring transfers");
    await sectionTransfer(gpu, quick);
  } catch (e) {
    notes.push(`transfer measurement failed: ${(e as Error).message}`);
  }

  const py = await findPython();
  if (py) log(`python peers via ${py.exe}: faiss ${py.faiss}, scikit-learn ${py.sklearn}`);
  const tmp = await Deno.makeTempDir({ prefix: "mlcd-bench-" });
  const ctx: SectionContext = { quick, peakGflops: peak?.f32.gflops ?? null, py, tmp, timeoutS };
  try {
    for (const name of SECTIONS) {
      if (only.includes(name)) await spawnSection(name, ctx, limits[name]);
    }
    // Out-of-core k-means (bench/ooc_bench.ts): peak RSS and time for growing on-disk data.
    if (!values.only || only.includes("ooc")) await oocSection(quick, values.out!, machine, log);
  } finally {
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
  }

  // The peak again after the sections (other load may have changed); the better of the
  // two measurements is the roofline's denominator.
  try {
    log("measuring the arithmetic peak again");
    const again = await measurePeak(gpu, { repeats: 5 });
    if (peak) {
      notes.push(
        `fp32 peak measured before and after the sections: ${peak.f32.gflops.toFixed(1)} and ${
          again.f32.gflops.toFixed(1)
        } GFLOP/s; the higher is used.`,
      );
    }
    if (!peak || again.f32.gflops > peak.f32.gflops) peak = again;
  } catch (e) {
    notes.push(`second peak measurement failed: ${(e as Error).message}`);
  }
  if (peak) {
    for (const r of roofline) {
      r.peakGflops = peak.f32.gflops;
      r.fraction = r.gflops / r.peakGflops;
    }
  }
  const elapsed = (performance.now() - started) / 1000;
  const cpu1 = await cpuCounters();
  let othersShare: number | null = null;
  if (cpu0 && cpu1) {
    const others = (cpu1.total - cpu0.total) - (cpu1.self - cpu0.self);
    othersShare = Math.max(0, others / (elapsed * cores));
    notes.push(
      othersShare > 0.05
        ? `Timings were taken while other processes shared the ${cores} cores: they used ${
          (othersShare * 100).toFixed(0)
        }% of the machine's CPU time during this run, so absolute times are pessimistic.`
        : `The machine was otherwise idle during the run (other processes used ${
          (othersShare * 100).toFixed(0)
        }% of the CPU time).`,
    );
  }
  notes.push(
    "Objectives are the sum over all rows of the cosine to the nearest centroid, computed " +
      "for every tool's centroids by the same exact assignment kernel (higher is better). " +
      "Each tool uses its own random initialisation.",
  );
  notes.push(
    "Roofline flops: 2·n·k·d + 3·n·d per k-means iteration, 2·q·N·d for top-k, 6·n·S·d for " +
      "the loss (S sampled classes: logits and both gradient GEMMs), over the measured fp32 " +
      "peak of the same run.",
  );
  notes.push(`Total run time ${elapsed.toFixed(0)} s.`);
  const command = `deno task bench${quick ? " --quick" : ""}`;
  const meta = {
    machine,
    date: new Date().toISOString().slice(0, 16).replace("T", " ") + " UTC",
    adapter: gpu.info.description,
    vendor: gpu.info.vendor,
    architecture: gpu.info.architecture,
    cpu,
    cores,
    deno: Deno.version.deno,
    quick,
    command,
  };
  computeRatios();
  printTable();
  const dir = values.out!;
  await Deno.mkdir(dir, { recursive: true });
  const json = {
    ...meta,
    shapes: quick ? QUICK : FULL,
    elapsedS: elapsed,
    otherProcessesCpuShare: othersShare,
    peak,
    rows,
    roofline,
    tunings,
    details,
    notes,
  };
  await writeAtomic(`${dir}/${machine}.json`, JSON.stringify(json, null, 2) + "\n");
  await writeAtomic(`${dir}/${machine}.md`, markdown(meta, peak));
  console.log(`\nwrote ${dir}/${machine}.md and ${dir}/${machine}.json (${elapsed.toFixed(0)} s)`);
  gpu.destroy();
}

function writeAtomic(path: string, text: string): Promise<void> {
  return writeFileAtomic(path, new TextEncoder().encode(text));
}

if (import.meta.main) await main();
