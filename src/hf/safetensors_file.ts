// Reading safetensors files tensor by tensor (headers first, then one tensor's bytes at a
// time), for weights larger than memory allows twice: F32, F16 and BF16 to float32.
import { float16ToFloat32 } from "../data/float16.ts";

/** Bytes per element of the safetensors dtypes. */
const DTYPE_BYTES: Record<string, number> = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U64: 8,
  U32: 4,
  U16: 2,
  U8: 1,
  BOOL: 1,
  F8_E4M3: 1,
  F8_E5M2: 1,
};

/** The float dtypes {@linkcode readTensorF32} converts. */
export const FLOAT_DTYPES: readonly string[] = ["F32", "F16", "BF16"];

/** One tensor's entry in a safetensors header. */
export interface SafetensorsEntry {
  /** Element type as written (`F32`, `F16`, `BF16`, …). */
  dtype: string;
  /** Shape. */
  shape: number[];
  /** Absolute byte offset of the data in the file. */
  begin: number;
  /** Absolute byte offset one past the data. */
  end: number;
}

/** A safetensors file's header, validated against the file's size. */
export interface SafetensorsHeader {
  /** The file. */
  path: string;
  /** The file's size in bytes. */
  size: number;
  /** Tensors by name. */
  entries: Map<string, SafetensorsEntry>;
  /** `__metadata__`. */
  metadata: Record<string, string>;
}

/**
 * Reads and checks a safetensors header without reading any tensor data: every entry's
 * dtype, shape and byte span, and that the file holds all of it (a truncated file is named).
 *
 * @param path The file.
 * @returns The header.
 * @throws {TypeError} `Cannot read <path>: …` for a malformed header or a truncated file.
 *
 * @example Usage
 * ```ts ignore
 * const h = await readSafetensorsHeader("model.safetensors");
 * console.log([...h.entries.keys()].length);
 * ```
 */
export async function readSafetensorsHeader(path: string): Promise<SafetensorsHeader> {
  const bad = (why: string) => new TypeError(`Cannot read ${path}: ${why}`);
  const file = await Deno.open(path, { read: true });
  try {
    const size = (await file.stat()).size;
    if (size < 8) throw bad(`expected at least 8 bytes but found ${size} (truncated?)`);
    const head = await readExact(file, 0, 8, path);
    const n = Number(new DataView(head.buffer).getBigUint64(0, true));
    if (n > size - 8 || n > 100_000_000) {
      throw bad(`the header size ${n} exceeds the file's ${size - 8} remaining bytes (truncated?)`);
    }
    let header: unknown;
    try {
      header = JSON.parse(
        new TextDecoder("utf-8", { fatal: true }).decode(await readExact(file, 8, n, path)),
      );
    } catch {
      throw bad("the header is not valid JSON");
    }
    if (typeof header !== "object" || header === null || Array.isArray(header)) {
      throw bad("the header is not a JSON object");
    }
    const base = 8 + n;
    const entries = new Map<string, SafetensorsEntry>();
    let metadata: Record<string, string> = {};
    for (const [name, v] of Object.entries(header as Record<string, unknown>)) {
      if (name === "__metadata__") {
        metadata = (v ?? {}) as Record<string, string>;
        continue;
      }
      const e = v as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
      const shape = e?.shape, offs = e?.data_offsets;
      if (typeof e?.dtype !== "string" || !(e.dtype in DTYPE_BYTES)) {
        throw bad(`tensor "${name}" has an unknown dtype ${JSON.stringify(e?.dtype)}`);
      }
      if (!Array.isArray(shape) || shape.some((s) => !Number.isInteger(s) || s < 0)) {
        throw bad(`tensor "${name}" has an invalid shape ${JSON.stringify(shape)}`);
      }
      if (
        !Array.isArray(offs) || offs.length !== 2 || !Number.isInteger(offs[0]) ||
        !Number.isInteger(offs[1]) || offs[0] < 0 || offs[1] < offs[0]
      ) {
        throw bad(`tensor "${name}" has invalid data offsets ${JSON.stringify(offs)}`);
      }
      const count = (shape as number[]).reduce((a, b) => a * b, 1);
      if (offs[1] - offs[0] !== count * DTYPE_BYTES[e.dtype]!) {
        throw bad(
          `tensor "${name}" spans ${offs[1] - offs[0]} bytes but ${e.dtype} ${
            JSON.stringify(shape)
          } needs ${count * DTYPE_BYTES[e.dtype]!}`,
        );
      }
      if (base + offs[1] > size) {
        throw bad(
          `tensor "${name}" ends at byte ${
            base + offs[1]
          } but the file has ${size} bytes (truncated?)`,
        );
      }
      entries.set(name, {
        dtype: e.dtype,
        shape: shape as number[],
        begin: base + offs[0],
        end: base + offs[1],
      });
    }
    return { path, size, entries, metadata };
  } finally {
    file.close();
  }
}

/** Reads `length` bytes at `offset`, or throws naming the file when it ends first. */
async function readExact(
  file: Deno.FsFile,
  offset: number,
  length: number,
  path: string,
): Promise<Uint8Array> {
  const out = new Uint8Array(length);
  await file.seek(offset, Deno.SeekMode.Start);
  let got = 0;
  while (got < length) {
    const n = await file.read(out.subarray(got));
    if (n === null) {
      throw new TypeError(
        `Cannot read ${path}: the file ends at byte ${offset + got}, expected ${
          offset + length
        } (truncated?)`,
      );
    }
    got += n;
  }
  return out;
}

/**
 * Reads one tensor from an open safetensors file as float32 (F16 and BF16 widened exactly).
 *
 * @param file The open file.
 * @param path Its path, for messages.
 * @param name The tensor's name, for messages.
 * @param entry The tensor's entry from {@linkcode readSafetensorsHeader}.
 * @returns The values (a fresh array).
 * @throws {TypeError} For a dtype other than F32, F16 or BF16, or a file cut short.
 *
 * @example Usage
 * ```ts ignore
 * const f = await Deno.open(h.path);
 * const w = await readTensorF32(f, h.path, "w", h.entries.get("w")!);
 * ```
 */
export async function readTensorF32(
  file: Deno.FsFile,
  path: string,
  name: string,
  entry: SafetensorsEntry,
): Promise<Float32Array> {
  if (!FLOAT_DTYPES.includes(entry.dtype)) {
    throw new TypeError(
      `Cannot load ${path}: tensor "${name}" has dtype ${entry.dtype}, expected F32, F16 or BF16`,
    );
  }
  const bytes = await readExact(file, entry.begin, entry.end - entry.begin, path);
  if (entry.dtype === "F32") return new Float32Array(bytes.buffer);
  const half = new Uint16Array(bytes.buffer);
  if (entry.dtype === "F16") return float16ToFloat32(half);
  const out = new Float32Array(half.length);
  const bits = new Uint32Array(out.buffer);
  for (let i = 0; i < half.length; i++) bits[i] = half[i]! << 16;
  return out;
}

/**
 * The bytes of a safetensors header for tensors written in the given order (offsets packed,
 * the JSON padded with spaces to 8 bytes, `{"format": "pt"}` metadata as transformers
 * requires).
 *
 * @param tensors `[name, dtype, shape]` in data order.
 * @returns The 8-byte length followed by the JSON header, and the data size that follows.
 *
 * @example Usage
 * ```ts
 * import { encodeSafetensorsHeader } from "./safetensors_file.ts";
 * const { header, dataBytes } = encodeSafetensorsHeader([["w", "F32", [2, 3]]]);
 * console.log(header.length % 8, dataBytes); // 0 24
 * ```
 */
export function encodeSafetensorsHeader(
  tensors: [string, string, number[]][],
): { header: Uint8Array; dataBytes: number } {
  const json: Record<string, unknown> = { __metadata__: { format: "pt" } };
  let offset = 0;
  for (const [name, dtype, shape] of tensors) {
    const bytes = shape.reduce((a, b) => a * b, 1) * (DTYPE_BYTES[dtype] ?? NaN);
    if (!Number.isFinite(bytes)) throw new TypeError(`Unknown dtype ${dtype} of "${name}"`);
    json[name] = { dtype, shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let text = JSON.stringify(json);
  text += " ".repeat((8 - (new TextEncoder().encode(text).length % 8)) % 8);
  const body = new TextEncoder().encode(text);
  const header = new Uint8Array(8 + body.length);
  new DataView(header.buffer).setBigUint64(0, BigInt(body.length), true);
  header.set(body, 8);
  return { header, dataBytes: offset };
}
