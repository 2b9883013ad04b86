// Private to src/data: the `.npy` byte format shared by the readers and the writer. The
// preamble and header dict (parse and build), the checks of layout and data length, and the
// conversion of raw element bytes to the decoded typed arrays.

import { float16ToFloat32 } from "./float16.ts";

/**
 * The element types the `.npy` readers handle, as NumPy `dtype.str` without the byte-order character:
 * `f2` float16, `f4` float32, `f8` float64, `u1` uint8, `u4` uint32, `i4` int32, `i8` int64.
 */
export type NpyDtype = "f2" | "f4" | "f8" | "u1" | "u4" | "i4" | "i8";

/** The typed arrays that hold decoded `.npy` data. */
export type NpyData = Float32Array | Uint32Array | Int32Array | Uint8Array;

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

/** The npy magic string `\x93NUMPY`. */
export const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59];
/** Bytes per element of every dtype. */
export const ITEM_SIZE: Record<NpyDtype, number> = {
  f2: 2,
  f4: 4,
  f8: 8,
  u1: 1,
  u4: 4,
  i4: 4,
  i8: 8,
};
/** The dtypes, as error messages list them. */
export const DTYPE_NAMES = "float16, float32, float64, uint8, uint32, int32 or int64";
/** The dtypes a matrix may have. */
export const FLOAT_DTYPES: ReadonlySet<NpyDtype> = new Set(["f2", "f4", "f8"]);

/** A shape as Python prints a tuple: `(3,)`, `(2, 3)`, `()`. */
export function shapeString(shape: readonly number[]): string {
  return shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(", ")})`;
}

/** The number of elements of a shape. */
export function sizeOf(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Length of the magic + version + header-length prefix, or throws on a bad prefix. */
export function parsePrefix(
  bytes: Uint8Array,
  name: string,
): { headerStart: number; headerLen: number } {
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
export function parseHeader(bytes: Uint8Array, name: string): NpyHeader {
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
  // Rule: each key of the header dict appears once. numpy evaluates the dict as a Python literal,
  // where a repeated key silently takes its last value; a reader that takes the first would see
  // another array, so a repeated key is refused.
  const seen = new Set<string>();
  for (const m of text.matchAll(/['"]([^'"]*)['"]\s*:/g)) {
    if (seen.has(m[1]!)) {
      throw new RangeError(
        `Expected ${name} to have an npy header dict with each key once but found '${m[1]}' twice`,
      );
    }
    seen.add(m[1]!);
  }
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

/** Refuses Fortran order where it changes the layout (two or more dimensions above 1). */
export function checkLayout(header: NpyHeader, name: string): void {
  if (header.fortranOrder && header.shape.filter((s) => s > 1).length > 1) {
    throw new RangeError(
      `Cannot read ${name}: fortran_order True is not supported for shape ${
        shapeString(header.shape)
      }; save a C-order array (np.ascontiguousarray)`,
    );
  }
}

/** Checks that `found` data bytes are exactly what the header's shape and dtype need. */
export function checkDataBytes(header: NpyHeader, found: number, name: string): void {
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
export function convert(raw: Uint8Array, dtype: NpyDtype, name: string, first = 0): NpyData {
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

/** Reads into `buf` from `position` until full or end of file; returns the bytes read. */
export async function readAt(
  file: Deno.FsFile,
  position: number,
  buf: Uint8Array,
): Promise<number> {
  await file.seek(position, Deno.SeekMode.Start);
  let done = 0;
  while (done < buf.length) {
    const n = await file.read(buf.subarray(done));
    if (n === null) break;
    done += n;
  }
  return done;
}

/** Builds the npy preamble + header for `descr` and `shape` (v1, or v2 for huge headers). */
export function headerBytes(descr: string, shape: readonly number[]): Uint8Array {
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
