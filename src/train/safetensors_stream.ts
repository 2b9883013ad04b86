// The safetensors file of encodeSafetensors() as a stream of chunks: the header, then each
// tensor's bytes as a view of its values, read only when the stream reaches it (with a bounded
// read-ahead), so a large checkpoint is never built, or held, in one host array.
import type { NamedTensor } from "./safetensors.ts";

/**
 * A tensor for {@linkcode safetensorsStream}: its values, or a function that reads them (e.g.
 * from the device) when the stream gets to it.
 *
 * @example Usage
 * ```ts
 * import type { StreamedTensor } from "./safetensors_stream.ts";
 * const t: StreamedTensor = { dtype: "F32", shape: [2], data: () => Promise.resolve(new Float32Array(2)) };
 * console.log(t.shape); // [2]
 * ```
 */
export interface StreamedTensor {
  /** Element type. */
  dtype: NamedTensor["dtype"];
  /** Shape; the product equals the number of values. */
  shape: number[];
  /** The values, or a function returning them. */
  data: NamedTensor["data"] | (() => Promise<NamedTensor["data"]>);
}

/**
 * Options of {@linkcode safetensorsStream}.
 *
 * @example Usage
 * ```ts
 * import type { SafetensorsStreamOptions } from "./safetensors_stream.ts";
 * const o: SafetensorsStreamOptions = { metadata: { format: "mlcd" }, readAheadBytes: 2 ** 20 };
 * console.log(o.metadata?.format); // mlcd
 * ```
 */
export interface SafetensorsStreamOptions {
  /** String metadata stored under `__metadata__`. @default {{}} */
  metadata?: Record<string, string>;
  /**
   * Bytes of tensors read ahead of the one being written (at least one tensor is read).
   * @default {67108864}
   */
  readAheadBytes?: number;
}

const countOf = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

function checkCount(name: string, shape: number[], length: number): void {
  const n = countOf(shape);
  if (n !== length) {
    throw new TypeError(
      `Expected tensor "${name}" to hold ${n} values (shape ${
        JSON.stringify(shape)
      }) but found ${length}`,
    );
  }
}

/**
 * Streams tensors as a safetensors file: the same bytes as `encodeSafetensors(tensors,
 * metadata)`, tensors in the map's order. Values given as arrays are checked before the first
 * chunk; values read by a function are checked when read (a mismatch throws, so an atomic
 * writer discards the file). Reads run ahead of the writer by at most `readAheadBytes` (or one
 * tensor).
 *
 * @param tensors Tensors by name.
 * @param options See {@linkcode SafetensorsStreamOptions}.
 * @returns The file's size in bytes and its chunks (the header, then one view per tensor).
 * @throws {TypeError} When an array's length differs from its shape's product.
 *
 * @example Usage
 * ```ts
 * import { safetensorsStream } from "./safetensors_stream.ts";
 * const w = { dtype: "F32" as const, shape: [2], data: new Float32Array([1, 2]) };
 * const { size, chunks } = safetensorsStream(new Map([["w", w]]));
 * let n = 0;
 * for await (const c of chunks()) n += c.length;
 * console.log(n === size); // true
 * ```
 */
export function safetensorsStream(
  tensors: Map<string, StreamedTensor>,
  options: SafetensorsStreamOptions = {},
): { size: number; chunks: () => AsyncGenerator<Uint8Array> } {
  const header: Record<string, unknown> = { __metadata__: options.metadata ?? {} };
  const readAhead = options.readAheadBytes ?? 64 * 2 ** 20;
  let offset = 0;
  for (const [name, t] of tensors) {
    if (typeof t.data !== "function") checkCount(name, t.shape, t.data.length);
    const n = countOf(t.shape);
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + n * 4] };
    offset += n * 4;
  }
  let json = new TextEncoder().encode(JSON.stringify(header));
  const pad = (8 - (json.length % 8)) % 8;
  if (pad) json = new TextEncoder().encode(JSON.stringify(header) + " ".repeat(pad));
  const head = new Uint8Array(8 + json.length);
  new DataView(head.buffer).setBigUint64(0, BigInt(json.length), true);
  head.set(json, 8);
  const entries = [...tensors];
  async function* chunks(): AsyncGenerator<Uint8Array> {
    yield head;
    // Reads started ahead of the writer, in order; `ahead` bytes of them not yet written.
    const pending: Promise<NamedTensor["data"]>[] = [];
    let next = 0, ahead = 0;
    for (const [name, t] of entries) {
      while (
        next < entries.length && (pending.length === 0 ||
          ahead + countOf(entries[next]![1].shape) * 4 <= readAhead)
      ) {
        const d = entries[next]![1].data;
        const read = typeof d === "function" ? d() : Promise.resolve(d);
        read.catch(() => {}); // a read failing ahead is reported when the writer reaches it
        pending.push(read);
        ahead += countOf(entries[next]![1].shape) * 4;
        next++;
      }
      const data = await pending.shift()!;
      ahead -= countOf(t.shape) * 4;
      checkCount(name, t.shape, data.length);
      yield new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    }
  }
  return { size: head.length + offset, chunks };
}
