// Private: the initial centroids of each k-means run, the stage a new initialisation plugs
// into. To add one: name it in INIT_METHODS (checkInit's message lists it then), and give it a
// case in initialCentroids() returning the same padded rows. "auto" and "kmeans||" run on the
// GPU (initCenters, init_auto.ts); "kmeans++" and "random" draw on the host as they always did.
import type { Gpu } from "../gpu/gpu.ts";
import type { GpuMatrix } from "../gpu/gpu_matrix.ts";
import { checkFinite, checkMatrix, type Matrix } from "../matrix/matrix.ts";
import { sampleIndices } from "../random/mulberry32.ts";
import type { KMeansVariant } from "./kmeans_options.ts";
import { initCenters } from "./init_auto.ts";
import { checkInput } from "./_validate.ts";
import { paddedWidth } from "./centroid_store.ts";

/** The initialisation methods `init` may name (besides given `k × d` centroids). */
export const INIT_METHODS = ["auto", "kmeans||", "kmeans++", "random"] as const;

/** An initialisation method. */
export type InitMethod = typeof INIT_METHODS[number];

/**
 * Checks `init`: a method of {@linkcode INIT_METHODS}, or `k × d` finite centroids (no zero row
 * under cosine).
 */
export function checkInit(
  init: unknown,
  k: number,
  d: number,
  spherical: boolean,
): InitMethod | Matrix {
  if (typeof init === "object" && init !== null) {
    const m = init as Matrix;
    checkMatrix(m, "init");
    checkFinite(m, "init");
    if (m.rows !== k || m.cols !== d) {
      throw new TypeError(
        `Expected init to be ${k} × ${d} centroids but found ${m.rows} × ${m.cols}`,
      );
    }
    if (spherical) checkInput(m, "init", true);
    return m;
  }
  if (!(INIT_METHODS as readonly unknown[]).includes(init)) {
    const names = INIT_METHODS.map((m) => JSON.stringify(m)).join(", ");
    throw new RangeError(
      `Expected init to be ${names} or a k × d Matrix but found ${JSON.stringify(init)}`,
    );
  }
  return init as InitMethod;
}

/** The training rows as an initialisation sees them. */
export interface InitRows {
  /** Rows of the whole input (the training rows are all of them or a sample). */
  dataRows: number;
  /** Training rows. */
  rows: number;
  /** Row width. */
  cols: number;
  /**
   * The training rows on the GPU in the kernels' layout (stride `paddedWidth(cols)`, f32 or
   * packed f16, unit rows under cosine), for an initialisation that runs on the GPU.
   */
  matrix: GpuMatrix;
  /** Raw values (as given, not normalised) of the training rows `rows`, in that order. */
  fetch(rows: Uint32Array): Promise<Matrix>;
  /** Float weight of training row `i`; undefined when every row weighs 1. */
  weight: ((i: number) => number) | undefined;
}

/** Options of {@linkcode initialCentroids}. */
export interface InitOptions {
  /** Centroids. */
  k: number;
  /** The method, or given `k × d` centroids. */
  init: InitMethod | Matrix;
  /**
   * The run's seeded generator: for the first run the one that drew the training sample
   * (continued), for run r > 0 `mulberry32(seed + r × 15486557)`.
   */
  rand: () => number;
  /** Cosine: the centroids are L2-normalised. */
  spherical: boolean;
  /** Informational messages: the method, progress while it runs, its time. */
  onLog: ((message: string) => void) | undefined;
  /** Assignment kernel design of the GPU methods. */
  variant?: KMeansVariant;
  /** Let the GPU methods' kernel variant be timed. */
  autotune?: boolean | undefined;
}

/**
 * THE INITIALISATION STAGE: the `k` starting centroids of one run, as `k × paddedWidth(d)`
 * padded f32 values (zero padding; unit rows under cosine), computed in float64 and rounded.
 * Given centroids are taken as they are; with `k = n` every row is a centroid; otherwise the
 * method draws from the training rows with `rand`: `"auto"` (chooseInit's rule: k-means|| for
 * small k, random rows above) and `"kmeans||"` on the GPU through initCenters (seeded from
 * `rand`), `"kmeans++"` and `"random"` on the host. Each says through `onLog` what it runs,
 * how far it is, and how long it took.
 */
export async function initialCentroids(
  gpu: Gpu,
  train: InitRows,
  o: InitOptions,
): Promise<Float32Array> {
  const dp = paddedWidth(train.cols);
  if (typeof o.init === "object") return paddedRows(o.init, o.spherical, dp);
  if (o.k === train.dataRows) {
    const all = Uint32Array.from({ length: train.rows }, (_, i) => i);
    return paddedRows(await train.fetch(all), o.spherical, dp);
  }
  if (o.init === "auto" || o.init === "kmeans||") {
    const w = train.weight;
    const { centers } = await initCenters(gpu, train.matrix, {
      init: o.init,
      k: o.k,
      seed: Math.floor(o.rand() * 2 ** 32),
      metric: o.spherical ? "cosine" : "l2",
      ...(w ? { weights: Float64Array.from({ length: train.rows }, (_, i) => w(i)) } : {}),
      ...(o.variant ? { variant: o.variant } : {}),
      ...(o.autotune !== undefined ? { autotune: o.autotune } : {}),
      ...(o.onLog ? { onLog: o.onLog } : {}),
    });
    return centers;
  }
  const t0 = performance.now();
  o.onLog?.(`init: ${o.init} for ${o.k} centers (on the host)`);
  const out = o.init === "random"
    ? await randomRows(train, o.k, dp, o.spherical, o.rand)
    : await kmeansPlusPlus(train, o.k, dp, o.spherical, o.rand, o.onLog);
  o.onLog?.(`init: ${o.init} done in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  return out;
}

/** Rows of `m`, padded to `dp` (and normalised when spherical). */
function paddedRows(m: Matrix, spherical: boolean, dp: number): Float32Array {
  const out = new Float32Array(m.rows * dp);
  for (let r = 0; r < m.rows; r++) {
    const v = rowF64(m, r, spherical);
    for (let c = 0; c < m.cols; c++) out[r * dp + c] = v[c]!;
  }
  return out;
}

function rowF64(x: Matrix, r: number, spherical: boolean): Float64Array {
  const v = Float64Array.from(x.data.subarray(r * x.cols, (r + 1) * x.cols));
  if (spherical) {
    let s = 0;
    for (const e of v) s += e * e;
    const inv = 1 / Math.sqrt(s);
    for (let i = 0; i < v.length; i++) v[i] = v[i]! * inv;
  }
  return v;
}

/** `k` distinct training rows drawn at random. */
async function randomRows(
  train: InitRows,
  k: number,
  dp: number,
  spherical: boolean,
  rand: () => number,
): Promise<Float32Array> {
  const out = new Float32Array(k * dp);
  const pick = sampleIndices(train.rows, k, rand);
  const x = await train.fetch(pick);
  const d = x.cols;
  for (let c = 0; c < k; c++) {
    const v = rowF64(x, c, spherical);
    for (let j = 0; j < d; j++) out[c * dp + j] = v[j]!;
  }
  return out;
}

/**
 * k-means++ (D² sampling, × weight when rows are weighted) on a seeded sample of up to
 * max(4k, 1000) training rows, in float64.
 */
async function kmeansPlusPlus(
  train: InitRows,
  k: number,
  dp: number,
  spherical: boolean,
  rand: () => number,
  onLog: ((message: string) => void) | undefined,
): Promise<Float32Array> {
  const out = new Float32Array(k * dp);
  const weightOf = train.weight;
  const nTrain = train.rows;
  const s = Math.min(nTrain, Math.max(4 * k, 1000));
  const sample = sampleIndices(nTrain, s, rand);
  const x = await train.fetch(sample);
  const d = x.cols;
  const pts = new Float64Array(s * d);
  for (let i = 0; i < s; i++) pts.set(rowF64(x, i, spherical), i * d);
  const dist = new Float64Array(s).fill(Infinity);
  const chosen = new Uint8Array(s);
  let cur = Math.floor(rand() * s);
  const t0 = performance.now();
  let said = t0;
  for (let c = 0; c < k; c++) {
    const now = performance.now();
    if (now - said >= 2000) {
      said = now;
      const eta = ((now - t0) / c) * (k - c) / 1000;
      onLog?.(`init: kmeans++ ${c}/${k} centers, ETA ${eta.toFixed(0)} s`);
    }
    chosen[cur] = 1;
    for (let j = 0; j < d; j++) out[c * dp + j] = pts[cur * d + j]!;
    if (c === k - 1) break;
    let total = 0;
    for (let i = 0; i < s; i++) {
      let e = 0;
      for (let j = 0; j < d; j++) {
        const t = pts[i * d + j]! - pts[cur * d + j]!;
        e += t * t;
      }
      if (e < dist[i]!) dist[i] = e;
      if (!chosen[i]) total += weightOf ? weightOf(sample[i]!) * dist[i]! : dist[i]!;
    }
    let next = -1;
    if (total > 0) {
      let u = rand() * total;
      for (let i = 0; i < s; i++) {
        if (chosen[i]) continue;
        u -= weightOf ? weightOf(sample[i]!) * dist[i]! : dist[i]!;
        next = i;
        if (u < 0) break;
      }
    }
    if (next < 0 || chosen[next]) {
      next = chosen.indexOf(0); // all remaining rows coincide with chosen ones
    }
    cur = next;
  }
  return out;
}
