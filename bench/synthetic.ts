// Seeded synthetic data for the bench sections.
import type { Matrix } from "../src/matrix/matrix.ts";
import { mulberry32 } from "../src/random/mulberry32.ts";
// ---------------------------------------------------------------------------------------
// Data (seeded, clustered on the unit sphere)

export function normals(count: number, rand: () => number): Float32Array {
  const out = new Float32Array(count);
  for (let i = 0; i < count; i += 2) {
    const u = Math.max(rand(), 1e-12), v = rand();
    const r = Math.sqrt(-2 * Math.log(u));
    out[i] = r * Math.cos(2 * Math.PI * v);
    if (i + 1 < count) out[i + 1] = r * Math.sin(2 * Math.PI * v);
  }
  return out;
}

export function normalizeRowsInPlace(m: Matrix): Matrix {
  const { data, rows: n, cols: d } = m;
  for (let r = 0; r < n; r++) {
    let s = 0;
    for (let c = 0; c < d; c++) s += data[r * d + c]! ** 2;
    const inv = s > 0 ? 1 / Math.sqrt(s) : 0;
    for (let c = 0; c < d; c++) data[r * d + c]! *= inv;
  }
  return m;
}

/** Options of {@linkcode clustered}. */
export interface ClusteredOptions {
  /** Noise per coordinate, times 1/√d. @default {1} (cosine to the own center ≈ 0.7) */
  spread?: number;
  /** Cluster sizes skewed (∝ 1/√rank) instead of uniform. @default {false} */
  skewed?: boolean;
}

/** `n` unit rows around `clusters` random directions. */
export function clustered(
  n: number,
  d: number,
  clusters: number,
  seed: number,
  options: ClusteredOptions = {},
): Matrix {
  const rand = mulberry32(seed);
  const centers = normals(clusters * d, rand);
  normalizeRowsInPlace({ data: centers, rows: clusters, cols: d });
  const data = normals(n * d, rand);
  const sigma = (options.spread ?? 1) / Math.sqrt(d);
  for (let r = 0; r < n; r++) {
    const c = options.skewed
      ? Math.min(clusters - 1, Math.floor(clusters * rand() ** 2))
      : Math.floor(rand() * clusters);
    for (let j = 0; j < d; j++) data[r * d + j] = centers[c * d + j]! + sigma * data[r * d + j]!;
  }
  return normalizeRowsInPlace({ data, rows: n, cols: d });
}

/** A `rows × cols` matrix of uniform values in [-0.5, 0.5) from a 32-bit LCG seeded with `seed`. */
export function uniformMatrix(rows: number, cols: number, seed: number): Matrix {
  const data = new Float32Array(rows * cols);
  let s = seed >>> 0;
  for (let i = 0; i < data.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    data[i] = s / 4294967296 - 0.5;
  }
  return { data, rows, cols };
}

export function sliceRows(m: Matrix, start: number, count: number): Matrix {
  return {
    data: m.data.slice(start * m.cols, (start + count) * m.cols),
    rows: count,
    cols: m.cols,
  };
}
