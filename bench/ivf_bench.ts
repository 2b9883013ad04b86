// deno run -A bench/ivf_bench.ts [--quick] [--only assign,lloyd,topk,crossover] [--out FILE]
//   [--data hier|flat]
//   [--n N --d D --k K --cells C --nprobe 8,16,32] [--lloyd IT --lloyd-exact IT]
//   [--topk-n N --topk-d D --topk-k K --topk-nprobe 16,32,64] [--crossover 1000,5000,20000]
//   [--repeats R]
// The IVF center index (src/ivf) against the exact fused kernels, side by side in one run, on
// seeded synthetic clustered data (a mixture: 1000 group directions, K components at
// cosine ≈ 0.8 around them, rows at cosine ≈ 0.75 around the components; the centers are the
// components' member means, as k-means centroids are). `--data hier` (the default) draws the
// groups around 32 super-directions (cosine ≈ 0.7), the nested structure embeddings have;
// `--data flat` draws them independently, the hard case for cells over the centers:
//   assign:    one exact assignment pass (assignNearest) vs an IVF pass, index build included;
//   lloyd:     spherical Lloyd iterations (host update) with exact and with IVF assignment
//              (withPrevious), objective per iteration, from the same random-rows init;
//   topk:      exact top-8 (topk) vs ivfTopk, recall@8;
//   crossover: exact vs IVF pass time as K grows (the rule for assign: "auto").
// Times are wall time host-in/host-out (upload, GPU, readback); the minimum of --repeats.
// Other processes share the 2 cores: compare numbers within one run only.
import { parseArgs } from "node:util";
import { createGpu } from "../src/gpu/gpu.ts";
import { uploadMatrix } from "../src/gpu/gpu_matrix.ts";
import { assignNearest } from "../src/kmeans/mod.ts";
import { topk } from "../src/topk/mod.ts";
import { buildCenterIndex, ivfAssign, ivfDefaults, ivfTopk } from "../src/ivf/mod.ts";
import type { Matrix } from "../src/matrix/matrix.ts";
import { mulberry32, sampleIndices } from "../src/random/mulberry32.ts";
import { normalizeRowsInPlace, normals } from "./synthetic.ts";

const NAMES = [
  "n",
  "d",
  "k",
  "cells",
  "nprobe",
  "lloyd",
  "lloyd-exact",
  "topk-n",
  "topk-d",
  "topk-k",
  "topk-nprobe",
  "crossover",
  "repeats",
  "only",
  "out",
  "data",
] as const;
const options: Record<string, { type: "string" } | { type: "boolean" }> = {
  quick: { type: "boolean" },
};
for (const name of NAMES) options[name] = { type: "string" };
const { values } = parseArgs({ args: Deno.args, options });
const str = (name: string, dflt: string) => (values[name] as string | undefined) ?? dflt;
const quick = values.quick === true;
const num = (name: string, full: number, small: number) =>
  Number(str(name, String(quick ? small : full)));
const list = (name: string, dflt: string) => str(name, dflt).split(",").filter(Boolean).map(Number);
const data = str("data", "hier");
if (data !== "hier" && data !== "flat") {
  throw new RangeError(`Expected --data hier or flat but found ${data}`);
}
const only = new Set(str("only", "assign,lloyd,topk,crossover").split(","));
const repeats = num("repeats", 2, 1);
const outPath = str("out", new URL("./results/ivf.md", import.meta.url).pathname);
const lines: string[] = [];
const out = (s = "") => {
  console.log(s);
  lines.push(s);
};
const log = (s: string) => console.error(`ivf_bench: ${s}`);

/** Rows and centers of the mixture described at the top. */
function mixture(n: number, d: number, k: number, seed: number, groups = 1000) {
  const rand = mulberry32(seed);
  const spread = (cos: number) => Math.sqrt((1 / cos ** 2 - 1) / d);
  const g = normalizeRowsInPlace({ data: normals(groups * d, rand), rows: groups, cols: d });
  if (data === "hier") {
    const sg = normalizeRowsInPlace({ data: normals(32 * d, rand), rows: 32, cols: d });
    const s0 = spread(0.7);
    for (let q = 0; q < groups; q++) {
      const si = Math.floor(rand() * 32);
      for (let j = 0; j < d; j++) {
        g.data[q * d + j] = sg.data[si * d + j]! + s0 * g.data[q * d + j]!;
      }
    }
    normalizeRowsInPlace(g);
  }
  const s1 = spread(0.8), s2 = spread(0.75);
  const comp = normals(k * d, rand);
  for (let c = 0; c < k; c++) {
    const gi = Math.floor(rand() * groups);
    for (let j = 0; j < d; j++) comp[c * d + j] = g.data[gi * d + j]! + s1 * comp[c * d + j]!;
  }
  normalizeRowsInPlace({ data: comp, rows: k, cols: d });
  const x = normals(n * d, rand), member = new Uint32Array(n);
  for (let r = 0; r < n; r++) {
    const c = member[r] = r < k ? r : Math.floor(rand() * k);
    for (let j = 0; j < d; j++) x[r * d + j] = comp[c * d + j]! + s2 * x[r * d + j]!;
  }
  const rows = normalizeRowsInPlace({ data: x, rows: n, cols: d });
  return { rows, centers: meanCenters(rows, member, k) };
}

/** Normalised member means (an empty cluster keeps `old`'s row, or zeros). */
function meanCenters(x: Matrix, member: Uint32Array, k: number, old?: Matrix): Matrix {
  const d = x.cols, sum = new Float64Array(k * d), count = new Uint32Array(k);
  for (let r = 0; r < x.rows; r++) {
    const c = member[r]!;
    count[c]!++;
    for (let j = 0; j < d; j++) sum[c * d + j]! += x.data[r * d + j]!;
  }
  const data = Float32Array.from(sum);
  for (let c = 0; c < k; c++) {
    if (count[c] === 0 && old) data.set(old.data.subarray(c * d, (c + 1) * d), c * d);
  }
  return normalizeRowsInPlace({ data, rows: k, cols: d });
}

function rowsOf(m: Matrix, idx: ArrayLike<number>): Matrix {
  const d = m.cols, data = new Float32Array(idx.length * d);
  for (let i = 0; i < idx.length; i++) {
    data.set(m.data.subarray(idx[i]! * d, (idx[i]! + 1) * d), i * d);
  }
  return { data, rows: idx.length, cols: d };
}

async function best<T>(f: () => Promise<T>): Promise<{ value: T; s: number }> {
  let value: T | undefined, s = Infinity;
  for (let i = 0; i < repeats; i++) {
    const t = performance.now();
    value = await f();
    s = Math.min(s, (performance.now() - t) / 1000);
  }
  return { value: value!, s };
}

/** Recall@1 and the distortion ratio Σ(1 − cos) IVF / exact of one pass. */
function compare(exact: { assignments: Uint32Array; scores: Float32Array }, got: typeof exact) {
  let same = 0, de = 0, dg = 0;
  for (let i = 0; i < exact.assignments.length; i++) {
    if (got.assignments[i] === exact.assignments[i] || got.scores[i]! >= exact.scores[i]!) same++;
    de += 1 - exact.scores[i]!;
    dg += 1 - got.scores[i]!;
  }
  return { recall: same / exact.assignments.length, ratio: dg / de };
}

/** Compiles the IVF shaders of a search (`k` 1: assignment) so that no timed run pays for them. */
async function warmIvf(centers: Matrix, x: Matrix, np: number, k = 1): Promise<void> {
  const m = Math.min(centers.rows, Math.max(2000, 4 * np));
  const index = buildCenterIndex(gpu, rowsOf(centers, Array.from({ length: m }, (_, i) => i)), {
    cells: Math.min(m, Math.max(np, 8)),
  });
  const q = rowsOf(x, Array.from({ length: Math.min(64, x.rows) }, (_, i) => i));
  try {
    if (k > 1) await ivfTopk(gpu, q, index, { k, nprobe: np });
    else {
      await ivfAssign(gpu, q, index, { nprobe: np });
      await ivfAssign(gpu, q, index, { nprobe: np, previous: new Uint32Array(q.rows) });
    }
  } finally {
    index.destroy();
  }
}

const f = (s: number) => s < 1 ? `${(s * 1000).toFixed(0)} ms` : `${s.toFixed(2)} s`;
const gpu = await createGpu();
out(`# IVF center index vs exact search`);
out();
out(
  `Generated by \`deno run -A bench/ivf_bench.ts ${Deno.args.join(" ")}\` on ${
    new Date().toISOString().slice(0, 10)
  }.`,
);
out(
  `Adapter: ${gpu.info.description}; ${navigator.hardwareConcurrency} logical cores (shared with other processes: compare within this run).`,
);
out(
  `Data: the seeded \`${data}\` mixture of the script header (centers = member means). Times: host in/out, min of ${repeats}.`,
);

const n = num("n", 341479, 30000), d = num("d", 100, 100), K = num("k", 20000, 5000);
if (only.has("assign") || only.has("lloyd")) {
  log(`generating ${n} × ${d} rows, ${K} centers`);
  const { rows: x, centers } = mixture(n, d, K, 11);
  const cells = values.cells ? Number(values.cells) : undefined;
  if (only.has("assign")) {
    out();
    out(`## One assignment pass: n = ${n}, d = ${d}, K = ${K}`);
    out();
    await assignNearest(gpu, rowsOf(x, [0, 1, 2, 3]), centers); // compile, autotune
    log("exact pass");
    const exact = await best(() => assignNearest(gpu, x, centers));
    out(`| method | cells | nprobe | time | build | vs exact | recall@1 | Σ(1−cos) ratio |`);
    out(`|---|---|---|---|---|---|---|---|`);
    out(`| exact (assignNearest) | | | ${f(exact.s)} | | 1.00× | 1 | 1 |`);
    for (const np of list("nprobe", "8,16,32")) {
      await warmIvf(centers, x, np);
      let buildS = Infinity, cellsUsed = 0;
      const r = await best(async () => {
        const t = performance.now();
        const index = buildCenterIndex(gpu, centers, cells ? { cells } : {});
        await gpu.device.queue.onSubmittedWorkDone();
        buildS = Math.min(buildS, (performance.now() - t) / 1000);
        cellsUsed = index.cells;
        try {
          return await ivfAssign(gpu, x, index, { nprobe: Math.min(np, index.cells) });
        } finally {
          index.destroy();
        }
      });
      const q = compare(exact.value, r.value);
      out(
        `| IVF | ${cellsUsed} | ${np} | ${f(r.s)} | ${f(buildS)} | ${
          (exact.s / r.s).toFixed(2)
        }× | ${q.recall.toFixed(4)} | ${q.ratio.toFixed(5)} |`,
      );
    }
  }
  if (only.has("lloyd")) await lloyd(x, K, cells);
}

async function lloyd(x: Matrix, k: number, cells: number | undefined): Promise<void> {
  const iters = num("lloyd", 10, 4), exactIters = num("lloyd-exact", 2, 4);
  const np = Number(str("nprobe", "16").split(",")[0]);
  out();
  out(
    `## Lloyd iterations (spherical, host update): n = ${x.rows}, d = ${x.cols}, K = ${k}, IVF nprobe = ${np}`,
  );
  out();
  out(
    `Same init (K random rows). Objective = Σ cos of the iteration's assignment. IVF rebuilds the index each iteration and scores each row's previous center too.`,
  );
  out();
  const init = rowsOf(x, sampleIndices(x.rows, k, mulberry32(5)).sort());
  await warmIvf(init, x, np);
  type Run = { obj: number[]; s: number[] };
  const run = async (iterations: number, ivf: boolean): Promise<Run> => {
    let c = init, prev: Uint32Array | undefined;
    const r: Run = { obj: [], s: [] };
    for (let it = 0; it < iterations; it++) {
      const t = performance.now();
      let a: { assignments: Uint32Array; scores: Float32Array };
      if (ivf) {
        const index = buildCenterIndex(gpu, c, cells ? { cells } : {});
        a = await ivfAssign(gpu, x, index, prev ? { nprobe: np, previous: prev } : { nprobe: np });
        index.destroy();
      } else a = await assignNearest(gpu, x, c);
      c = meanCenters(x, a.assignments, k, c);
      r.s.push((performance.now() - t) / 1000);
      r.obj.push(a.scores.reduce((s, v) => s + v, 0));
      prev = a.assignments;
      log(
        `${ivf ? "ivf" : "exact"} iteration ${it}: ${r.obj.at(-1)!.toFixed(1)} in ${
          f(r.s.at(-1)!)
        }`,
      );
    }
    return r;
  };
  const ivf = await run(iters, true);
  const exact = await run(Math.min(exactIters, iters), false);
  out(`| iteration | exact objective | exact time | IVF objective | IVF time | Σ(1−cos) ratio |`);
  out(`|---|---|---|---|---|---|`);
  for (let it = 0; it < iters; it++) {
    const e = exact.obj[it], g = ivf.obj[it]!;
    const ratio = e === undefined ? "" : ((x.rows - g) / (x.rows - e)).toFixed(5);
    out(
      `| ${it} | ${e?.toFixed(1) ?? "–"} | ${exact.s[it] ? f(exact.s[it]!) : "–"} | ${
        g.toFixed(1)
      } | ${f(ivf.s[it]!)} | ${ratio} |`,
    );
  }
  const total = (r: Run) => r.s.reduce((a, b) => a + b, 0);
  out();
  out(
    `Total: IVF ${f(total(ivf))} for ${iters} iterations; exact ${
      f(total(exact))
    } for ${exact.s.length} (≈ ${
      f(total(exact) / exact.s.length * iters)
    } for ${iters}, extrapolated).`,
  );
}

if (only.has("topk")) {
  const tn = num("topk-n", 20000, 2000),
    td = num("topk-d", 128, 128),
    tk = num("topk-k", 100000, 20000);
  log(`top-8: generating ${tn} queries, ${tk} centers, d = ${td}`);
  const { rows: all, centers } = mixture(tk + tn, td, tk, 13);
  const q = rowsOf(all, Array.from({ length: tn }, (_, i) => tk + i));
  out();
  out(`## Top-8 labelling: ${tn} queries, K = ${tk}, d = ${td}`);
  out();
  await topk(gpu, rowsOf(q, [0, 1]), centers, { k: 8 });
  log("exact top-8");
  const exact = await best(() => topk(gpu, q, centers, { k: 8 }));
  out(`| method | cells | nprobe | time | build | vs exact | recall@8 |`);
  out(`|---|---|---|---|---|---|---|`);
  out(`| exact (topk) | | | ${f(exact.s)} | | 1.00× | 1 |`);
  for (const np of list("topk-nprobe", "8,16,32")) {
    await warmIvf(centers, q, np, 8);
    let buildS = Infinity, cellsUsed = 0;
    const r = await best(async () => {
      const t = performance.now();
      const index = buildCenterIndex(gpu, centers);
      await gpu.device.queue.onSubmittedWorkDone();
      buildS = Math.min(buildS, (performance.now() - t) / 1000);
      cellsUsed = index.cells;
      try {
        return await ivfTopk(gpu, q, index, { k: 8, nprobe: Math.min(np, index.cells) });
      } finally {
        index.destroy();
      }
    });
    let hit = 0;
    for (let i = 0; i < tn; i++) {
      const want = new Set(exact.value.indices.subarray(i * 8, i * 8 + 8));
      for (let t = 0; t < 8; t++) if (want.has(r.value.indices[i * 8 + t]!)) hit++;
    }
    out(
      `| IVF | ${cellsUsed} | ${np} | ${f(r.s)} | ${f(buildS)} | ${(exact.s / r.s).toFixed(2)}× | ${
        (hit / tn / 8).toFixed(4)
      } |`,
    );
  }
}

if (only.has("crossover")) {
  const cn = num("n", 50000, 20000);
  const ks = list("crossover", quick ? "500,2000,5000" : "1000,2000,5000,10000,20000");
  out();
  out(`## Crossover: one pass, n = ${Math.min(cn, 50000)}, d = ${d}, default cells and nprobe`);
  out();
  out(`| K | exact | IVF (build included) | cells | nprobe | exact / IVF | recall@1 |`);
  out(`|---|---|---|---|---|---|---|`);
  for (const k of ks) {
    const { rows: x, centers } = mixture(Math.min(cn, 50000), d, k, 17);
    const g = uploadMatrix(gpu, x, { stride: Math.ceil(d / 4) * 4, normalize: true });
    await assignNearest(gpu, rowsOf(x, [0]), centers);
    const exact = await best(() => assignNearest(gpu, x, centers));
    const np0 = ivfDefaults({ k }).nprobe;
    await warmIvf(centers, x, np0);
    let cellsUsed = 0, np = 0;
    const r = await best(async () => {
      const index = buildCenterIndex(gpu, centers);
      cellsUsed = index.cells;
      np = ivfDefaults({ k, cells: index.cells }).nprobe;
      try {
        return await ivfAssign(gpu, g, index, { nprobe: np });
      } finally {
        index.destroy();
      }
    });
    g.destroy();
    const qy = compare(exact.value, r.value);
    out(
      `| ${k} | ${f(exact.s)} | ${f(r.s)} | ${cellsUsed} | ${np} | ${
        (exact.s / r.s).toFixed(2)
      }× | ${qy.recall.toFixed(4)} |`,
    );
  }
}

await Deno.mkdir(new URL("./results/", import.meta.url).pathname, { recursive: true });
const tmp = `${outPath}.tmp`;
await Deno.writeTextFile(tmp, lines.join("\n") + "\n");
await Deno.rename(tmp, outPath);
log(`wrote ${outPath}`);
gpu.destroy();
