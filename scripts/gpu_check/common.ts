// gpu-check's shared pieces: the shapes of a run, one check's outcome, seeded data, float64
// helpers on sampled rows, and the progress log. No npm import (the script runs with the Deno
// binary alone).
import type { Matrix } from "../../src/matrix/matrix.ts";

/** Shapes of one run. */
export interface Shapes {
  kmeans: { n: number; k: number; d: number };
  topk: { nq: number; nk: number; d: number; k: number };
  loss: { n: number; C: number; d: number; l: number; ratio: number };
  /**
   * The large-K case (large_k_check.ts): `n` rows → `k` centers, one IVF k-means iteration,
   * top-`l` of the rows over the centers; `sample` rows checked against exact search.
   */
  largeK: { n: number; k: number; d: number; l: number; sample: number };
  /** Rows (and, for k-means, centers) checked against float64 per check. */
  sampleRows: { kmeans: number; topk: number; loss: number };
}

/** The paper's shapes, meant for a datacenter GPU. */
export const PAPER: Shapes = {
  kmeans: { n: 1_000_000, k: 100_000, d: 512 },
  topk: { nq: 100_000, nk: 1_000_000, d: 512, k: 8 },
  loss: { n: 4096, C: 100_000, d: 512, l: 8, ratio: 0.1 },
  largeK: { n: 1_000_000, k: 1_000_000, d: 512, l: 8, sample: 1000 },
  sampleRows: { kmeans: 64, topk: 8, loss: 16 },
};

/** Small shapes for the software adapter (used by tests/gpu_check_test.ts). */
export const QUICK: Shapes = {
  kmeans: { n: 3001, k: 97, d: 64 },
  topk: { nq: 97, nk: 3001, d: 64, k: 8 },
  loss: { n: 64, C: 1000, d: 48, l: 4, ratio: 0.2 },
  largeK: { n: 3000, k: 3000, d: 32, l: 8, sample: 300 },
  sampleRows: { kmeans: 64, topk: 16, loss: 16 },
};

/** One check's outcome. */
export interface CheckResult {
  /** What was checked. */
  name: string;
  /** The shape. */
  shape: string;
  /** Whether it passed. */
  ok: boolean;
  /** Error, throughput, memory. */
  detail: string;
  /** Milliseconds per timed unit (a batch, a step, a reference image). */
  ms: number;
  /** Achieved GFLOP/s, where counted. */
  gflops: number | null;
}

/** Fills a rows × cols matrix with uniform values in [-0.5, 0.5) from a 32-bit LCG. */
export { uniformMatrix as randomMatrix } from "../../bench/synthetic.ts";

/** Row `r` of `m` as a float64 unit vector (a zero row stays zero). */
export function unitRow(m: Matrix, r: number): Float64Array {
  const v = Float64Array.from(m.data.subarray(r * m.cols, (r + 1) * m.cols));
  let s = 0;
  for (const e of v) s += e * e;
  const inv = s > 0 ? 1 / Math.sqrt(s) : 0;
  for (let i = 0; i < v.length; i++) v[i]! *= inv;
  return v;
}

/** Cosine similarity of float64 unit row `q` with every row of `m`, in float64. */
export function cosines(q: Float64Array, m: Matrix): Float64Array {
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

/** `count` distinct indices in [0, n), the first and the last among them, ascending. */
export function sampleRows(n: number, count: number): number[] {
  const rows = new Set<number>([0, n - 1]);
  let s = 12345;
  while (rows.size < Math.min(n, count)) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    rows.add(s % n);
  }
  return [...rows].sort((a, b) => a - b);
}

/** The `k` largest entries' indices, best first (ties: lower index first), in one pass. */
export function bestK(v: Float64Array, k: number): number[] {
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

/** One stderr line of gpu-check. */
export function log(message: string): void {
  console.error(`gpu-check: ${message}`);
}

/** Logs "what i/n, ETA" at most every 5 s while a host loop runs. */
export function progress(what: string, total: number): (done: number) => void {
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
