// gpu-check's large-K case (issue 20): 1M × 512 rows → 1M centers, one k-means iteration with
// the IVF assignment, and top-8 of the 1M rows over 1M centers through the IVF index, each
// checked against exact search on sampled rows and float64. The data are a nested mixture (the
// structure embeddings have), one row per center, so that the iteration has a known answer.
//
// Memory at the paper shape (rows packed f16 on the GPU, as `--f16` stores them):
//   host:  rows 2.0 GiB + centers 2.0 GiB (f32) + the result's centroids 2.0 GiB;
//   GPU, k-means: rows 1.0 GiB (f16) + centroids 2.0 GiB (f32) + 1.0 GiB (packed f16) +
//          update sums 4.0 GiB (8-byte fixed point per value) + IVF index ≈ 1.1 GiB (the
//          centroids grouped by cell in 64 KiB blocks) + search workspace ≤ 1.5 GiB (2^26
//          list entries per batch) ≈ 11 GiB;
//   GPU, top-8: centers 2.0 + 1.0 GiB, index 1.1 GiB, queries 1.0 GiB (f16), lists 64 MiB,
//          workspace ≤ 1.5 GiB ≈ 7 GiB (after k-means freed its own);
//   the recall checks: exact top-k of 1000 sampled rows over all centers (2 GiB of keys).
// So it fits an H100 (80 GB) or H200 (141 GB) several times over; it is skipped with --quick,
// which runs the same code at a small shape instead.
import type { Gpu } from "../../src/gpu/gpu.ts";
import { kmeans } from "../../src/kmeans/kmeans.ts";
import { buildCenterIndex } from "../../src/ivf/center_index.ts";
import { ivfTopk } from "../../src/ivf/ivf_topk.ts";
import { ivfDefaults } from "../../src/ivf/ivf_options.ts";
import { measureTopkRecall } from "../../src/ivf/ivf_recall.ts";
import { topk } from "../../src/topk/topk.ts";
import type { Matrix } from "../../src/matrix/matrix.ts";
import { type CheckResult, log, randomMatrix, sampleRows, type Shapes, unitRow } from "./common.ts";

/** GiB of the GPU buffers of the k-means part at `n × d` rows and `k` centers (f16 rows). */
export function largeKGpuGiB(n: number, k: number, d: number): number {
  const dp = Math.ceil(d / 4) * 4;
  const rows = n * dp * 2, cents = k * dp * (4 + 2) + k * 4, sums = k * dp * 8 + k * 4;
  const entries = Math.min(2 ** 26, n * ivfDefaults({ k }).nprobe);
  const index = (Math.sqrt(k) + k / 64) * 65536, workspace = 6 * 4 * entries;
  return (rows + cents + sums + index + workspace) / 2 ** 30;
}

/** Normalises the rows of `m` in place. */
function normalize(m: Matrix): Matrix {
  const d = m.cols;
  for (let r = 0; r < m.rows; r++) {
    let s = 0;
    for (let j = 0; j < d; j++) s += m.data[r * d + j]! ** 2;
    const inv = 1 / Math.sqrt(s);
    for (let j = 0; j < d; j++) m.data[r * d + j] = m.data[r * d + j]! * inv;
  }
  return m;
}

/**
 * The nested mixture: √k group directions around 32 super-directions (cos ≈ 0.7), `k` unit
 * centers around the groups (cos ≈ 0.8), and row i at cos ≈ 0.75 around center i mod k.
 */
function mixture(n: number, k: number, d: number): { x: Matrix; centers: Matrix } {
  // Uniform noise in [-0.5, 0.5) has variance 1/12: scale it to a cosine `c` with a unit vector.
  const s = (c: number) => Math.sqrt((12 * (1 / c ** 2 - 1)) / d);
  const groups = Math.max(1, Math.round(Math.sqrt(k)));
  const sup = normalize(randomMatrix(32, d, 11));
  const g = randomMatrix(groups, d, 12);
  for (let q = 0; q < groups; q++) {
    for (let j = 0; j < d; j++) {
      g.data[q * d + j] = sup.data[(q % 32) * d + j]! + s(0.7) * g.data[q * d + j]!;
    }
  }
  normalize(g);
  const centers = randomMatrix(k, d, 13);
  for (let c = 0; c < k; c++) {
    const q = (Math.imul(c, 2654435761) >>> 0) % groups;
    for (let j = 0; j < d; j++) {
      centers.data[c * d + j] = g.data[q * d + j]! + s(0.8) * centers.data[c * d + j]!;
    }
  }
  normalize(centers);
  const x = randomMatrix(n, d, 14);
  for (let i = 0; i < n; i++) {
    const c = i % k;
    for (let j = 0; j < d; j++) {
      x.data[i * d + j] = centers.data[c * d + j]! + s(0.75) * x.data[i * d + j]!;
    }
  }
  return { x, centers };
}

/** float64 Σ over every row of cos(row i, center `of(i)` of `c`). */
function objective64(x: Matrix, c: Matrix, of: (i: number) => number): number {
  let sum = 0;
  const d = x.cols;
  for (let i = 0; i < x.rows; i++) {
    const j = of(i);
    let dot = 0, xx = 0, cc = 0;
    for (let t = 0; t < d; t++) {
      const u = x.data[i * d + t]!, v = c.data[j * d + t]!;
      dot += u * v, xx += u * u, cc += v * v;
    }
    sum += dot / Math.sqrt(xx * cc);
  }
  return sum;
}

/** float64 cosine of row `r` of `x` with row `j` of `c`. */
function cos64(x: Matrix, r: number, c: Matrix, j: number): number {
  const u = unitRow(x, r), v = unitRow(c, j);
  let dot = 0;
  for (let t = 0; t < x.cols; t++) dot += u[t]! * v[t]!;
  return dot;
}

/**
 * The large-K case at `shapes.largeK`: one k-means iteration with `assign: "ivf"` (f16 rows,
 * given centers) and top-l through an IVF index, against float64 and exact search on sampled
 * rows. `exactGflops` (the exact assignment pass's rate, when measured) estimates what exact
 * search would have cost.
 */
export async function checkLargeK(
  gpu: Gpu,
  shapes: Shapes,
  exactGflops: number | null,
): Promise<CheckResult[]> {
  const { n, k, d, l, sample } = shapes.largeK;
  const shape = `n=${n} k=${k} d=${d} f16`;
  const exactS = (flop: number) =>
    exactGflops
      ? `; exact search ≈ ${
        (flop / (exactGflops * 1e9)).toPrecision(2)
      } s at the assignment pass's ${exactGflops.toFixed(0)} GFLOP/s`
      : "";
  log(
    `large K ${shape}: GPU memory ≈ ${
      largeKGpuGiB(n, k, d).toFixed(1)
    } GiB; generating the mixture`,
  );
  const { x, centers } = mixture(n, k, d);
  // 1. One k-means iteration with the IVF assignment, from the mixture's centers.
  log(`large K: one k-means iteration with assign: "ivf"`);
  const t0 = performance.now();
  const res = await kmeans(gpu, x, {
    k,
    niter: 1,
    init: centers,
    assign: "ivf",
    f16: true,
    maxPointsPerCentroid: Math.ceil(n / k), // every row trains
    onLog: (m) => log(`large K: ${m}`),
  });
  const ms = performance.now() - t0;
  const problems: string[] = [];
  const a = res.assignment, it = res.stats[0];
  if (a.method !== "ivf") problems.push(`assignment ${a.method}`);
  // The iteration: rows belong to their own center (float64 objective of that assignment).
  const own = objective64(x, centers, (i) => i % k);
  const iterGap = it ? (own - it.objective) / own : Infinity;
  if (!(Math.abs(iterGap) < 1e-2)) problems.push(`iteration objective ${it?.objective} vs ${own}`);
  // The final pass: its objective is the true one of its assignment; recall on sampled rows.
  const final64 = objective64(x, res.centroids, (i) => res.assignments[i]!);
  const finalErr = Math.abs(res.objective - final64) / final64;
  if (!(finalErr < 1e-4)) problems.push(`final objective ${res.objective} vs float64 ${final64}`);
  const rows = sampleRows(n, sample);
  const xs = { data: new Float32Array(rows.length * d), rows: rows.length, cols: d };
  rows.forEach((r, i) => xs.data.set(x.data.subarray(r * d, (r + 1) * d), i * d));
  const best = await topk(gpu, xs, res.centroids, { k: 1 });
  let hit = 0;
  rows.forEach((r, i) => {
    const got = res.assignments[r]!, want = best.indices[i]!;
    if (
      got === want || cos64(x, r, res.centroids, got) >= cos64(x, r, res.centroids, want) - 2e-3
    ) hit++;
  });
  const recall = hit / rows.length;
  if (!(recall >= 0.99)) problems.push(`final-pass recall ${recall.toFixed(4)} < 0.99`);
  const kmeansResult: CheckResult = {
    name: `k-means K=${k}, one IVF iteration`,
    shape,
    ok: problems.length === 0,
    detail: `${a.cells} cells, nprobe ${a.nprobe}: ` +
      (problems.length ? problems.join("; ") : "as float64 and exact") +
      `; iteration ${it ? it.timeSearch.toFixed(1) : "?"} s, objective vs own centers ${
        iterGap.toExponential(2)
      }, ` +
      `${it?.nsplit ?? "?"} empty split; final pass recall ${
        recall.toFixed(4)
      } on ${rows.length} sampled rows, ` +
      `objective rel. error ${finalErr.toExponential(2)}` + exactS(2 * 2 * n * k * d),
    ms,
    gflops: null,
  };
  // 2. Top-l of every row over the centers, through an IVF index over them.
  log(`large K: top-${l} of ${n} rows over ${k} centers through the IVF index`);
  const tb = performance.now();
  const index = buildCenterIndex(gpu, centers, { f16: true });
  await gpu.device.queue.onSubmittedWorkDone();
  const buildMs = performance.now() - tb;
  let topResult: CheckResult;
  try {
    const ts = performance.now();
    const found = await ivfTopk(gpu, x, index, { k: l });
    const searchMs = performance.now() - ts;
    const r = await measureTopkRecall(gpu, x, centers, found, { k: l, sample });
    const okTop = r.recall >= 0.9 && r.inconsistent === 0;
    topResult = {
      name: `top-${l} over K=${k} centers (IVF)`,
      shape: `queries=${n} ${shape}`,
      ok: okTop,
      detail: `${index.cells} cells, nprobe ${ivfDefaults({ k, cells: index.cells }).nprobe}: ` +
        `recall@${l} ${r.recall.toFixed(4)} on ${r.rows} sampled rows against exact, ` +
        `${r.inconsistent} inconsistent, max score error ${r.scoreMismatch.toExponential(1)}; ` +
        `index build ${(buildMs / 1000).toFixed(1)} s, search ${(searchMs / 1000).toFixed(1)} s` +
        exactS(2 * n * k * d),
      ms: buildMs + searchMs,
      gflops: null,
    };
  } finally {
    index.destroy();
  }
  return [kmeansResult, topResult];
}
