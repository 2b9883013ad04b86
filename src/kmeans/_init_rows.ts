// Private helpers of the GPU initialisations: rows of a GpuMatrix gathered on the GPU and read
// back padded, and exact duplicate detection among candidate rows.
import type { Gpu } from "../gpu/gpu.ts";
import { readBack } from "../gpu/buffers.ts";
import { type GpuMatrix, repackMatrix } from "../gpu/gpu_matrix.ts";

/**
 * Rows `rows` of `x` (a GPU gather, widened to f32 when `x` is f16, so exact) as host
 * `rows.length × dp` padded values, in the order given.
 */
export async function gatherPadded(
  gpu: Gpu,
  x: GpuMatrix,
  rows: Uint32Array,
  dp: number,
): Promise<Float32Array> {
  const out = new Float32Array(rows.length * dp);
  if (rows.length === 0) return out;
  const part = repackMatrix(gpu, x, { index: rows, stride: dp, dtype: "f32", label: "init" });
  try {
    // One readback per chunk: a single staging buffer for k = 1M centers could pass the
    // device's largest buffer.
    for (const c of part.chunks) {
      if (c.rows === 0) continue;
      const [ab] = await readBack(gpu, [{ buffer: c.buffer, bytes: c.rows * dp * 4 }]);
      out.set(new Float32Array(ab!), c.rowStart * dp);
    }
    return out;
  } finally {
    part.destroy();
  }
}

/** FNV-1a of one padded row's 32-bit words: a key for exact-duplicate detection. */
function rowKey(v: Float32Array, r: number, dp: number): string {
  const u = new Uint32Array(v.buffer, v.byteOffset + r * dp * 4, dp);
  let h = 0x811c9dc5, g = 0x01000193;
  for (let i = 0; i < dp; i++) {
    // -0 and +0 are the same point: fold them.
    const w = u[i] === 0x80000000 ? 0 : u[i]!;
    h = Math.imul(h ^ w, 0x01000193) >>> 0;
    g = Math.imul(g ^ w, 0x811c9dc5) >>> 0;
  }
  return `${h}:${g}`;
}

function sameRow(a: Float32Array, i: number, b: Float32Array, j: number, dp: number): boolean {
  for (let c = 0; c < dp; c++) if (a[i * dp + c] !== b[j * dp + c]) return false;
  return true;
}

/** A set of distinct padded rows, added to one block at a time. */
export class DistinctRows {
  readonly dp: number;
  /** Values of the distinct rows, `count × dp` (grown as needed). */
  values: Float32Array;
  count = 0;
  #index = new Map<string, number[]>();

  constructor(dp: number, capacity: number) {
    this.dp = dp;
    this.values = new Float32Array(Math.max(1, capacity) * dp);
  }

  /**
   * Adds row `r` of `v` unless an equal row is present; returns its position among the
   * distinct rows (new or existing).
   */
  add(v: Float32Array, r: number): number {
    const key = rowKey(v, r, this.dp);
    const list = this.#index.get(key);
    if (list) {
      for (const j of list) if (sameRow(this.values, j, v, r, this.dp)) return j;
    }
    if ((this.count + 1) * this.dp > this.values.length) {
      const grown = new Float32Array(this.values.length * 2);
      grown.set(this.values);
      this.values = grown;
    }
    this.values.set(v.subarray(r * this.dp, (r + 1) * this.dp), this.count * this.dp);
    if (list) list.push(this.count);
    else this.#index.set(key, [this.count]);
    return this.count++;
  }
}
