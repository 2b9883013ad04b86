/**
 * Reading and writing NumPy `.npy` files (format versions 1, 2 and 3, little-endian, C order),
 * the format of clip-retrieval's `img_emb_*.npy` embedding shards.
 *
 * @module
 */

import type { Matrix } from "../matrix/matrix.ts";
import { writeFileAtomic } from "./atomic.ts";
import { float16ToFloat32 } from "./float16.ts";

/**
 * The element types this module reads, as NumPy `dtype.str` without the byte-order character:
 * `f2` float16, `f4` float32, `f8` float64, `u1` uint8, `u4` uint32, `i4` int32, `i8` int64.
 */
export type NpyDtype = "f2" | "f4" | "f8" | "u1" | "u4" | "i4" | "i8";

/** The typed arrays that hold decoded `.npy` data. */
export type NpyData = Float32Array | Uint32Array | Int32Array | Uint8Array;

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

/** The parsed header of a `.npy` file. */
export interface NpyHeader {
  /** The element type. */
  dtype: NpyDtype;
  /** The array's shape; `[]` for a scalar. */
  shape: number[];
  /** Whether the data is stored in Fortran (column-major) order. */
  fortranOrder: boolean;
  /** Byte offset of the first data byte (magic, version, header length and header). */
  dataOffset: number;
}

/** Options for {@linkcode encodeNpy} and {@linkcode writeNpy}. */
export interface EncodeNpyOptions {
  /**
   * Store a `Float32Array` as float16 (`"f2"`, rounded to nearest) instead of float32. Ignored
   * for other array types.
   * @default {"f4"}
   */
  dtype?: "f4" | "f2";
}

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY
const ITEM_SIZE: Record<NpyDtype, number> = { f2: 2, f4: 4, f8: 8, u1: 1, u4: 4, i4: 4, i8: 8 };
const DTYPE_NAMES = "float16, float32, float64, uint8, uint32, int32 or int64";
const FLOAT_DTYPES: ReadonlySet<NpyDtype> = new Set(["f2", "f4", "f8"]);

function shapeString(shape: readonly number[]): string {
  return shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(", ")})`;
}

function sizeOf(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Length of the magic + version + header-length prefix, or throws on a bad prefix. */
function parsePrefix(bytes: Uint8Array, name: string): { headerStart: number; headerLen: number } {
  for (let i = 0; i < MAGIC.length; i++) {
    if (bytes[i] !== MAGIC[i]) {
      const found = Array.from(bytes.subarray(0, 6), (b) => b.toString(16).padStart(2, "0"))
        .join(" ");
      throw new RangeError(
        `Expected ${name} to start with the npy magic string 93 4e 55 4d 50 59 ("\\x93NUMPY") but found ${
          found || "an empty file"
        }`,
      );
    }
  }
  if (bytes.length < 10) {
    throw new RangeError(
      `Expected ${name} to hold at least 10 bytes of npy preamble but found ${bytes.length} (truncated file)`,
    );
  }
  const major = bytes[6]!, minor = bytes[7]!;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (major === 1) return { headerStart: 10, headerLen: view.getUint16(8, true) };
  if (major === 2 || major === 3) {
    if (bytes.length < 12) {
      throw new RangeError(
        `Expected ${name} to hold at least 12 bytes of npy preamble but found ${bytes.length} (truncated file)`,
      );
    }
    return { headerStart: 12, headerLen: view.getUint32(8, true) };
  }
  throw new RangeError(
    `Expected ${name} to have npy format version 1.0, 2.0 or 3.0 but found ${major}.${minor}`,
  );
}

/**
 * Parses the header of a `.npy` file from its first bytes (at least up to the end of the
 * header). Does not check the data length.
 */
function parseHeader(bytes: Uint8Array, name: string): NpyHeader {
  const { headerStart, headerLen } = parsePrefix(bytes, name);
  const dataOffset = headerStart + headerLen;
  if (bytes.length < dataOffset) {
    throw new RangeError(
      `Expected ${name} to hold a ${headerLen}-byte npy header but found ${
        Math.max(0, bytes.length - headerStart)
      } bytes (truncated file)`,
    );
  }
  const major = bytes[6]!;
  const text = new TextDecoder(major === 3 ? "utf-8" : "latin1").decode(
    bytes.subarray(headerStart, dataOffset),
  ).trim();
  const descrMatch = /^\{.*['"]descr['"]\s*:\s*(?:'([^']*)'|"([^"]*)"|(\[))/s.exec(text);
  const fortranMatch = /['"]fortran_order['"]\s*:\s*(True|False)/.exec(text);
  const shapeMatch = /['"]shape['"]\s*:\s*\(([^)]*)\)/.exec(text);
  if (!descrMatch || !fortranMatch || !shapeMatch || !text.endsWith("}")) {
    throw new RangeError(
      `Expected ${name} to have an npy header dict with 'descr', 'fortran_order' and 'shape' but found ${
        JSON.stringify(text.slice(0, 200))
      }`,
    );
  }
  if (descrMatch[3]) {
    throw new TypeError(
      `Expected ${name} to have dtype ${DTYPE_NAMES} but found a structured dtype`,
    );
  }
  const descr = (descrMatch[1] ?? descrMatch[2])!;
  let order = descr[0] ?? "";
  let code = descr.slice(1);
  if (!"<>|=".includes(order) || order === "") {
    order = "=";
    code = descr;
  }
  if (!(code in ITEM_SIZE)) {
    throw new TypeError(
      `Expected ${name} to have dtype ${DTYPE_NAMES} but found '${descr}'`,
    );
  }
  const dtype = code as NpyDtype;
  if (order === ">" && ITEM_SIZE[dtype] > 1) {
    throw new TypeError(
      `Expected ${name} to be little-endian but found big-endian dtype '${descr}' (convert with arr.astype('<${dtype}'))`,
    );
  }
  const parts = shapeMatch[1]!.split(",").map((s) => s.trim()).filter((s) => s !== "");
  const shape: number[] = [];
  for (const p of parts) {
    if (!/^\d+L?$/.test(p)) {
      throw new RangeError(
        `Expected ${name} to have a shape of non-negative integers but found (${shapeMatch[1]})`,
      );
    }
    shape.push(Number.parseInt(p, 10));
  }
  const fortranOrder = fortranMatch[1] === "True";
  return { dtype, shape, fortranOrder, dataOffset };
}

function checkLayout(header: NpyHeader, name: string): void {
  // Fortran order only changes the layout when two or more dimensions exceed 1.
  if (header.fortranOrder && header.shape.filter((s) => s > 1).length > 1) {
    throw new RangeError(
      `Cannot read ${name}: fortran_order True is not supported for shape ${
        shapeString(header.shape)
      }; save a C-order array (np.ascontiguousarray)`,
    );
  }
}

function checkDataBytes(header: NpyHeader, found: number, name: string): void {
  const expected = sizeOf(header.shape) * ITEM_SIZE[header.dtype];
  if (found !== expected) {
    throw new RangeError(
      `Expected ${name} to hold ${expected} data bytes for shape ${
        shapeString(header.shape)
      } and dtype '${header.dtype}' but found ${found} (${
        found < expected ? "truncated file" : "trailing bytes"
      })`,
    );
  }
}

/** Converts raw little-endian element bytes (a copy or aligned view) to the output array. */
function convert(raw: Uint8Array, dtype: NpyDtype, name: string, first = 0): NpyData {
  const size = ITEM_SIZE[dtype];
  const aligned = raw.byteOffset % size === 0 ? raw : raw.slice();
  const n = aligned.byteLength / size;
  const { buffer, byteOffset } = aligned;
  switch (dtype) {
    case "f4":
      return new Float32Array(buffer, byteOffset, n);
    case "f2":
      return float16ToFloat32(new Uint16Array(buffer, byteOffset, n));
    case "f8":
      return new Float32Array(new Float64Array(buffer, byteOffset, n));
    case "u1":
      return new Uint8Array(buffer, byteOffset, n);
    case "u4":
      return new Uint32Array(buffer, byteOffset, n);
    case "i4":
      return new Int32Array(buffer, byteOffset, n);
    case "i8": {
      const src = new BigInt64Array(buffer, byteOffset, n);
      const out = new Int32Array(n);
      for (let i = 0; i < n; i++) {
        const v = src[i]!;
        if (v > 2147483647n || v < -2147483648n) {
          throw new RangeError(
            `Expected the int64 values of ${name} to fit in int32 but found ${v} at index ${
              first + i
            }`,
          );
        }
        out[i] = Number(v);
      }
      return out;
    }
  }
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

/** Reads into `buf` from `position` until full or end of file; returns the bytes read. */
async function readAt(file: Deno.FsFile, position: number, buf: Uint8Array): Promise<number> {
  await file.seek(position, Deno.SeekMode.Start);
  let done = 0;
  while (done < buf.length) {
    const n = await file.read(buf.subarray(done));
    if (n === null) break;
    done += n;
  }
  return done;
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
  return decodeNpy(await Deno.readFile(path), path);
}

function descrOf(data: NpyData, options: EncodeNpyOptions): { descr: string; f16: boolean } {
  if (data instanceof Float32Array) {
    const f16 = options.dtype === "f2";
    if (options.dtype !== undefined && options.dtype !== "f2" && options.dtype !== "f4") {
      throw new TypeError(`Expected options.dtype to be "f4" or "f2" but found ${options.dtype}`);
    }
    return { descr: f16 ? "<f2" : "<f4", f16 };
  }
  if (data instanceof Uint32Array) return { descr: "<u4", f16: false };
  if (data instanceof Int32Array) return { descr: "<i4", f16: false };
  if (data instanceof Uint8Array) return { descr: "|u1", f16: false };
  throw new TypeError(
    `Expected data to be a Float32Array, Uint32Array, Int32Array or Uint8Array but found ${
      (data as unknown as object)?.constructor?.name ?? data
    }`,
  );
}

/**
 * The `.npy` preamble and header alone, for a file whose data follows later (streamed in
 * pieces, e.g. with `openFileAtomic`): `shape.reduce(×)` little-endian values of `dtype`
 * must follow it.
 *
 * @param dtype The values' type: `"f4"`, `"f2"`, `"u4"`, `"i4"` or `"u1"`.
 * @param shape The array's shape.
 * @returns The header bytes (a multiple of 64).
 *
 * @example Usage
 * ```ts
 * import { decodeNpy, encodeNpyHeader } from "./npy.ts";
 * const head = encodeNpyHeader("u4", [2]);
 * const bytes = new Uint8Array(head.length + 8);
 * bytes.set(head);
 * bytes.set(new Uint8Array(new Uint32Array([7, 9]).buffer), head.length);
 * console.log(decodeNpy(bytes).data); // Uint32Array(2) [ 7, 9 ]
 * ```
 */
export function encodeNpyHeader(
  dtype: "f4" | "f2" | "u4" | "i4" | "u1",
  shape: number[],
): Uint8Array {
  const descr = { f4: "<f4", f2: "<f2", u4: "<u4", i4: "<i4", u1: "|u1" }[dtype];
  if (descr === undefined) {
    throw new TypeError(`Expected dtype to be f4, f2, u4, i4 or u1 but found ${dtype}`);
  }
  if (!Array.isArray(shape) || shape.some((s) => !Number.isInteger(s) || s < 0)) {
    throw new TypeError(
      `Expected shape to be an array of non-negative integers but found ${JSON.stringify(shape)}`,
    );
  }
  return headerBytes(descr, shape);
}

/** Builds the npy preamble + header for `descr` and `shape` (v1, or v2 for huge headers). */
function headerBytes(descr: string, shape: readonly number[]): Uint8Array {
  const dict = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shapeString(shape)}, }`;
  let prefix = 10;
  let total = Math.ceil((prefix + dict.length + 1) / 64) * 64;
  if (total - prefix > 0xffff) {
    prefix = 12;
    total = Math.ceil((prefix + dict.length + 1) / 64) * 64;
  }
  const out = new Uint8Array(total);
  out.set(MAGIC, 0);
  out[6] = prefix === 10 ? 1 : 2;
  out[7] = 0;
  const view = new DataView(out.buffer);
  if (prefix === 10) view.setUint16(8, total - prefix, true);
  else view.setUint32(8, total - prefix, true);
  const text = dict.padEnd(total - prefix - 1, " ") + "\n";
  for (let i = 0; i < text.length; i++) out[prefix + i] = text.charCodeAt(i);
  return out;
}

function checkShape(data: NpyData, shape: readonly number[]): void {
  if (!Array.isArray(shape) || shape.some((s) => !Number.isInteger(s) || s < 0)) {
    throw new TypeError(
      `Expected shape to be an array of non-negative integers but found ${JSON.stringify(shape)}`,
    );
  }
  if (sizeOf(shape) !== data.length) {
    throw new TypeError(
      `Expected shape ${shapeString(shape)} to hold ${
        sizeOf(shape)
      } values but found ${data.length}`,
    );
  }
}

/** The data bytes in chunks of at most 64 MiB, converted to float16 when asked. */
function* dataChunks(data: NpyData, f16: boolean): Generator<Uint8Array> {
  const per = f16 ? 1 << 24 : Math.max(1, Math.floor((64 << 20) / data.BYTES_PER_ELEMENT));
  for (let i = 0; i < data.length; i += per) {
    const part = data.subarray(i, Math.min(data.length, i + per));
    if (f16) {
      const h = new Float16Array(part as Float32Array);
      yield new Uint8Array(h.buffer);
    } else {
      yield new Uint8Array(part.buffer, part.byteOffset, part.byteLength);
    }
  }
}

/**
 * Encodes a typed array as the bytes of a version 1 `.npy` file (version 2 when the header
 * exceeds 64 KiB), C order, little-endian.
 *
 * @param data The values: `Float32Array` (`<f4`, or `<f2` with `options.dtype`),
 * `Uint32Array` (`<u4`), `Int32Array` (`<i4`) or `Uint8Array` (`|u1`).
 * @param shape The shape; its product must equal `data.length`.
 * @param options {@linkcode EncodeNpyOptions}.
 * @returns The file's bytes.
 * @throws {TypeError} For another array type or a shape that does not match the data.
 *
 * @example Usage
 * ```ts
 * import { encodeNpy } from "./npy.ts";
 * const bytes = encodeNpy(new Float32Array(6), [2, 3]);
 * console.log(bytes.length); // 152: a 128-byte header (padded to 64 bytes) and 24 data bytes
 * ```
 */
export function encodeNpy(
  data: NpyData,
  shape: number[],
  options: EncodeNpyOptions = {},
): Uint8Array {
  const { descr, f16 } = descrOf(data, options);
  checkShape(data, shape);
  const head = headerBytes(descr, shape);
  const out = new Uint8Array(head.length + data.length * (f16 ? 2 : data.BYTES_PER_ELEMENT));
  out.set(head, 0);
  let at = head.length;
  for (const chunk of dataChunks(data, f16)) {
    out.set(chunk, at);
    at += chunk.length;
  }
  return out;
}

/**
 * Writes a typed array as a `.npy` file atomically (temporary file + rename), streaming the
 * data without building the whole file in memory.
 *
 * @param path The destination.
 * @param data The values, as for {@linkcode encodeNpy}.
 * @param shape The shape; its product must equal `data.length`.
 * @param options {@linkcode EncodeNpyOptions}.
 * @returns A promise that resolves once the file is in place.
 *
 * @example Usage
 * ```ts
 * import { readNpy, writeNpy } from "./npy.ts";
 * const path = await Deno.makeTempFile({ suffix: ".npy" });
 * await writeNpy(path, new Float32Array([0.5, 1.5]), [1, 2], { dtype: "f2" });
 * console.log((await readNpy(path)).data); // Float32Array(2) [ 0.5, 1.5 ]
 * await Deno.remove(path);
 * ```
 */
export async function writeNpy(
  path: string,
  data: NpyData,
  shape: number[],
  options: EncodeNpyOptions = {},
): Promise<void> {
  const { descr, f16 } = descrOf(data, options);
  checkShape(data, shape);
  const head = headerBytes(descr, shape);
  await writeFileAtomic(path, async function* () {
    yield head;
    yield* dataChunks(data, f16);
  });
}
