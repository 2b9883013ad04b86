/**
 * Writes `.npy` files (version 1, or 2 for a header over 64 KiB; C order, little-endian):
 * whole arrays, or the header alone for data streamed in pieces.
 *
 * @module
 */

import { writeFileAtomic } from "../fs/atomic.ts";
import { headerBytes, type NpyData, shapeString, sizeOf } from "./_npy_format.ts";

/** Options for {@linkcode encodeNpy} and {@linkcode writeNpy}. */
export interface EncodeNpyOptions {
  /**
   * Store a `Float32Array` as float16 (`"f2"`, rounded to nearest) instead of float32. Ignored
   * for other array types.
   * @default {"f4"}
   */
  dtype?: "f4" | "f2";
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
 * @param dtype The values' type: `"f4"`, `"f2"`, `"u4"`, `"i4"`, `"i8"` (int64, e.g. exact
 * fixed-point sums) or `"u1"`.
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
  dtype: "f4" | "f2" | "u4" | "i4" | "i8" | "u1",
  shape: number[],
): Uint8Array {
  const descr = { f4: "<f4", f2: "<f2", u4: "<u4", i4: "<i4", i8: "<i8", u1: "|u1" }[dtype];
  if (descr === undefined) {
    throw new TypeError(`Expected dtype to be f4, f2, u4, i4, i8 or u1 but found ${dtype}`);
  }
  if (!Array.isArray(shape) || shape.some((s) => !Number.isInteger(s) || s < 0)) {
    throw new TypeError(
      `Expected shape to be an array of non-negative integers but found ${JSON.stringify(shape)}`,
    );
  }
  return headerBytes(descr, shape);
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
