// Which assignment step k-means runs (exact or IVF) and, for assign: "auto", the rule: IVF
// where it is faster on this adapter, timed once per adapter, row width and size of K (a
// power-of-two bucket) through the autotune cache, like the kernel variant (kernel_choice.ts).
// The steps themselves are in _assign_steps.ts.
import type { Gpu } from "../gpu/gpu.ts";
import { uploadMatrix } from "../gpu/gpu_matrix.ts";
import { submit } from "../gpu/program.ts";
import { mulberry32 } from "../random/mulberry32.ts";
import { buildCenterIndex } from "../ivf/center_index.ts";
import { recordIvfAssign } from "../ivf/ivf_assign.ts";
import { chooseIvfSearch } from "../ivf/ivf_auto.ts";
import {
  KMEANS_ASSIGNS,
  type KMeansAssign,
  type KMeansAssignment,
  type KMeansKernelChoice,
} from "./kmeans_options.ts";
import { centroidsPerChunk, createCentroids, paddedWidth } from "./centroid_store.ts";
import { createAssignOutputs } from "./assignment_step.ts";
import { recordAssign } from "./_assign_programs.ts";

/**
 * Smallest K for which `"auto"` takes IVF when it cannot time (autotuning disabled): the
 * crossover measured on lavapipe is K ≈ 200–500 (bench/results/ivf.md), and the timed rule
 * (IVF 1.5× faster) picks IVF there from K ≈ 1024 at d = 100 (bench/results/assign_auto.md);
 * a GPU's exact kernel is relatively faster, so the untimed rule stays above both.
 */
export const AUTO_IVF_UNTIMED_MIN_K = 4096;

/**
 * Training rows per centroid over which `"auto"` spreads the index build of one iteration
 * (a quarter of the default `maxPointsPerCentroid`, so the build weighs more than in most runs).
 */
const AMORTIZE_ROWS_PER_CENTROID = 64;

/**
 * Checks an assignment method given as the `assign` option, or on the command line.
 *
 * @param value The value given.
 * @param flag The command-line flag it came from (e.g. `"--assign"`): the message then names
 * the flag and lists the values unquoted. Absent for the `assign` option.
 * @returns `value`, typed.
 * @throws {RangeError} Unless `value` is one of {@linkcode KMEANS_ASSIGNS}.
 *
 * @example Usage
 * ```ts ignore
 * checkKmeansAssign("ivf"); // "ivf"
 * checkKmeansAssign("hnsw", "--assign"); // RangeError: Expected --assign to be exact, ivf or auto but found hnsw
 * ```
 */
export function checkKmeansAssign(value: unknown, flag?: string): KMeansAssign {
  if ((KMEANS_ASSIGNS as readonly unknown[]).includes(value)) return value as KMeansAssign;
  const list = (q: (v: string) => string) =>
    `${KMEANS_ASSIGNS.slice(0, -1).map(q).join(", ")} or ${q(KMEANS_ASSIGNS.at(-1)!)}`;
  throw new RangeError(
    flag === undefined
      ? `Expected assign to be ${list((v) => JSON.stringify(v))} but found ${JSON.stringify(value)}`
      : `Expected ${flag} to be ${list((v) => v)} but found ${value}`,
  );
}

/** What {@linkcode chooseKmeansAssignment} needs to know about the run. */
export interface AssignmentChoiceOptions {
  /** The method asked for. */
  assign: KMeansAssign;
  /** Probes asked for (undefined: the default). */
  nprobe: number | undefined;
  /** Centroids. */
  k: number;
  /** Row width. */
  d: number;
  /** Packed f16 rows and centroids. */
  f16: boolean;
  /** Cosine (else l2). */
  spherical: boolean;
  /** The exact kernel of the run (the one "auto" times). */
  kernel: KMeansKernelChoice;
  /** Let "auto" time the candidates (else its untimed rule). */
  autotune: boolean | undefined;
  /** Informational messages. */
  onLog?: ((message: string) => void) | undefined;
}

/**
 * Resolves the assignment step of a run (the rule of `chooseIvfSearch` in src/ivf/ivf_auto.ts).
 * `"exact"` and `"ivf"` as asked. `"auto"`: exact when IVF would probe half the cells or more
 * (K below ≈ 300 with the default nprobe); otherwise the faster of the two on this adapter at
 * this row width, f16 and metric and at K rounded to a power of two, timed once on a synthetic
 * problem (random unit centroids, up to 4096 rows, the run's exact kernel) and cached per
 * adapter like the kernel variant: IVF's time is its search plus its index build spread over
 * 64 training rows per centroid. Untimed (autotuning off), IVF from
 * {@linkcode AUTO_IVF_UNTIMED_MIN_K} centroids.
 *
 * @param gpu The GPU context.
 * @param o The run's method, probes, shape, kernel and autotune switch.
 * @returns The method, its cells and probes, and how it was chosen.
 *
 * @example Usage
 * ```ts ignore
 * const choice = await chooseKmeansAssignment(gpu, { assign: "auto", nprobe: undefined, k: 20000, d: 100, f16: false, spherical: true, kernel, autotune: true });
 * ```
 */
export async function chooseKmeansAssignment(
  gpu: Gpu,
  o: AssignmentChoiceOptions,
): Promise<KMeansAssignment> {
  const dp = paddedWidth(o.d);
  const cos = o.spherical;
  return await chooseIvfSearch(gpu, (p) => {
    const problem = makeProblem(gpu, p.rows, p.k, o.d, o.f16, cos);
    return {
      exact: () =>
        timed(gpu, (enc) => {
          recordAssign(gpu, o.kernel, problem.x, problem.cents, problem.out, cos, enc);
        }),
      ivf: async () => {
        const build = await timed(gpu, (enc) => problem.index.rebuild(enc));
        const search = await timed(gpu, (enc) => {
          recordIvfAssign(gpu, problem.x, problem.index, problem.out, {
            encoder: enc,
            nprobe: p.nprobe,
          });
        });
        return search + build * p.rows / (AMORTIZE_ROWS_PER_CENTROID * p.k);
      },
      destroy: () => problem.destroy(),
    };
  }, {
    search: o.assign,
    k: o.k,
    nprobe: o.nprobe,
    family: `kmeans_assign_search/dp=${dp}/${o.f16 ? "f16" : "f32"}/${cos ? "cosine" : "l2"}`,
    what: `the assignment (d=${o.d}${o.f16 ? ", f16" : ""})`,
    untimedMinK: AUTO_IVF_UNTIMED_MIN_K,
    budget: 2 ** 30 / dp,
    autotune: o.autotune,
    onLog: o.onLog,
  });
}

/** Milliseconds of the GPU work `record` records, submitted alone. */
async function timed(gpu: Gpu, record: (enc: GPUCommandEncoder) => void): Promise<number> {
  const enc = gpu.device.createCommandEncoder({ label: "kmeans_assign_autotune" });
  record(enc);
  const t0 = performance.now();
  submit(gpu, enc);
  await gpu.device.queue.onSubmittedWorkDone();
  return performance.now() - t0;
}

/** `rows` random unit rows, `k` random unit centroids, their IVF index (not built) and outputs. */
function makeProblem(gpu: Gpu, rows: number, k: number, d: number, f16: boolean, cos: boolean) {
  const rand = mulberry32(20261206);
  const dp = paddedWidth(d);
  const data = new Float32Array(rows * d).map(() => rand() - 0.5);
  for (let r = 0; r < rows; r++) data[r * d] = data[r * d]! + 1; // no zero rows
  const x = uploadMatrix(gpu, { data, rows, cols: d }, {
    label: "tune_x",
    stride: dp,
    dtype: f16 ? "f16" : "f32",
    normalize: cos,
  });
  const padded = new Float32Array(k * dp);
  for (let c = 0; c < k; c++) {
    let s = 0;
    for (let j = 0; j < d; j++) s += (padded[c * dp + j] = rand() - 0.5) ** 2;
    if (cos) {
      for (let j = 0; j < d; j++) padded[c * dp + j] = padded[c * dp + j]! / Math.sqrt(s);
    }
  }
  const cents = createCentroids(gpu, k, d, f16, centroidsPerChunk(gpu, dp, false), padded);
  const out = createAssignOutputs(gpu, x);
  const index = buildCenterIndex(gpu, cents, { metric: cos ? "cosine" : "l2", build: false });
  return {
    x,
    cents,
    out,
    index,
    destroy() {
      index.destroy();
      x.destroy();
      cents.destroy();
      out.destroy();
    },
  };
}
