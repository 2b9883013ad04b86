/**
 * Reads whole `.npy` files: from bytes (any supported dtype) or from a path (a float matrix,
 * or any array).
 *
 * @module
 */

import { checkInputPath } from "./_input_path.ts";
import type { Matrix } from "../matrix/matrix.ts";
import {
  checkDataBytes,
  checkLayout,
  convert,
  type NpyData,
  type NpyDtype,
  parseHeader,
} from "./_npy_format.ts";
import { npyMatrixShape, readNpyFileHeader, readNpyRows } from "./npy_rows.ts";

/**
 * A decoded `.npy` array. `data` is row-major (C order). Conversions: `f2` (float16) and `f8`
 * (float64) are returned as a `Float32Array`; `i8` (int64) as an `Int32Array` (values outside
 * the int32 range are an error). `dtype` always reports the type stored in the file.
 */
export interface NpyArray {
  /** The element type stored in the file. */
  dtype: NpyDtype;
  /** The array's shape; `[]` for a scalar. */
  shape: number[];
  /** The values in C order, converted as described above. */
  data: NpyData;
}

/**
 * Decodes the bytes of a `.npy` file. Float16 and float64 data are converted to a
 * `Float32Array` and int64 to an `Int32Array`; `dtype` reports the stored type. Float32, uint8,
 * uint32 and int32 data are returned as views sharing memory with `bytes` when aligned.
 *
 * @param bytes The whole file.
 * @param name How to call the file in error messages.
 * @returns The array's dtype, shape and data.
 * @throws {RangeError} On a bad magic string, malformed or truncated header, truncated data or
 * trailing bytes, or Fortran order.
 * @throws {TypeError} On an unsupported or big-endian dtype.
 *
 * @example Usage
 * ```ts
 * import { decodeNpy, encodeNpy } from "./npy.ts";
 * const a = decodeNpy(encodeNpy(new Uint32Array([1, 2, 3, 4, 5, 6]), [2, 3]));
 * console.log(a.dtype, a.shape, a.data[5]); // u4 [ 2, 3 ] 6
 * ```
 */
export function decodeNpy(bytes: Uint8Array, name = "npy"): NpyArray {
  const header = parseHeader(bytes, name);
  checkLayout(header, name);
  const raw = bytes.subarray(header.dataOffset);
  checkDataBytes(header, raw.byteLength, name);
  return { dtype: header.dtype, shape: header.shape, data: convert(raw, header.dtype, name) };
}
/**
 * Decodes a float32 or float16 (or float64) `.npy` file as a {@linkcode Matrix}: a 1-D array of
 * length `n` becomes `n × 1`, a 2-D array stays `rows × cols`. Float16 and float64 are
 * converted to float32.
 *
 * @param bytes The whole file.
 * @param name How to call the file in error messages.
 * @returns The matrix.
 * @throws {TypeError} For a non-float dtype or a shape that is not 1-D or 2-D.
 * @throws {RangeError} For corrupt files, as {@linkcode decodeNpy}.
 *
 * @example Usage
 * ```ts
 * import { decodeNpyMatrix, encodeNpy } from "./npy.ts";
 * const m = decodeNpyMatrix(encodeNpy(new Float32Array(6), [3, 2]), "x.npy");
 * console.log(m.rows, m.cols); // 3 2
 * ```
 */
export function decodeNpyMatrix(bytes: Uint8Array, name = "npy"): Matrix {
  const header = parseHeader(bytes, name);
  const { rows, cols } = npyMatrixShape(header, name);
  const a = decodeNpy(bytes, name);
  return { data: a.data as Float32Array, rows, cols };
}
/**
 * Reads a float32 or float16 (or float64) `.npy` file as a {@linkcode Matrix} (1-D `n` →
 * `n × 1`). Float32 data is read straight into the result without an intermediate copy.
 *
 * @param path The file.
 * @returns The matrix.
 * @throws {TypeError} For a non-float dtype or a shape that is not 1-D or 2-D.
 * @throws {RangeError} For a corrupt or truncated file or Fortran order.
 *
 * @example Usage
 * ```ts
 * import { readNpy, writeNpy } from "./npy.ts";
 * const path = await Deno.makeTempFile({ suffix: ".npy" });
 * await writeNpy(path, new Float32Array([1, 2, 3, 4]), [2, 2]);
 * const m = await readNpy(path);
 * console.log(m.rows, m.cols, m.data[3]); // 2 2 4
 * await Deno.remove(path);
 * ```
 */
export async function readNpy(path: string): Promise<Matrix> {
  await checkInputPath(path);
  using file = await Deno.open(path);
  const header = await readNpyFileHeader(file, path);
  const { rows, cols } = npyMatrixShape(header, path);
  const data = await readNpyRows(file, header, 0, rows, undefined, path);
  return { data, rows, cols };
}

/**
 * Reads any supported `.npy` file as an {@linkcode NpyArray} (see {@linkcode decodeNpy}).
 *
 * @param path The file.
 * @returns The dtype, shape and data.
 *
 * @example Usage
 * ```ts
 * import { readNpyArray, writeNpy } from "./npy.ts";
 * const path = await Deno.makeTempFile({ suffix: ".npy" });
 * await writeNpy(path, new Int32Array([-1, 2, 3]), [3]);
 * console.log((await readNpyArray(path)).data); // Int32Array(3) [ -1, 2, 3 ]
 * await Deno.remove(path);
 * ```
 */
export async function readNpyArray(path: string): Promise<NpyArray> {
  await checkInputPath(path);
  return decodeNpy(await Deno.readFile(path), path);
}
