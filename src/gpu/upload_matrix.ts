// Host rows to the GPU: zero-padded to the stride, in binding-sized chunks, converted to f16
// and normalised on the GPU by the one row-packing kernel, checked finite on the way.
import { checkMatrix, type Matrix } from "../matrix/matrix.ts";
import type { Gpu } from "./gpu.ts";
import { createStorage } from "./buffers.ts";
import { PACK, recordPackRows } from "./pack_rows.ts";
import { submit } from "./program.ts";
import {
  createGpuMatrix,
  type GpuMatrix,
  type GpuMatrixLayout,
  rowsPerBinding,
} from "./create_gpu_matrix.ts";

/** Options of {@linkcode uploadMatrix} and {@linkcode repackMatrix}. */
export interface UploadMatrixOptions extends GpuMatrixLayout {
  /** Take only these rows, in this order (e.g. a subsample). @default {undefined} */
  index?: Uint32Array;
}

/** Host staging per upload step, in bytes. */
const STAGING_BYTES = 16 << 20;

/**
 * Checks a row index (`UploadMatrixOptions.index`) against a matrix of `rows` rows.
 *
 * @param index The index, or undefined for all rows.
 * @param rows Rows of the source matrix.
 * @returns The index.
 * @throws {TypeError} When the index is not a Uint32Array.
 * @throws {RangeError} When an entry is not a row of the source.
 *
 * @example Usage
 * ```ts
 * import { checkRowIndex } from "./upload_matrix.ts";
 * console.log(checkRowIndex(new Uint32Array([2, 0]), 3)); // Uint32Array(2) [ 2, 0 ]
 * ```
 */
export function checkRowIndex(index: unknown, rows: number): Uint32Array | undefined {
  if (index === undefined) return undefined;
  if (!(index instanceof Uint32Array)) {
    throw new TypeError(
      `Expected index to be a Uint32Array but found ${
        (index as object)?.constructor?.name ?? index
      }`,
    );
  }
  for (let i = 0; i < index.length; i++) {
    if (index[i]! >= rows) {
      throw new RangeError(
        `Expected index[${i}] to be a row in [0, ${rows - 1}] but found ${index[i]}`,
      );
    }
  }
  return index;
}

/**
 * Uploads a host {@linkcode Matrix} (all rows, or those listed in `index`) to the GPU once:
 * zero-padded to the stride, in binding-sized chunks, and, when asked, converted to packed
 * f16 and L2-normalised on the GPU by the one row-packing kernel (host staging stays under
 * 16 MiB at a time). The values are checked finite on the way.
 *
 * @param gpu The GPU context.
 * @param m The matrix.
 * @param options Label, chunking, stride, dtype, normalisation and row index
 * ({@linkcode UploadMatrixOptions}).
 * @returns The GPU matrix; call `destroy()` when done.
 * @throws {TypeError} When `m` is not a well-formed Matrix or `index` not a Uint32Array.
 * @throws {RangeError} For a NaN/±Infinity value (naming the row and column), an index out
 * of range or a bad layout.
 *
 * @example Usage
 * ```ts ignore
 * const g = uploadMatrix(gpu, { data: new Float32Array(6), rows: 3, cols: 2 }, { normalize: true });
 * ```
 */
export function uploadMatrix(gpu: Gpu, m: Matrix, options: UploadMatrixOptions = {}): GpuMatrix {
  checkMatrix(m, options.label ?? "the matrix");
  const index = checkRowIndex(options.index, m.rows);
  const n = index ? index.length : m.rows;
  const up = startUpload(gpu, n, m.cols, options);
  try {
    for (const { at, rows } of up.blocks) {
      up.write(at, rows, m, (r) => index ? index[at + r]! : at + r);
    }
    return up.finish();
  } catch (e) {
    up.abort();
    throw e;
  }
}

/**
 * Uploads `rows × cols` rows that `read` gives in batches (rows `[start, start + count)`, in
 * order), so only one batch is on the host at a time: the same GPU layout and bits as
 * {@linkcode uploadMatrix} of all the rows at once (the batches follow its staging blocks).
 * Values are checked finite on the way.
 *
 * @param gpu The GPU context.
 * @param rows Rows in all.
 * @param cols Columns of every row.
 * @param read Gives rows `[start, start + count)` as a `count × cols` Matrix.
 * @param options Label, chunking, stride, dtype and normalisation (no `index`: `read` picks).
 * @returns The GPU matrix; call `destroy()` when done.
 * @throws {RangeError} For a NaN/±Infinity value (naming the row and column), or a batch of
 * the wrong shape; and whatever `read` throws.
 *
 * @example Usage
 * ```ts ignore
 * const g = await uploadMatrixBatches(gpu, 1000, 64, (start, count) => readRows(start, count));
 * ```
 */
export async function uploadMatrixBatches(
  gpu: Gpu,
  rows: number,
  cols: number,
  read: (start: number, count: number) => Promise<Matrix>,
  options: Omit<UploadMatrixOptions, "index"> = {},
): Promise<GpuMatrix> {
  const up = startUpload(gpu, rows, cols, options);
  try {
    for (const { at, rows: count } of up.blocks) {
      const m = await read(at, count);
      if (m.rows !== count || m.cols !== cols) {
        throw new RangeError(
          `Expected rows ${at}..${
            at + count - 1
          } as ${count} × ${cols} but found ${m.rows} × ${m.cols}`,
        );
      }
      up.write(at, count, m, (r) => r, at);
    }
    return up.finish();
  } catch (e) {
    up.abort();
    throw e;
  }
}

/** One upload in progress: its staging blocks, a block writer, and its end. */
interface Upload {
  /** The blocks, in row order: first row and row count (never across a chunk). */
  blocks: { at: number; rows: number }[];
  /** Writes rows `[at, at + rows)` from `m`'s rows `src(0…rows-1)` (named `named + r`). */
  write(at: number, rows: number, m: Matrix, src: (r: number) => number, named?: number): void;
  /** The finished matrix. */
  finish(): GpuMatrix;
  /** Frees what was allocated (after a failure). */
  abort(): void;
}

function startUpload(gpu: Gpu, n: number, d: number, options: UploadMatrixOptions): Upload {
  const g = createGpuMatrix(gpu, n, d, options);
  const direct = g.dtype === "f32" && !options.normalize;
  // Direct: rows padded to the stride on the host, written in place. Otherwise raw rows go
  // through a GPU staging buffer into the packing kernel.
  const width = direct ? g.stride : d;
  const perChunk = Math.max(...g.chunks.map((c) => c.rows), 1);
  const block = Math.max(
    1,
    Math.min(perChunk, Math.floor(STAGING_BYTES / (width * 4)), rowsPerBinding(gpu, width)),
  );
  const host = new Float32Array(Math.min(block, Math.max(n, 1)) * width);
  const staging = direct || n === 0 ? null : createStorage(gpu, host.byteLength, "upload.staging");
  const blocks: { at: number; rows: number; chunk: number }[] = [];
  g.chunks.forEach((c, chunk) => {
    for (let b = 0; b < c.rows; b += block) {
      blocks.push({ at: c.rowStart + b, rows: Math.min(block, c.rows - b), chunk });
    }
  });
  const chunkOf = new Map(blocks.map((b) => [b.at, b.chunk]));
  return {
    blocks,
    write(at, rows, m, src, named) {
      const c = g.chunks[chunkOf.get(at)!]!;
      const b = at - c.rowStart;
      const part = host.subarray(0, rows * width);
      for (let r = 0; r < rows; r++) {
        const row = src(r);
        const from = row * d;
        for (let j = 0; j < d; j++) {
          const v = m.data[from + j]!;
          if (!Number.isFinite(v)) {
            throw new RangeError(
              `Expected finite values in ${options.label ?? "the matrix"} but found ${v} at row ${
                named === undefined ? row : named + r
              }, column ${j}`,
            );
          }
          part[r * width + j] = v;
        }
        if (width > d) part.fill(0, r * width + d, (r + 1) * width);
      }
      if (!staging) {
        gpu.device.queue.writeBuffer(c.buffer, b * g.stride * 4, part);
        return;
      }
      gpu.device.queue.writeBuffer(staging, 0, part);
      const enc = gpu.device.createCommandEncoder({ label: "upload" });
      recordPackRows(gpu, {
        rows,
        cols: d,
        srcStride: d,
        dstStride: g.stride,
        srcRow0: 0,
        srcRows: rows,
        dstRow0: b,
        rowBase: at,
        indexOff: 0,
        flags: (options.normalize ? PACK.normalize : 0) | (g.dtype === "f16" ? PACK.dstF16 : 0),
        src: staging,
        dst: c.buffer,
      }, enc);
      submit(gpu, enc);
    },
    finish() {
      staging?.destroy();
      g.normalized = options.normalize ?? false;
      return g;
    },
    abort() {
      staging?.destroy();
      g.destroy();
    },
  };
}
