// Rows of a GPU-resident matrix as tfjs tensors, without a copy: batches are gathered on
// the GPU, so only the batch's row ids cross the bus.
import type { GpuMatrix } from "../gpu/gpu_matrix.ts";
import { tf } from "./tf.ts";

/** A {@linkcode GpuMatrix} seen by tfjs; see {@linkcode residentRows}. */
export interface ResidentRows {
  /** Total rows. */
  rows: number;
  /** Columns. */
  cols: number;
  /**
   * Rows `ids` (in that order) as a new `ids.length × cols` tensor; the caller disposes it.
   * Only the ids are uploaded.
   */
  gather(ids: ArrayLike<number>): tf.Tensor2D;
  /** Rows `[start, end)` as a new tensor; the caller disposes it. Nothing is uploaded. */
  slice(start: number, end: number): tf.Tensor2D;
  /** Releases the tensors; the matrix's buffers stay with their owner. */
  dispose(): void;
}

/**
 * Wraps the chunks of a float32 {@linkcode GpuMatrix} as tfjs tensors on the "webgpu" backend
 * (zero copy: tfjs reads the matrix's own buffers and never frees them). tfjs must already run
 * on the matrix's device (`useTfBackend(gpu)`). The matrix must outlive the wrapper.
 *
 * @param m A float32 matrix, e.g. from `uploadMatrix` (rows padded past `cols` are cut back
 * to `cols`; its rows are used as stored).
 * @returns Gather and slice over all of its rows.
 * @throws {TypeError} When tfjs does not run on the "webgpu" backend, or the matrix is not
 * float32.
 *
 * @example Usage
 * ```ts ignore
 * await useTfBackend(gpu);
 * const g = uploadMatrix(gpu, x);
 * const rows = residentRows(g);
 * const batch = rows.gather([5, 0, 3]); // 3 × cols, only 12 bytes uploaded
 * ```
 */
export function residentRows(m: GpuMatrix): ResidentRows {
  if (tf.getBackend() !== "webgpu") {
    throw new TypeError(
      `Expected tfjs on the "webgpu" backend for GPU-resident rows but found "${tf.getBackend()}"`,
    );
  }
  // A padded layout (stride > cols) is read whole and its padding sliced off after the gather.
  const stride = m.stride;
  if (m.dtype !== "f32") {
    throw new TypeError(`Expected a float32 GPU matrix for tfjs but found dtype "${m.dtype}"`);
  }
  const parts = m.chunks.filter((c) => c.rows > 0).map((c) => ({
    rowStart: c.rowStart,
    rows: c.rows,
    t: tf.tensor({ buffer: c.buffer, zeroCopy: true }, [c.rows, stride], "float32") as tf.Tensor2D,
  }));
  const unpad = (t: tf.Tensor2D): tf.Tensor2D =>
    stride === m.cols ? t : tf.slice(t, [0, 0], [t.shape[0], m.cols]);
  const chunkOf = (r: number): number => {
    let lo = 0, hi = parts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (parts[mid]!.rowStart <= r) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  };
  const checkRow = (r: number) => {
    if (!Number.isInteger(r) || r < 0 || r >= m.rows) {
      throw new RangeError(`Expected row ids in [0, ${m.rows - 1}] but found ${r}`);
    }
  };
  return {
    rows: m.rows,
    cols: m.cols,
    gather(ids) {
      const n = ids.length;
      for (let i = 0; i < n; i++) checkRow(ids[i]!);
      if (n === 0) return tf.zeros([0, m.cols]) as tf.Tensor2D;
      if (parts.length === 1) {
        return tf.tidy(() =>
          unpad(tf.gather(parts[0]!.t, tf.tensor1d(Int32Array.from(ids), "int32")))
        );
      }
      // Several chunks: gather each chunk's rows, concatenate, then restore the order of `ids`.
      const local: number[][] = parts.map(() => []);
      const which = new Int32Array(n);
      for (let i = 0; i < n; i++) {
        const c = chunkOf(ids[i]!);
        which[i] = c;
        local[c]!.push(ids[i]! - parts[c]!.rowStart);
      }
      const base = new Int32Array(parts.length);
      for (let c = 1; c < parts.length; c++) base[c] = base[c - 1]! + local[c - 1]!.length;
      const seen = new Int32Array(parts.length);
      const order = new Int32Array(n);
      for (let i = 0; i < n; i++) order[i] = base[which[i]!]! + seen[which[i]!]!++;
      return tf.tidy(() => {
        const pieces = parts.flatMap((p, c) =>
          local[c]!.length ? [tf.gather(p.t, tf.tensor1d(local[c]!, "int32"))] : []
        );
        const all = pieces.length === 1 ? pieces[0]! : tf.concat(pieces, 0);
        return unpad(tf.gather(all, tf.tensor1d(order, "int32")) as tf.Tensor2D);
      });
    },
    slice(start, end) {
      if (
        !Number.isInteger(start) || !Number.isInteger(end) || start < 0 || end > m.rows ||
        start > end
      ) {
        throw new RangeError(
          `Expected a row range within [0, ${m.rows}] but found [${start}, ${end})`,
        );
      }
      if (start === end) return tf.zeros([0, m.cols]) as tf.Tensor2D;
      return tf.tidy(() => {
        const pieces: tf.Tensor2D[] = [];
        for (const p of parts) {
          const s = Math.max(start, p.rowStart), e = Math.min(end, p.rowStart + p.rows);
          if (s < e) pieces.push(tf.slice(p.t, [s - p.rowStart, 0], [e - s, stride]));
        }
        return unpad(pieces.length === 1 ? pieces[0]! : tf.concat(pieces, 0));
      });
    },
    dispose() {
      for (const p of parts) p.t.dispose();
    },
  };
}
