// Shared fixtures of the cluster_jobs_*_test.ts files: the CLIs run as subprocesses with no
// array-job variables, clustered rows, the flat objective (shards on disk: _shards.ts).
import type { Matrix } from "../src/matrix/matrix.ts";
import { type DenoRun, runDeno } from "./_cli.ts";

export const CLUSTER = new URL("../src/cli/cluster.ts", import.meta.url).pathname;
export const ASSIGN = new URL("../src/cli/assign.ts", import.meta.url).pathname;

// Array-job variables of an enclosing Slurm or Kubernetes job must not leak in (empty = unset).
export const NO_ARRAY = {
  SLURM_ARRAY_TASK_ID: "",
  SLURM_ARRAY_TASK_COUNT: "",
  JOB_COMPLETION_INDEX: "",
};
export const cluster = (args: string[], env: Record<string, string> = {}): Promise<DenoRun> =>
  runDeno([CLUSTER, ...args], { env: { ...NO_ARRAY, ...env } });
export const assign = (args: string[], env: Record<string, string> = {}): Promise<DenoRun> =>
  runDeno([ASSIGN, ...args], { env: { ...NO_ARRAY, ...env } });

/** The flat spherical objective in float64: Σ over rows of the best cosine to a center. */
export function objective(x: Matrix, centers: Matrix): number {
  const d = x.cols;
  const unit = (m: Matrix, r: number) => {
    const v = Float64Array.from(m.data.subarray(r * d, (r + 1) * d));
    const s = Math.hypot(...v);
    return v.map((e) => e / s);
  };
  const cs = Array.from({ length: centers.rows }, (_, r) => unit(centers, r));
  let total = 0;
  for (let r = 0; r < x.rows; r++) {
    const v = unit(x, r);
    let best = -Infinity;
    for (const c of cs) {
      let s = 0;
      for (let t = 0; t < d; t++) s += v[t]! * c[t]!;
      best = Math.max(best, s);
    }
    total += best;
  }
  return total;
}

/** Runs `jobs` at most `width` at a time. */
export async function pool<T>(jobs: (() => Promise<T>)[], width: number): Promise<T[]> {
  const out: T[] = new Array(jobs.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < jobs.length) {
        const i = next++;
        out[i] = await jobs[i]!();
      }
    }),
  );
  return out;
}

// Two runs per k-means (best kept) for parts, merge and flat alike: a single k-means++ run on
// 250 rows lands in a local optimum often enough to make either side lose a few percent.
export const KM = ["--niter", "12", "--seed", "7", "--nredo", "2"];
