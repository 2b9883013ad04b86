// Private: the out-of-core pieces of k-means: a memory-light seeded sample, locating and
// checking source rows, and the final assignment streamed over a RowSource in batches
// (read a batch, upload it into one reused GPU buffer, assign, read back), the next batch
// read from disk while the GPU works on the current one.
import type { Gpu } from "../gpu/gpu.ts";
import { createStorage, readBack } from "../gpu/buffers.ts";
import { uploadMatrix } from "../gpu/gpu_matrix.ts";
import { checkRows, type Matrix } from "../matrix/matrix.ts";
import { type RowBatch, type RowSource, streamRows } from "../data/row_source.ts";
import type { CentroidStore } from "./centroid_store.ts";
import type { AssignmentStep, AssignOutputs } from "./assignment_step.ts";
import { rowChecks } from "./_validate.ts";

/**
 * The same indices as `sampleIndices(n, m, rand)` (partial Fisher–Yates, same draws), with
 * memory for `m` indices instead of `n`.
 */
export function sampleIndicesSparse(n: number, m: number, rand: () => number): Uint32Array {
  const moved = new Map<number, number>();
  const out = new Uint32Array(m);
  for (let i = 0; i < m; i++) {
    const j = i + Math.floor(rand() * (n - i));
    const vi = moved.get(i) ?? i;
    out[i] = moved.get(j) ?? j;
    moved.set(j, vi);
    moved.delete(i); // position i is never read again
  }
  return out;
}

/** The file and row within it of row `row` of a source. */
export function locateRow(source: RowSource, row: number): { file: string; fileRow: number } {
  let at = 0;
  for (const s of source.slices) {
    const len = s.rowEnd - s.rowStart;
    if (row < at + len) return { file: s.file, fileRow: s.rowStart + row - at };
    at += len;
  }
  return { file: "?", fileRow: row };
}

/**
 * Checks rows of `m` for NaN/Inf and (spherical) all-zero rows; `where(r)` gives the file and
 * the row within it of row `r`, named in the message (the shared `checkRows` of matrix.ts).
 */
export function checkSourceRows(
  m: Matrix,
  spherical: boolean,
  f16: boolean,
  where: (r: number) => { file: string; fileRow: number },
): void {
  checkRows(m, "rows", { ...rowChecks(spherical, f16), where });
}

/** Options of {@linkcode streamAssign}. */
export interface StreamAssignArgs {
  /** The assignment step run on each batch. */
  assign: AssignmentStep;
  source: RowSource;
  cents: CentroidStore;
  spherical: boolean;
  f16: boolean;
  batchRows: number;
  /** Float weight of source row `i`, or undefined for unweighted. */
  weight: ((row: number) => number) | undefined;
  /** Keep the assignments (else an empty array is returned). */
  keep: boolean;
  /** Called with each batch's assignments and its first row, in row order (awaited). */
  onAssignments: ((assignments: Uint32Array, rowStart: number) => void | Promise<void>) | undefined;
  /** Called with (rows done, seconds so far) after every batch. */
  onBatch: ((done: number, seconds: number) => void) | undefined;
}

/**
 * Assigns every row of a source to its nearest centroid, batch by batch. Returns the
 * assignments, the member counts and the objective, summed in row order like the in-memory final pass.
 */
export async function streamAssign(
  gpu: Gpu,
  a: StreamAssignArgs,
): Promise<{ assignments: Uint32Array; counts: Uint32Array; objective: number }> {
  const { source, cents, f16 } = a;
  const n = source.rows, dp = cents.dp;
  const rowBytes = dp * (f16 ? 2 : 4);
  const cap = Math.max(1, Math.min(a.batchRows, Math.floor(gpu.maxBindingBytes / rowBytes), n));
  const idx = createStorage(gpu, cap * 4, "batch.assign");
  const score = createStorage(gpu, cap * 4, "batch.score");
  const out: AssignOutputs = { idx: [idx], score: [score], destroy() {} };
  const assignments = new Uint32Array(a.keep ? n : 0);
  const counts = new Uint32Array(cents.k);
  let objective = 0;
  const t0 = performance.now();
  const it = streamRows(source, { batchRows: cap, reuse: true });
  let next: Promise<IteratorResult<RowBatch>> = it.next();
  try {
    while (true) {
      const r = await next;
      if (r.done) break;
      next = it.next(); // read ahead while the GPU works
      next.catch(() => {}); // surfaced when awaited
      const b = r.value;
      const m = b.matrix.rows;
      checkSourceRows(
        b.matrix,
        a.spherical,
        f16,
        (i) => ({ file: b.file, fileRow: b.fileRow + i }),
      );
      // Padded, normalised and packed on the GPU like the in-memory rows (one chunk: m ≤ cap).
      const rows = uploadMatrix(gpu, b.matrix, {
        label: "batch",
        stride: dp,
        dtype: f16 ? "f16" : "f32",
        normalize: a.spherical,
      });
      let ib: ArrayBuffer | undefined, sb: ArrayBuffer | undefined;
      try {
        const enc = gpu.device.createCommandEncoder();
        a.assign(gpu, rows, cents, out, enc);
        [ib, sb] = await readBack(gpu, [
          { buffer: idx, bytes: m * 4 },
          { buffer: score, bytes: m * 4 },
        ], enc);
      } finally {
        rows.destroy();
      }
      const idxs = new Uint32Array(ib!);
      for (const c of idxs) counts[c]!++;
      if (a.keep) assignments.set(idxs, b.rowStart);
      await a.onAssignments?.(idxs, b.rowStart);
      const s = new Float32Array(sb!);
      if (a.weight) {
        for (let i = 0; i < m; i++) objective += a.weight(b.rowStart + i) * s[i]!;
      } else {
        for (const v of s) objective += v;
      }
      a.onBatch?.(b.rowStart + m, (performance.now() - t0) / 1000);
    }
  } finally {
    await it.return(undefined).catch(() => {});
    idx.destroy();
    score.destroy();
  }
  return { assignments, counts, objective };
}
