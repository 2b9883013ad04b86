import type { Gpu } from "../gpu/gpu.ts";
import { readBack } from "../gpu/buffers.ts";
import { type GpuMatrix, isGpuMatrix, repackMatrix, useGpuMatrix } from "../gpu/gpu_matrix.ts";
import { submit } from "../gpu/program.ts";
import type { Matrix } from "../matrix/matrix.ts";
import { mulberry32, sampleIndices } from "../random/mulberry32.ts";
import { checkOptionsObject } from "../_options.ts";
import { chooseKmeansKernel } from "./kernel_choice.ts";
import type { KMeansMetric, KMeansVariant } from "./kmeans_options.ts";
import { centroidsPerChunk, createCentroids, paddedWidth } from "./centroid_store.ts";
import { createAssignOutputs } from "./assignment_step.ts";
import { recordAssign } from "./_assign_programs.ts";
import { checkInput, checkInt, isCosine } from "./_validate.ts";
import { loadWeights } from "./_weights.ts";
import { createD2State, recordMerge, recordSelect, recordTotal } from "./_init_programs.ts";
import { gatherPadded } from "./_init_rows.ts";
import { reduceToK } from "./_init_finish.ts";

/**
 * Options of {@linkcode kmeansParallelInit} and {@linkcode kmeansParallelCandidates}.
 *
 * @example Usage
 * ```ts ignore
 * const options: KMeansParallelOptions = { k: 20000, seed: 1, rounds: 4, oversampling: 0.5 };
 * ```
 */
export interface KMeansParallelOptions {
  /** Number of centers, an integer in `[1, rows]`. */
  k: number;
  /** Seed of every random choice (sample, first center, draws, reduction). @default {1234} */
  seed?: number;
  /** `"cosine"` (rows L2-normalised) or `"l2"`. @default {"cosine"} */
  metric?: KMeansMetric;
  /** One weight per row of `x` (finite, ≥ 0, not all 0): D² × weight sampling. @default {undefined} */
  weights?: Float32Array | Float64Array | Uint32Array;
  /** Oversampling rounds after the first center. @default {4} */
  rounds?: number;
  /** Expected draws per round, as a multiple of k (Bahmani et al.'s ℓ / k). @default {0.5} */
  oversampling?: number;
  /**
   * Rows the rounds run on: a seeded subsample of this many rows (all rows when there are
   * fewer; at most one storage binding of 4-byte values).
   * @default {max(16·k, 2000)}
   */
  sampleRows?: number;
  /**
   * How the candidates are reduced to k: weighted k-means++ on the host (float64, k·C·d
   * work), weighted Lloyd on the GPU from a seeded weighted start, or `"auto"`: k-means++
   * while k·C·d ≤ 2^32 (Lloyd moves the centers less well: measured worse after k-means).
   * @default {"auto"}
   */
  reduce?: "auto" | "kmeans++" | "lloyd";
  /** Weighted Lloyd iterations of `reduce: "lloyd"`. @default {5} */
  reduceIterations?: number;
  /** Assignment kernel design, see `KMeansOptions.variant`. @default {"auto"} */
  variant?: KMeansVariant;
  /** See `KMeansOptions.autotune`. @default {true unless MLCD_AUTOTUNE=0} */
  autotune?: boolean;
  /** Progress lines ("init: round 2/4, 9874 candidates, 0.4 s, ETA 0.8 s"). @default {undefined} */
  onLog?: (message: string) => void;
}

/**
 * The oversampled candidates of k-means|| before their reduction to k.
 *
 * @example Usage
 * ```ts ignore
 * const c = await kmeansParallelCandidates(gpu, x, { k: 100 });
 * console.log(c.rows.length, c.roundStarts, c.potentials);
 * ```
 */
export interface KMeansParallelCandidates {
  /** Sample rows the rounds ran on, as rows of `x` (sorted), or null for all rows. */
  sample: Uint32Array | null;
  /** The candidates as sample rows: the first center, then each round's draws, sorted. */
  rows: Uint32Array;
  /** Where each round's draws start in `rows` (`roundStarts[0] = 1`), then `rows.length`. */
  roundStarts: number[];
  /** Σ weight × D² over the sample before each round's draw (the potential φ). */
  potentials: number[];
  /** Weight of each candidate: the weights (or count) of the sample rows nearest to it. */
  weights: Float64Array;
  /** D² of every sample row to its nearest candidate (0 for the candidates themselves). */
  distances: Float32Array;
  /** Nearest candidate of every sample row (an index into `rows`). */
  nearest: Uint32Array;
  /** The candidates' values as the kernels saw them: `rows.length × dp` padded float32. */
  values: Float32Array;
}

interface Prepared {
  x: GpuMatrix;
  release(): void;
  k: number;
  seed: number;
  spherical: boolean;
  dp: number;
  rounds: number;
  ell: number;
  rowWeights: ArrayLike<number> | null;
  variant: "registers" | "tiled";
  onLog: ((m: string) => void) | undefined;
}

async function prepare(gpu: Gpu, x: Matrix | GpuMatrix, o: KMeansParallelOptions) {
  checkOptionsObject("kmeansParallelInit", o);
  const spherical = isCosine("kmeansParallelInit", o);
  if (!isGpuMatrix(x)) checkInput(x, "x", spherical);
  const n = x.rows, d = x.cols, dp = paddedWidth(d);
  const k = checkInt("k", o.k, 1, n);
  const seed = checkInt("seed", o.seed ?? 1234, 0, 2 ** 32 - 1);
  const rounds = checkInt("rounds", o.rounds ?? 4, 0);
  const over = o.oversampling ?? 0.5;
  if (typeof over !== "number" || !(over > 0) || !Number.isFinite(over)) {
    throw new RangeError(`Expected oversampling to be a finite number > 0 but found ${over}`);
  }
  const rowWeights = o.weights === undefined ? null : (await loadWeights(o.weights, n)).w;
  const dtype = isGpuMatrix(x) ? x.dtype : "f32";
  const lease = useGpuMatrix(gpu, x, { stride: dp, dtype, normalize: spherical, label: "x" });
  const choice = await chooseKmeansKernel(gpu, o.variant, d, dtype === "f16", {
    autotune: o.autotune,
    onLog: o.onLog,
  });
  return {
    x: lease.matrix,
    release: () => lease.release(),
    k,
    seed,
    spherical,
    dp,
    rounds,
    ell: over * k,
    rowWeights,
    variant: choice.variant,
    onLog: o.onLog,
  } satisfies Prepared;
}

/**
 * The oversampling phase of k-means|| (Bahmani et al., "Scalable k-means++") on the GPU: a
 * first center drawn ∝ weight, then `rounds` rounds in which every sample row is drawn with
 * probability min(1, ℓ·w·D²/Σ w·D²), D² being its squared distance to the nearest candidate so
 * far. Each round scores the rows against the NEW candidates only (the fused assignment
 * kernel) and folds them into the running D²; Σ is reduced on the GPU in fixed blocks and
 * each row's uniform is a hash of (seed, round, row), so the draws are deterministic per seed
 * and independent of chunking. Finally every candidate is weighted by the sample rows nearest
 * to it.
 *
 * @param gpu The toolkit's GPU context.
 * @param x Rows (`n × d`), on the host or on the GPU (used in place in the kernel layout:
 * stride `d` rounded up to 4, normalised under cosine; re-packed otherwise).
 * @param options `k` and the other {@linkcode KMeansParallelOptions}.
 * @returns The candidates, their weights and the sample's final distances.
 * @throws {RangeError} For a bad `k`, weights or option, NaN/Inf or (cosine) zero rows.
 *
 * @example Usage
 * ```ts ignore
 * const { rows, weights } = await kmeansParallelCandidates(gpu, x, { k: 100, rounds: 3 });
 * ```
 */
export async function kmeansParallelCandidates(
  gpu: Gpu,
  x: Matrix | GpuMatrix,
  options: KMeansParallelOptions,
): Promise<KMeansParallelCandidates> {
  const p = await prepare(gpu, x, options);
  try {
    return await oversample(gpu, p, options.sampleRows);
  } finally {
    p.release();
  }
}

async function oversample(
  gpu: Gpu,
  p: Prepared,
  sampleRows: number | undefined,
): Promise<KMeansParallelCandidates> {
  const { x, dp, k } = p;
  const n = x.rows;
  const rand = mulberry32(p.seed);
  const want = checkInt("sampleRows", sampleRows ?? Math.max(16 * k, 2000), 1);
  const s = Math.min(n, want, Math.floor(gpu.maxBindingBytes / 4));
  const sample = s < n ? sampleIndices(n, s, rand).sort() : null;
  const xs = sample ? repackMatrix(gpu, x, { index: sample, stride: dp, dtype: x.dtype }) : x;
  let ws: Float32Array<ArrayBuffer> | null = null;
  if (p.rowWeights) {
    const w = p.rowWeights;
    ws = Float32Array.from({ length: s }, (_, i) => w[sample ? sample[i]! : i]!);
    if (!ws.some((v) => v > 0)) ws = null; // the sample missed every weighted row
  }
  const st = createD2State(gpu, s, ws);
  const out = createAssignOutputs(gpu, xs);
  const kc = centroidsPerChunk(gpu, dp, false);
  const f16 = xs.dtype === "f16";
  const t0 = performance.now();
  const rows: number[] = [];
  const roundStarts: number[] = [];
  const potentials: number[] = [];
  const blocks: Float32Array[] = [];
  try {
    let fresh = Uint32Array.of(firstRow(ws, s, rand));
    for (let round = 0; round <= p.rounds; round++) {
      // Fold the new candidates into every row's D² and nearest candidate.
      const values = await gatherPadded(gpu, xs, fresh, dp);
      blocks.push(values);
      const cents = createCentroids(gpu, fresh.length, dp, f16, kc, values);
      const base = rows.length;
      for (const r of fresh) rows.push(r);
      let enc = gpu.device.createCommandEncoder();
      try {
        if (fresh.length > 0) {
          recordAssign(gpu, p.variant, xs, cents, out, p.spherical, enc);
          recordMerge(gpu, xs, out, st, base, p.spherical, round === 0, enc);
        }
        if (round === 0) {
          submit(gpu, enc);
          gpu.device.queue.writeBuffer(st.minD, fresh[0]! * 4, new Float32Array(1));
          enc = gpu.device.createCommandEncoder();
        }
        if (round === p.rounds) {
          submit(gpu, enc);
          break;
        }
        // Draw this round's candidates.
        roundStarts.push(rows.length);
        recordTotal(gpu, st, enc);
        recordSelect(gpu, st, p.seed, round + 1, p.ell, enc);
        const cap = Math.min(s, Math.ceil(p.ell + 6 * Math.sqrt(p.ell) + 64));
        const [head, tot, first] = await readBack(gpu, [
          { buffer: st.count, bytes: 4 },
          { buffer: st.total, bytes: 4 },
          { buffer: st.list, bytes: cap * 4 },
        ], enc);
        const count = Math.min(new Uint32Array(head!)[0]!, s);
        potentials.push(new Float32Array(tot!)[0]!);
        let list = new Uint32Array(first!).subarray(0, Math.min(count, cap));
        if (count > cap) {
          const [rest] = await readBack(gpu, [{ buffer: st.list, bytes: count * 4 }]);
          list = new Uint32Array(rest!);
        }
        fresh = Uint32Array.from(list).sort();
      } finally {
        cents.destroy();
      }
      const secs = (performance.now() - t0) / 1000;
      p.onLog?.(
        `init: round ${round + 1}/${p.rounds}, ${rows.length + fresh.length} candidates, ${
          secs.toFixed(1)
        } s, ETA ${(secs / (round + 1) * (p.rounds - round - 1)).toFixed(1)} s`,
      );
    }
    roundStarts.push(rows.length);
    const [nearBuf, distBuf] = await readBack(gpu, [
      { buffer: st.near, bytes: s * 4 },
      { buffer: st.minD, bytes: s * 4 },
    ]);
    const nearest = new Uint32Array(nearBuf!);
    rows.forEach((r, c) => nearest[r] = c); // a candidate is its own nearest
    const weights = new Float64Array(rows.length);
    for (let i = 0; i < s; i++) weights[nearest[i]!]! += ws ? ws[i]! : 1;
    const values = new Float32Array(rows.length * dp);
    let at = 0;
    for (const b of blocks) {
      values.set(b, at);
      at += b.length;
    }
    return {
      sample,
      rows: Uint32Array.from(rows),
      roundStarts,
      potentials,
      weights,
      distances: new Float32Array(distBuf!),
      nearest,
      values,
    };
  } finally {
    st.destroy();
    out.destroy();
    if (xs !== x) xs.destroy();
  }
}

/** The first center: a sample row drawn ∝ weight (uniformly without weights). */
function firstRow(ws: Float32Array | null, s: number, rand: () => number): number {
  if (!ws) return Math.floor(rand() * s);
  let total = 0;
  for (const v of ws) total += v;
  let u = rand() * total, last = 0;
  for (let i = 0; i < s; i++) {
    if (ws[i] === 0) continue;
    last = i;
    u -= ws[i]!;
    if (u < 0) return i;
  }
  return last;
}

/**
 * k-means|| initialisation on the GPU (Bahmani et al., "Scalable k-means++"): the oversampling
 * rounds of {@linkcode kmeansParallelCandidates}, then the weighted candidates reduced to k
 * centers by weighted k-means++ (small candidate sets) or weighted Lloyd (large ones; k-means++
 * over them would be quadratic in k again). Exact duplicates among the candidates are merged;
 * when fewer than k distinct candidates remain, distinct rows of `x` drawn at random fill up,
 * so `k` distinct centers come back whenever `x` has k distinct rows.
 *
 * @param gpu The toolkit's GPU context.
 * @param x Rows (`n × d`), on the host or on the GPU (see {@linkcode kmeansParallelCandidates}).
 * @param options `k` and the other {@linkcode KMeansParallelOptions}.
 * @returns The centers, `k × dp` padded float32 (dp = d rounded up to 4; unit rows under
 * cosine): what the k-means centroid store is created from.
 * @throws {RangeError} For a bad `k`, weights or option, NaN/Inf or (cosine) zero rows.
 *
 * @example Usage
 * ```ts ignore
 * import { createGpu } from "../gpu/gpu.ts";
 * import { kmeansParallelInit } from "./kmeans_parallel_init.ts";
 * const gpu = await createGpu();
 * const x = { data: new Float32Array(5000 * 32).map(() => Math.random() - 0.5), rows: 5000, cols: 32 };
 * const centers = await kmeansParallelInit(gpu, x, { k: 100, onLog: console.error });
 * console.log(centers.length); // 100 × 32
 * ```
 */
export async function kmeansParallelInit(
  gpu: Gpu,
  x: Matrix | GpuMatrix,
  options: KMeansParallelOptions,
): Promise<Float32Array> {
  const p = await prepare(gpu, x, options);
  const reduce = options.reduce ?? "auto";
  if (reduce !== "auto" && reduce !== "kmeans++" && reduce !== "lloyd") {
    throw new RangeError(
      `Expected reduce to be "auto", "kmeans++" or "lloyd" but found ${JSON.stringify(reduce)}`,
    );
  }
  const iterations = checkInt("reduceIterations", options.reduceIterations ?? 5, 0);
  try {
    const t0 = performance.now();
    const cands = await oversample(gpu, p, options.sampleRows);
    return await reduceToK(gpu, p.x, cands, {
      k: p.k,
      d: p.x.cols,
      seed: p.seed,
      spherical: p.spherical,
      variant: p.variant,
      reduce,
      iterations,
      t0,
      onLog: p.onLog,
    });
  } finally {
    p.release();
  }
}
