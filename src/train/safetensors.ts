// Minimal safetensors encoder/decoder (F32 and U32), with full header validation.

/** One tensor in a safetensors file. */
export interface NamedTensor {
  /** Element type. */
  dtype: "F32" | "U32";
  /** Shape; the product equals `data.length`. */
  shape: number[];
  /** Values. */
  data: Float32Array | Uint32Array;
}

/**
 * Encodes tensors in the safetensors format (8-byte little-endian header size, JSON header,
 * raw little-endian data), tensors in the map's order.
 *
 * @param tensors Tensors by name.
 * @param metadata String metadata stored under `__metadata__`.
 * @returns The file's bytes.
 *
 * @example Usage
 * ```ts
 * import { decodeSafetensors, encodeSafetensors } from "./safetensors.ts";
 * const bytes = encodeSafetensors(new Map([["w", { dtype: "F32", shape: [2], data: new Float32Array([1, 2]) }]]));
 * console.log(decodeSafetensors(bytes).tensors.get("w")?.shape); // [2]
 * ```
 */
export function encodeSafetensors(
  tensors: Map<string, NamedTensor>,
  metadata: Record<string, string> = {},
): Uint8Array {
  const header: Record<string, unknown> = { __metadata__: metadata };
  let offset = 0;
  for (const [name, t] of tensors) {
    const n = t.shape.reduce((a, b) => a * b, 1);
    if (n !== t.data.length) {
      throw new TypeError(
        `Expected tensor "${name}" to hold ${n} values (shape ${
          JSON.stringify(t.shape)
        }) but found ${t.data.length}`,
      );
    }
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + n * 4] };
    offset += n * 4;
  }
  let json = new TextEncoder().encode(JSON.stringify(header));
  const pad = (8 - (json.length % 8)) % 8;
  if (pad) json = new TextEncoder().encode(JSON.stringify(header) + " ".repeat(pad));
  const out = new Uint8Array(8 + json.length + offset);
  const dv = new DataView(out.buffer);
  dv.setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  let p = 8 + json.length;
  for (const t of tensors.values()) {
    out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), p);
    p += t.data.byteLength;
  }
  return out;
}

/**
 * Decodes a safetensors file; throws a `TypeError` naming the problem for a truncated or
 * malformed file or an unsupported dtype (nothing is returned half-decoded).
 *
 * @param bytes The file's bytes.
 * @param name A name for error messages.
 * @returns The tensors (copies) and the metadata.
 *
 * @example Usage
 * ```ts
 * import { decodeSafetensors, encodeSafetensors } from "./safetensors.ts";
 * const f = encodeSafetensors(new Map([["b", { dtype: "U32", shape: [1], data: new Uint32Array([7]) }]]));
 * console.log(decodeSafetensors(f).tensors.get("b")?.data[0]); // 7
 * ```
 */
export function decodeSafetensors(
  bytes: Uint8Array,
  name = "safetensors file",
): { tensors: Map<string, NamedTensor>; metadata: Record<string, string> } {
  const bad = (why: string) => new TypeError(`Cannot read ${name}: ${why}`);
  if (bytes.length < 8) throw bad(`expected at least 8 bytes but found ${bytes.length}`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const hlen = Number(dv.getBigUint64(0, true));
  if (hlen > bytes.length - 8) {
    throw bad(`header size ${hlen} exceeds the file's ${bytes.length - 8} remaining bytes`);
  }
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(
      new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(8, 8 + hlen)),
    );
  } catch {
    throw bad("the header is not valid JSON");
  }
  if (typeof header !== "object" || header === null || Array.isArray(header)) {
    throw bad("the header is not a JSON object");
  }
  const base = 8 + hlen;
  const dataLen = bytes.length - base;
  const tensors = new Map<string, NamedTensor>();
  let metadata: Record<string, string> = {};
  const spans: [number, number][] = [];
  for (const [k, v] of Object.entries(header)) {
    if (k === "__metadata__") {
      metadata = (v ?? {}) as Record<string, string>;
      continue;
    }
    const e = v as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (e.dtype !== "F32" && e.dtype !== "U32") {
      throw bad(`tensor "${k}" has dtype ${JSON.stringify(e.dtype)}, expected F32 or U32`);
    }
    const shape = e.shape, offs = e.data_offsets;
    if (!Array.isArray(shape) || shape.some((s) => !Number.isInteger(s) || s < 0)) {
      throw bad(`tensor "${k}" has an invalid shape ${JSON.stringify(shape)}`);
    }
    if (
      !Array.isArray(offs) || offs.length !== 2 || !Number.isInteger(offs[0]) ||
      !Number.isInteger(offs[1]) || offs[0] < 0 || offs[1] < offs[0] || offs[1] > dataLen
    ) {
      throw bad(`tensor "${k}" has data offsets ${JSON.stringify(offs)} outside ${dataLen} bytes`);
    }
    const n = (shape as number[]).reduce((a, b) => a * b, 1);
    if ((offs[1] - offs[0]) !== n * 4) {
      throw bad(`tensor "${k}" spans ${offs[1] - offs[0]} bytes, expected ${n * 4}`);
    }
    spans.push([offs[0], offs[1]]);
    const raw = bytes.slice(base + offs[0], base + offs[1]);
    tensors.set(k, {
      dtype: e.dtype,
      shape: shape as number[],
      data: e.dtype === "F32" ? new Float32Array(raw.buffer) : new Uint32Array(raw.buffer),
    });
  }
  spans.sort((a, b) => a[0] - b[0]);
  let end = 0;
  for (const [s, e] of spans) {
    if (s !== end) throw bad(`tensor data is not contiguous at byte ${s}`);
    end = e;
  }
  if (end !== dataLen) throw bad(`expected ${end} data bytes but found ${dataLen}`);
  return { tensors, metadata };
}
