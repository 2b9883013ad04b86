/**
 * Reads `.npy` files larger than memory: the header alone (for planning), and any range of a
 * float matrix's rows from an open file, converted to float32 in bounded chunks.
 *
 * @module
 */

import { checkInputPath } from "./_input_path.ts";
import {
  checkDataBytes,
  checkLayout,
  convert,
  FLOAT_DTYPES,
  ITEM_SIZE,
  type NpyHeader,
  parseHeader,
  parsePrefix,
  readAt,
  shapeString,
} from "./_npy_format.ts";
import { float16ToFloat32 } from "./float16.ts";

/**
 * Returns the `rows × cols` a `.npy` header stands for as a {@linkcode Matrix}: float dtypes
 * only, a 1-D array of length `n` is `n × 1`, a 2-D array is itself.
 *
 * @param header The parsed header.
 * @param name How to call the file in error messages.
 * @returns The matrix shape.
 * @throws {TypeError} For a non-float dtype, a shape that is not 1-D or 2-D, or zero columns.
 *
 * @example Usage
 * ```ts
 * import { npyMatrixShape } from "./npy.ts";
 * const s = npyMatrixShape({ dtype: "f2", shape: [5], fortranOrder: false, dataOffset: 128 }, "x");
 * console.log(s); // { rows: 5, cols: 1 }
 * ```
 */
export function npyMatrixShape(header: NpyHeader, name: string): { rows: number; cols: number } {
  if (!FLOAT_DTYPES.has(header.dtype)) {
    throw new TypeError(
      `Expected ${name} to have dtype float16, float32 or float64 but found '${header.dtype}'`,
    );
  }
  const { shape } = header;
  if (shape.length !== 1 && shape.length !== 2) {
    throw new TypeError(
      `Expected ${name} to be a 1-D or 2-D array but found shape ${shapeString(shape)}`,
    );
  }
  const rows = shape[0]!, cols = shape.length === 2 ? shape[1]! : 1;
  if (cols < 1) {
    throw new TypeError(
      `Expected ${name} to have at least one column but found shape ${shapeString(shape)}`,
    );
  }
  return { rows, cols };
}

/**
 * Reads and validates the header of an open `.npy` file, checking the file size against the
 * header (truncated file or trailing bytes) and the layout (Fortran order).
 *
 * @param file An open file.
 * @param name How to call the file in error messages.
 * @returns The header.
 *
 * @example Usage
 * ```ts
 * import { readNpyFileHeader, writeNpy } from "./npy.ts";
 * const path = await Deno.makeTempFile({ suffix: ".npy" });
 * await writeNpy(path, new Float32Array(6), [2, 3]);
 * using file = await Deno.open(path);
 * console.log((await readNpyFileHeader(file, path)).shape); // [ 2, 3 ]
 * await Deno.remove(path);
 * ```
 */
export async function readNpyFileHeader(file: Deno.FsFile, name: string): Promise<NpyHeader> {
  const size = (await file.stat()).size;
  const prefix = new Uint8Array(Math.min(size, 12));
  await readAt(file, 0, prefix);
  const { headerStart, headerLen } = parsePrefix(prefix, name);
  const headBytes = new Uint8Array(Math.min(size, headerStart + headerLen));
  await readAt(file, 0, headBytes);
  const header = parseHeader(headBytes, name);
  checkLayout(header, name);
  checkDataBytes(header, size - header.dataOffset, name);
  return header;
}

/**
 * Reads only the header of a `.npy` file (a few hundred bytes), for planning reads of large
 * files. Fortran order is reported, not rejected; the data length is not checked.
 *
 * @param path The file.
 * @returns The dtype, shape, order and data offset.
 *
 * @example Usage
 * ```ts
 * import { readNpyHeader, writeNpy } from "./npy.ts";
 * const path = await Deno.makeTempFile({ suffix: ".npy" });
 * await writeNpy(path, new Float32Array(6), [3, 2]);
 * console.log((await readNpyHeader(path)).shape); // [ 3, 2 ]
 * await Deno.remove(path);
 * ```
 */
export async function readNpyHeader(path: string): Promise<NpyHeader> {
  await checkInputPath(path);
  using file = await Deno.open(path);
  const prefix = new Uint8Array(12);
  const got = await readAt(file, 0, prefix);
  const { headerStart, headerLen } = parsePrefix(prefix.subarray(0, got), path);
  const headBytes = new Uint8Array(headerStart + headerLen);
  const n = await readAt(file, 0, headBytes);
  return parseHeader(headBytes.subarray(0, n), path);
}

/**
 * Reads rows `[rowStart, rowStart + rowCount)` of a float `.npy` matrix from an open file,
 * converting float16/float64 to float32 in bounded chunks. Float32 data is read straight into
 * `out`, so a caller can fill slices of one large preallocated array.
 *
 * @param file An open file whose header is `header`.
 * @param header The header from {@linkcode readNpyFileHeader}.
 * @param rowStart First row to read.
 * @param rowCount Number of rows to read.
 * @param out Destination of `rowCount × cols` values; allocated when omitted.
 * @param name How to call the file in error messages.
 * @returns `out`, filled.
 *
 * @example Usage
 * ```ts
 * import { readNpyFileHeader, readNpyRows, writeNpy } from "./npy.ts";
 * const path = await Deno.makeTempFile({ suffix: ".npy" });
 * await writeNpy(path, new Float32Array([1, 2, 3, 4, 5, 6]), [3, 2]);
 * using file = await Deno.open(path);
 * const header = await readNpyFileHeader(file, path);
 * console.log(await readNpyRows(file, header, 1, 2)); // Float32Array(4) [ 3, 4, 5, 6 ]
 * await Deno.remove(path);
 * ```
 */
export async function readNpyRows(
  file: Deno.FsFile,
  header: NpyHeader,
  rowStart: number,
  rowCount: number,
  out?: Float32Array,
  name = "npy",
): Promise<Float32Array> {
  const { rows, cols } = npyMatrixShape(header, name);
  if (
    !Number.isInteger(rowStart) || !Number.isInteger(rowCount) || rowStart < 0 || rowCount < 0 ||
    rowStart + rowCount > rows
  ) {
    throw new RangeError(
      `Expected a row range within [0, ${rows}] of ${name} but found [${rowStart}, ${
        rowStart + rowCount
      })`,
    );
  }
  const count = rowCount * cols;
  const dest = out ?? new Float32Array(count);
  if (dest.length !== count) {
    throw new TypeError(
      `Expected out to hold ${rowCount} × ${cols} = ${count} values but found ${dest.length}`,
    );
  }
  const size = ITEM_SIZE[header.dtype];
  const start = header.dataOffset + rowStart * cols * size;
  const check = (got: number, want: number, at: number) => {
    if (got !== want) {
      throw new RangeError(
        `Expected ${name} to hold ${want} bytes at offset ${at} but found ${got} (truncated file)`,
      );
    }
  };
  if (header.dtype === "f4") {
    const bytes = new Uint8Array(dest.buffer, dest.byteOffset, dest.byteLength);
    check(await readAt(file, start, bytes), bytes.length, start);
    return dest;
  }
  const chunkValues = Math.max(1, Math.floor((8 << 20) / size)); // 8 MiB of raw bytes at a time
  const scratch = new Uint8Array(Math.min(count, chunkValues) * size);
  for (let done = 0; done < count; done += chunkValues) {
    const n = Math.min(chunkValues, count - done);
    const raw = scratch.subarray(0, n * size);
    const at = start + done * size;
    check(await readAt(file, at, raw), raw.length, at);
    if (header.dtype === "f2") {
      float16ToFloat32(new Uint16Array(raw.buffer, raw.byteOffset, n), dest.subarray(done));
    } else dest.set(convert(raw, header.dtype, name) as Float32Array, done);
  }
  return dest;
}
