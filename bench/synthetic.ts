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

/** `n` unit rows around `clusters` random directions (cosine to the own center ≈ 0.7). */
export function clustered(n: number, d: number, clusters: number, seed: number): Matrix {
  const rand = mulberry32(seed);
  const centers = normals(clusters * d, rand);
  normalizeRowsInPlace({ data: centers, rows: clusters, cols: d });
  const data = normals(n * d, rand);
  const sigma = 1 / Math.sqrt(d);
  for (let r = 0; r < n; r++) {
    const c = Math.floor(rand() * clusters);
    for (let j = 0; j < d; j++) data[r * d + j] = centers[c * d + j]! + sigma * data[r * d + j]!;
  }
  return normalizeRowsInPlace({ data, rows: n, cols: d });
}

export function sliceRows(m: Matrix, start: number, count: number): Matrix {
  return {
    data: m.data.slice(start * m.cols, (start + count) * m.cols),
    rows: count,
    cols: m.cols,
  };
}
