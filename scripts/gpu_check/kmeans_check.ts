// gpu-check's k-means cases: the assignment pass, and one Lloyd iteration end to end (its
// assignment, its centroid update, the final pass and both objectives), each against float64.
import type { Gpu } from "../../src/gpu/gpu.ts";
import { assignNearest } from "../../src/kmeans/assign_nearest.ts";
import { kmeans } from "../../src/kmeans/kmeans.ts";
import type { Matrix } from "../../src/matrix/matrix.ts";
import {
  type CheckResult,
  cosines,
  log,
  progress,
  randomMatrix,
  sampleRows,
  type Shapes,
  unitRow,
} from "./common.ts";

/** The assignment pass of `x` (random rows) to `c` (random centroids) on sampled rows. */
export async function checkAssignment(
  gpu: Gpu,
  shapes: Shapes,
  x: Matrix,
  c: Matrix,
): Promise<CheckResult> {
  const { n, k, d } = shapes.kmeans;
  const shape = `n=${n} k=${k} d=${d}`;
  log(`k-means assignment ${shape}: GPU pass`);
  const t0 = performance.now();
  const { assignments, scores } = await assignNearest(gpu, x, c);
  const ms = performance.now() - t0;
  log(`k-means assignment: ${ms.toFixed(0)} ms; float64 check of sampled rows`);
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
  return {
    name: "k-means assignment pass",
    shape,
    ok: bad === 0 && worst < 1e-4,
    detail: `${rows.length} sampled rows: ${bad} not at the float64 best (gap > 1e-5), ` +
      `max score error ${worst.toExponential(2)}`,
    ms,
    gflops: (2 * n * k * d) / (ms * 1e6),
  };
}

/**
 * Rows in `k` well-separated groups: row i is initial centroid `i mod k` plus uniform noise of
 * half its spread, so its cosine with its own centroid is ≈ 0.9 and with any other far lower
 * (verified on the sampled rows). One Lloyd iteration from those centroids then has one exact
 * answer that float64 can compute per center: group j's members are the rows i ≡ j (mod k),
 * and the updated centroid is the normalised sum of their unit rows.
 */
function groupedRows(n: number, k: number, d: number): { x: Matrix; init: Matrix } {
  const init = randomMatrix(k, d, 5);
  const x = randomMatrix(n, d, 6);
  for (let i = 0; i < n; i++) {
    const g = (i % k) * d;
    for (let j = 0; j < d; j++) x.data[i * d + j] = init.data[g + j]! + 0.5 * x.data[i * d + j]!;
  }
  return { x, init };
}

/** The largest entry (a loop: k may be too many arguments for Math.max). */
function maxOf(v: Float64Array): number {
  let m = -Infinity;
  for (const e of v) if (e > m) m = e;
  return m;
}

/** Σ over every row of the float64 cosine between row i and centroid `of(i)` of `c`. */
function objective64(x: Matrix, c: Matrix, of: (i: number) => number): number {
  const units = new Map<number, Float64Array>();
  let sum = 0;
  for (let i = 0; i < x.rows; i++) {
    const j = of(i);
    let u = units.get(j);
    if (!u) units.set(j, u = unitRow(c, j));
    const v = unitRow(x, i);
    let dot = 0;
    for (let t = 0; t < x.cols; t++) dot += v[t]! * u[t]!;
    sum += dot;
  }
  return sum;
}

/**
 * One k-means iteration (`niter: 1`, given initial centroids, no subsample) against float64:
 * the premise on sampled rows (each row's nearest initial centroid is its group's), the
 * iteration's objective over all rows, no empty-cluster split, the updated centroid of every
 * sampled center (the normalised sum of its group's unit rows), the final pass (every row in its
 * group; sampled rows at the float64 best of the final centroids) and the final objective.
 */
export async function checkIteration(gpu: Gpu, shapes: Shapes): Promise<CheckResult> {
  const { n, k, d } = shapes.kmeans;
  const shape = `n=${n} k=${k} d=${d}`;
  log(`k-means one iteration ${shape}: generating ${k} groups of rows`);
  const { x, init } = groupedRows(n, k, d);
  const group = (i: number) => i % k;
  const t0 = performance.now();
  const res = await kmeans(gpu, x, {
    k,
    niter: 1,
    init,
    maxPointsPerCentroid: Math.ceil(n / k), // every row trains: k × this ≥ n
    onLog: log,
  });
  const ms = performance.now() - t0;
  log(`k-means one iteration: ${ms.toFixed(0)} ms; float64 checks`);
  const problems: string[] = [];
  const rows = sampleRows(n, shapes.sampleRows.kmeans);
  const centers = sampleRows(k, shapes.sampleRows.kmeans);
  // 1. Premise: the sampled rows' nearest initial centroid is their group's, by a wide margin.
  let margin = Infinity;
  const tick = progress("k-means iteration float64 check, row", 2 * rows.length);
  for (const [done, r] of rows.entries()) {
    tick(done);
    const sims = cosines(unitRow(x, r), init);
    const own = sims[group(r)]!;
    sims[group(r)] = -Infinity;
    margin = Math.min(margin, own - maxOf(sims));
  }
  if (!(margin > 0.1)) problems.push(`groups not separated (margin ${margin.toFixed(3)})`);
  // 2. The iteration: its objective (rows against the initial centroids), no split.
  const stat = res.stats[0];
  const iterWant = objective64(x, init, group);
  const iterErr = stat ? Math.abs(stat.objective - iterWant) / iterWant : Infinity;
  if (res.stats.length !== 1 || !(iterErr < 1e-4)) {
    problems.push(`iteration objective ${stat?.objective} vs float64 ${iterWant}`);
  }
  if (stat?.nsplit !== 0) problems.push(`${stat?.nsplit} empty-cluster splits`);
  // 3. The update: each sampled center is the normalised sum of its group's unit rows.
  let updateErr = 0;
  for (const j of centers) {
    const sum = new Float64Array(d);
    for (let i = j; i < n; i += k) {
      const v = unitRow(x, i);
      for (let t = 0; t < d; t++) sum[t] = sum[t]! + v[t]!;
    }
    const norm = Math.sqrt(sum.reduce((a, v) => a + v * v, 0));
    for (let t = 0; t < d; t++) {
      updateErr = Math.max(updateErr, Math.abs(res.centroids.data[j * d + t]! - sum[t]! / norm));
    }
  }
  if (!(updateErr < 1e-5)) problems.push(`centroid update off by ${updateErr.toExponential(2)}`);
  // 4. The final pass: every row in its group; the sampled rows at the float64 best.
  let outside = 0;
  for (let i = 0; i < n; i++) if (res.assignments[i] !== group(i)) outside++;
  if (res.assignments.length !== n || outside > 0) {
    problems.push(`${outside} of ${res.assignments.length} rows assigned outside their group`);
  }
  let notBest = 0;
  for (const [done, r] of rows.entries()) {
    tick(rows.length + done);
    const sims = cosines(unitRow(x, r), res.centroids);
    const best = maxOf(sims);
    if (best - sims[res.assignments[r]!]! > 1e-5) notBest++;
  }
  if (notBest > 0) problems.push(`${notBest} sampled rows not at the float64 best`);
  const finalWant = objective64(x, res.centroids, (i) => res.assignments[i]!);
  const finalErr = Math.abs(res.objective - finalWant) / finalWant;
  if (!(finalErr < 1e-4)) problems.push(`final objective ${res.objective} vs ${finalWant}`);
  return {
    name: "k-means, one iteration (end to end)",
    shape,
    ok: problems.length === 0,
    detail: `${rows.length} sampled rows, ${centers.length} sampled centers: ` +
      (problems.length ? problems.join("; ") : "as float64") +
      `; update max error ${updateErr.toExponential(2)}, objective rel. errors ` +
      `${iterErr.toExponential(2)} (iteration), ${finalErr.toExponential(2)} (final), ` +
      `group margin ${margin.toFixed(2)}; kernel ${res.kernel.variant} (${res.kernel.source})`,
    ms,
    gflops: null,
  };
}
