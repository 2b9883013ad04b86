/**
 * A dense row-major float32 matrix, the data type shared by the whole toolkit.
 *
 * @example Usage
 * ```ts
 * import { matrix } from "./matrix.ts";
 * const m = matrix(new Float32Array([1, 2, 3, 4, 5, 6]), 2, 3);
 * console.log(m.rows, m.cols); // 2 3
 * ```
 */
export interface Matrix {
  /** Values, row after row: element (r, c) is `data[r * cols + c]`. */
  data: Float32Array;
  /** Number of rows. */
  rows: number;
  /** Number of columns. */
  cols: number;
}

/**
 * Builds a {@linkcode Matrix} and checks that `data` holds exactly `rows × cols` values.
 *
 * @param data Row-major values.
 * @param rows Number of rows (a non-negative integer).
 * @param cols Number of columns (a positive integer).
 * @returns The matrix.
 *
 * @example Usage
 * ```ts
 * import { matrix } from "./matrix.ts";
 * const m = matrix(new Float32Array(6), 3, 2);
 * console.log(m.data.length); // 6
 * ```
 */
export function matrix(data: Float32Array, rows: number, cols: number): Matrix {
  const m = { data, rows, cols };
  checkMatrix(m, "matrix");
  return m;
}

/**
 * Throws a `TypeError` when `m` is not a well-formed {@linkcode Matrix}.
 *
 * @param m The value to check.
 * @param name How to call the value in the error message.
 *
 * @example Usage
 * ```ts
 * import { checkMatrix } from "./matrix.ts";
 * checkMatrix({ data: new Float32Array(4), rows: 2, cols: 2 }, "x"); // passes
 * ```
 */
export function checkMatrix(m: Matrix, name: string): void {
  if (m === null || typeof m !== "object") {
    throw new TypeError(`Expected ${name} to be a Matrix but found ${m}`);
  }
  if (!(m.data instanceof Float32Array)) {
    throw new TypeError(
      `Expected ${name}.data to be a Float32Array but found ${
        (m.data as unknown as object)?.constructor?.name ?? m.data
      }`,
    );
  }
  if (!Number.isInteger(m.rows) || m.rows < 0) {
    throw new TypeError(`Expected ${name}.rows to be a non-negative integer but found ${m.rows}`);
  }
  if (!Number.isInteger(m.cols) || m.cols < 1) {
    throw new TypeError(`Expected ${name}.cols to be a positive integer but found ${m.cols}`);
  }
  if (m.data.length !== m.rows * m.cols) {
    throw new TypeError(
      `Expected ${name}.data to hold rows × cols = ${m.rows} × ${m.cols} = ${
        m.rows * m.cols
      } values but found ${m.data.length}`,
    );
  }
}

/**
 * Throws a `RangeError` naming the first NaN or infinite value of `m`.
 *
 * @param m The matrix to scan.
 * @param name How to call the matrix in the error message.
 *
 * @example Usage
 * ```ts
 * import { checkFinite } from "./matrix.ts";
 * checkFinite({ data: new Float32Array([1, 2]), rows: 1, cols: 2 }, "x"); // passes
 * ```
 */
export function checkFinite(m: Matrix, name: string): void {
  const { data, cols } = m;
  for (let i = 0; i < data.length; i++) {
    const v = data[i]!;
    if (!Number.isFinite(v)) {
      throw new RangeError(
        `Expected finite values in ${name} but found ${v} at row ${Math.floor(i / cols)}, column ${
          i % cols
        }`,
      );
    }
  }
}

/** The largest finite float32. */
const F32_MAX = 3.4028234663852886e38;

/**
 * The limits of the values the GPU kernels represent: the one rule behind every row check
 * ({@linkcode checkRows} here, `checkGpuRows` on the GPU, and `kernels/pack_rows.wgsl`).
 *
 * - `minNormalizable` (2^-102): a row whose largest |value| is smaller counts as a zero row:
 *   GPUs (lavapipe included) may flush such values (subnormal floats) to zero. Any row at or
 *   above it is L2-normalised without overflow or underflow, whatever its scale: the kernel
 *   divides by the largest |value| before summing squares where the plain sum could fail.
 * - `f16Max` (65504, the largest float16): values stored as float16 without being
 *   normalised (`f16` with metric l2) must not exceed it.
 * - `l2SquaredNormMax` (float32's largest / 4): under the L2 metric a row's squared norm must
 *   not exceed it, so that squared distances (at most 4 × the largest squared norm) stay finite
 *   in float32.
 *
 * @example Usage
 * ```ts
 * import { ROW_LIMITS } from "./matrix.ts";
 * console.log(ROW_LIMITS.f16Max); // 65504
 * ```
 */
export const ROW_LIMITS: {
  readonly minNormalizable: number;
  readonly f16Max: number;
  readonly l2SquaredNormMax: number;
} = { minNormalizable: 2 ** -102, f16Max: 65504, l2SquaredNormMax: F32_MAX / 4 };

/** Options for {@linkcode checkRows}. */
export interface CheckRowsOptions {
  /** Number of the first row of `m` in the file it came from. @default {0} */
  firstRow?: number;
  /**
   * Also refuse all-zero rows, which cannot be L2-normalised, and rows as good as zero
   * (largest |value| below {@linkcode ROW_LIMITS}`.minNormalizable`); the text says why the
   * rows are normalised (e.g. `"cosine similarity"`). @default {undefined}
   */
  nonZero?: string;
  /**
   * Also refuse values beyond float16 (|value| > 65504): the rows are stored as float16
   * without being normalised; the text says why (e.g. `"--f16 with metric l2"`).
   * @default {undefined}
   */
  f16?: string;
  /**
   * Also refuse rows whose squared norm exceeds {@linkcode ROW_LIMITS}`.l2SquaredNormMax`,
   * where float32 squared distances overflow; the text says what uses them (e.g.
   * `"l2 k-means"`). @default {undefined}
   */
  l2?: string;
  /**
   * Where row `r` of `m` came from, when its rows span several files (a gathered sample):
   * the message then names `file` and `fileRow` instead of `name` and `firstRow + r`.
   * @default {undefined}
   */
  where?: (r: number) => { file: string; fileRow: number };
}

/**
 * Throws a `RangeError` naming the first NaN/±Infinity value of `m` and, with the options,
 * the first row beyond {@linkcode ROW_LIMITS} (`nonZero`: an all-zero or as good as zero row;
 * `f16`: a value beyond float16; `l2`: a squared norm beyond float32 distances), with row
 * numbers counted from `firstRow`, so that an error can name the file and the row within it.
 *
 * @param m The rows to scan.
 * @param name The file (or matrix) to name in the message.
 * @param options {@linkcode CheckRowsOptions}.
 *
 * @example Usage
 * ```ts
 * import { checkRows } from "./matrix.ts";
 * const m = { data: new Float32Array([1, 2, 0, 0]), rows: 2, cols: 2 };
 * try {
 *   checkRows(m, "x.npy", { firstRow: 10, nonZero: "cosine similarity" });
 * } catch (e) {
 *   console.log((e as Error).message); // ... x.npy ... row 11 is all zeros
 * }
 * ```
 */
export function checkRows(m: Matrix, name: string, options: CheckRowsOptions = {}): void {
  const { data, rows, cols } = m;
  const first = options.firstRow ?? 0;
  const at = options.where ?? ((r: number) => ({ file: name, fileRow: first + r }));
  const { nonZero, f16, l2 } = options;
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    let top = 0, norm2 = 0; // largest |value|; squared norm in float64 (cannot overflow)
    for (let c = 0; c < cols; c++) {
      const v = data[o + c]!;
      const a = v < 0 ? -v : v;
      if (!(a <= F32_MAX)) throw rowError(m, r, at, "finite", ""); // NaN or ±Infinity
      if (a > top) top = a;
      norm2 += v * v;
    }
    if (nonZero && top < ROW_LIMITS.minNormalizable) throw rowError(m, r, at, "zero", nonZero);
    if (f16 && top > ROW_LIMITS.f16Max) throw rowError(m, r, at, "f16", f16);
    if (l2 && norm2 > ROW_LIMITS.l2SquaredNormMax) throw rowError(m, r, at, "l2", l2);
  }
}

/** The message of {@linkcode checkRows} for row `r` (out of the hot loop: nothing captured). */
function rowError(
  m: Matrix,
  r: number,
  at: (r: number) => { file: string; fileRow: number },
  what: "finite" | "zero" | "f16" | "l2",
  why: string,
): RangeError {
  const row = Array.from(m.data.subarray(r * m.cols, (r + 1) * m.cols));
  const { file, fileRow } = at(r);
  const top = row.reduce((t, v) => Math.max(t, Math.abs(v)), 0);
  switch (what) {
    case "finite": {
      const c = row.findIndex((v) => !Number.isFinite(v));
      return new RangeError(
        `Expected finite values in ${file} but found ${row[c]} at row ${fileRow}, column ${c}`,
      );
    }
    case "zero":
      return new RangeError(
        `Cannot L2-normalise ${file} for ${why}: row ${fileRow} is all zeros${
          top > 0 ? ` or as good as (its largest |value|, ${top}, is below 2^-102)` : ""
        }`,
      );
    case "f16": {
      const c = row.findIndex((v) => Math.abs(v) > ROW_LIMITS.f16Max);
      return new RangeError(
        `Cannot store ${file} as float16 for ${why}: row ${fileRow} holds ${
          row[c]
        } at column ${c}, beyond float16's largest value 65504`,
      );
    }
    case "l2": {
      const norm2 = row.reduce((s, v) => s + v * v, 0);
      return new RangeError(
        `Cannot use ${file} for ${why}: row ${fileRow} has a squared norm of ${norm2} (largest |value| ${top}), beyond ${ROW_LIMITS.l2SquaredNormMax} where float32 squared distances overflow`,
      );
    }
  }
}

/**
 * Returns a copy of `m` with every row scaled to unit L2 norm.
 *
 * @param m The matrix.
 * @param name How to call the matrix in the error message for a zero row.
 * @returns A new matrix whose rows have norm 1.
 * @throws {RangeError} When a row is all zeros.
 *
 * @example Usage
 * ```ts
 * import { normalizeRows } from "./matrix.ts";
 * const u = normalizeRows({ data: new Float32Array([3, 4]), rows: 1, cols: 2 });
 * console.log(u.data); // Float32Array [0.6, 0.8]
 * ```
 */
export function normalizeRows(m: Matrix, name = "x"): Matrix {
  const { rows, cols, data } = m;
  const out = new Float32Array(data.length);
  for (let r = 0; r < rows; r++) {
    let s = 0;
    const o = r * cols;
    for (let c = 0; c < cols; c++) s += data[o + c]! * data[o + c]!;
    if (!(s > 0)) {
      throw new RangeError(`Cannot L2-normalise ${name}: row ${r} is all zeros`);
    }
    const inv = 1 / Math.sqrt(s);
    for (let c = 0; c < cols; c++) out[o + c] = data[o + c]! * inv;
  }
  return { data: out, rows, cols };
}

/**
 * Returns rows `[start, end)` of `m` as a view that shares its data.
 *
 * @param m The matrix.
 * @param start First row.
 * @param end One past the last row.
 * @returns The sub-matrix.
 *
 * @example Usage
 * ```ts
 * import { sliceRows } from "./matrix.ts";
 * const s = sliceRows({ data: new Float32Array(6), rows: 3, cols: 2 }, 1, 3);
 * console.log(s.rows); // 2
 * ```
 */
export function sliceRows(m: Matrix, start: number, end: number): Matrix {
  return {
    data: m.data.subarray(start * m.cols, end * m.cols),
    rows: end - start,
    cols: m.cols,
  };
}
