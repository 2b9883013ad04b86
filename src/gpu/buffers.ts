import type { Gpu } from "./gpu.ts";
import { assertUsable } from "./gpu.ts";
import { submit } from "./program.ts";

/** Usage flags of the toolkit's storage buffers: bindable, copyable both ways. */
export const STORAGE_USAGE: number = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC |
  GPUBufferUsage.COPY_DST;

/**
 * Creates a storage buffer of at least `bytes` bytes (rounded up to 4, at least 4).
 *
 * @param gpu The GPU context.
 * @param bytes Size in bytes.
 * @param label Debug label.
 * @returns The buffer.
 *
 * @example Usage
 * ```ts ignore
 * const b = createStorage(gpu, 1024, "scratch");
 * ```
 */
export function createStorage(gpu: Gpu, bytes: number, label = "storage"): GPUBuffer {
  assertUsable(gpu);
  const size = Math.max(4, Math.ceil(bytes / 4) * 4);
  if (size > gpu.maxBufferBytes) {
    throw new RangeError(
      `Cannot create buffer "${label}" of ${size} bytes: the device's maxBufferSize is ${gpu.maxBufferBytes}`,
    );
  }
  return gpu.device.createBuffer({ label, size, usage: STORAGE_USAGE });
}

/**
 * Uploads 32-bit values into a new storage buffer.
 *
 * @param gpu The GPU context.
 * @param data Values to upload.
 * @param label Debug label.
 * @returns The buffer (size rounded up to at least 4 bytes).
 *
 * @example Usage
 * ```ts ignore
 * const b = upload(gpu, new Float32Array([1, 2, 3]));
 * ```
 */
export function upload(
  gpu: Gpu,
  data: Float32Array | Uint32Array | Int32Array,
  label = "upload",
): GPUBuffer {
  const buffer = createStorage(gpu, data.byteLength, label);
  if (data.byteLength > 0) {
    gpu.device.queue.writeBuffer(buffer, 0, data as ArrayBufferView<ArrayBuffer>);
  }
  return buffer;
}

/** A byte range of a buffer to read back. */
export interface Readback {
  /** Buffer with `COPY_SRC` usage. */
  buffer: GPUBuffer;
  /** Bytes to read (a multiple of 4). */
  bytes: number;
  /** Byte offset in the buffer (a multiple of 4). @default {0} */
  offset?: number;
}

/**
 * Reads several buffer ranges back to the host in one `mapAsync` round trip.
 *
 * @param gpu The GPU context.
 * @param reads Ranges to read.
 * @param encoder Optional encoder with pending work; the copies are appended to it
 * and it is submitted.
 * @returns One `ArrayBuffer` per range, in order.
 *
 * @example Usage
 * ```ts ignore
 * const [a, b] = await readBack(gpu, [{ buffer: x, bytes: 16 }, { buffer: y, bytes: 4 }]);
 * ```
 */
export async function readBack(
  gpu: Gpu,
  reads: Readback[],
  encoder?: GPUCommandEncoder,
): Promise<ArrayBuffer[]> {
  assertUsable(gpu);
  const { device } = gpu;
  let total = 0;
  const offsets: number[] = [];
  for (const r of reads) {
    if (r.bytes % 4 !== 0 || (r.offset ?? 0) % 4 !== 0) {
      throw new RangeError(
        `Expected readback offset and size to be multiples of 4 but found ${
          r.offset ?? 0
        } and ${r.bytes}`,
      );
    }
    offsets.push(total);
    total += r.bytes;
  }
  if (total === 0) return reads.map(() => new ArrayBuffer(0));
  const staging = device.createBuffer({
    label: "readback",
    size: total,
    usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
  });
  const enc = encoder ?? device.createCommandEncoder();
  reads.forEach((r, i) => {
    if (r.bytes > 0) enc.copyBufferToBuffer(r.buffer, r.offset ?? 0, staging, offsets[i]!, r.bytes);
  });
  submit(gpu, enc);
  await staging.mapAsync(GPUMapMode.READ);
  const all = staging.getMappedRange().slice(0);
  staging.unmap();
  staging.destroy();
  return reads.map((r, i) => all.slice(offsets[i]!, offsets[i]! + r.bytes));
}

/**
 * Reads `count` float32 values from the start of `buffer`.
 *
 * @param gpu The GPU context.
 * @param buffer Source buffer.
 * @param count Number of values.
 * @returns The values.
 *
 * @example Usage
 * ```ts ignore
 * const v = await readF32(gpu, buffer, 3);
 * ```
 */
export async function readF32(gpu: Gpu, buffer: GPUBuffer, count: number): Promise<Float32Array> {
  const [ab] = await readBack(gpu, [{ buffer, bytes: count * 4 }]);
  return new Float32Array(ab!);
}

/**
 * Reads `count` uint32 values from the start of `buffer`.
 *
 * @param gpu The GPU context.
 * @param buffer Source buffer.
 * @param count Number of values.
 * @returns The values.
 *
 * @example Usage
 * ```ts ignore
 * const v = await readU32(gpu, buffer, 3);
 * ```
 */
export async function readU32(gpu: Gpu, buffer: GPUBuffer, count: number): Promise<Uint32Array> {
  const [ab] = await readBack(gpu, [{ buffer, bytes: count * 4 }]);
  return new Uint32Array(ab!);
}
