import type { Gpu } from "./gpu.ts";

/** What {@linkcode countUploads} has seen since it started. */
export interface UploadCounter {
  /** Bytes written to the GPU through `queue.writeBuffer`. */
  readonly bytes: number;
  /** `queue.writeBuffer` calls. */
  readonly writes: number;
  /**
   * Bytes written through buffers mapped at creation (`mappedAtCreation`), counted by the
   * ranges taken with `getMappedRange` when the buffer is unmapped: how tfjs's WebGPU backend
   * uploads tensor data, and how the toolkit writes per-dispatch uniform blocks.
   */
  readonly mappedBytes: number;
  /** Buffers mapped at creation and unmapped after a `getMappedRange`. */
  readonly mappedWrites: number;
  /** Stops counting and restores the queue's own `writeBuffer`. */
  stop(): void;
}

/**
 * Counts the bytes the toolkit writes to the GPU through `gpu.device.queue.writeBuffer`
 * (every host → GPU data upload of the toolkit's kernels), and separately those written
 * through buffers mapped at creation (`mappedBytes`: tfjs's tensor uploads on the shared
 * device, and per-dispatch uniform blocks), for tests that check data is uploaded once.
 * Counters may nest; stop them in reverse order.
 *
 * @param gpu The GPU context whose queue to watch.
 * @returns A live counter; call `stop()` when done.
 *
 * @example Usage
 * ```ts ignore
 * const uploads = countUploads(gpu);
 * await pseudoLabels(gpu, features, { classes: 10 });
 * uploads.stop();
 * console.log(uploads.bytes, "bytes in", uploads.writes, "writes");
 * ```
 */
export function countUploads(gpu: Gpu): UploadCounter {
  const queue = gpu.device.queue;
  const own = Object.prototype.hasOwnProperty.call(queue, "writeBuffer");
  const previous = queue.writeBuffer;
  const device = gpu.device;
  const ownCreate = Object.prototype.hasOwnProperty.call(device, "createBuffer");
  const previousCreate = device.createBuffer;
  let bytes = 0, writes = 0, mappedBytes = 0, mappedWrites = 0, stopped = false;
  const counting: GPUQueue["writeBuffer"] = function (
    this: GPUQueue,
    buffer: GPUBuffer,
    bufferOffset: number,
    data: BufferSource,
    dataOffset?: number,
    size?: number,
  ): undefined {
    if (!stopped) {
      const view = data as ArrayBufferView | ArrayBuffer;
      const total = view.byteLength;
      const element = ArrayBuffer.isView(view) && "BYTES_PER_ELEMENT" in view
        ? (view as unknown as { BYTES_PER_ELEMENT: number }).BYTES_PER_ELEMENT
        : 1;
      const offset = (dataOffset ?? 0) * element;
      bytes += size !== undefined ? size * element : total - offset;
      writes++;
    }
    return previous.call(this, buffer, bufferOffset, data, dataOffset, size);
  };
  Object.defineProperty(queue, "writeBuffer", {
    value: counting,
    configurable: true,
    writable: true,
  });
  // A buffer mapped at creation: its writes are the ranges handed out before `unmap`.
  const creating: GPUDevice["createBuffer"] = function (
    this: GPUDevice,
    descriptor: GPUBufferDescriptor,
  ): GPUBuffer {
    const b = previousCreate.call(this, descriptor);
    if (!stopped && descriptor.mappedAtCreation) {
      let ranged = 0;
      const getMappedRange = b.getMappedRange, unmap = b.unmap;
      Object.defineProperty(b, "getMappedRange", {
        value: function (this: GPUBuffer, offset?: number, size?: number): ArrayBuffer {
          const r = getMappedRange.call(this, offset, size);
          ranged += r.byteLength;
          return r;
        },
        configurable: true,
        writable: true,
      });
      Object.defineProperty(b, "unmap", {
        value: function (this: GPUBuffer): undefined {
          if (!stopped && ranged > 0) {
            mappedBytes += ranged;
            mappedWrites++;
          }
          ranged = 0;
          delete (b as { getMappedRange?: unknown }).getMappedRange;
          delete (b as { unmap?: unknown }).unmap;
          return unmap.call(this);
        },
        configurable: true,
        writable: true,
      });
    }
    return b;
  };
  Object.defineProperty(device, "createBuffer", {
    value: creating,
    configurable: true,
    writable: true,
  });
  return {
    get bytes() {
      return bytes;
    },
    get writes() {
      return writes;
    },
    get mappedBytes() {
      return mappedBytes;
    },
    get mappedWrites() {
      return mappedWrites;
    },
    stop() {
      if (stopped) return;
      stopped = true;
      if (queue.writeBuffer === counting) {
        if (own) queue.writeBuffer = previous;
        else delete (queue as { writeBuffer?: unknown }).writeBuffer;
      }
      if (device.createBuffer === creating) {
        if (ownCreate) device.createBuffer = previousCreate;
        else delete (device as { createBuffer?: unknown }).createBuffer;
      }
    },
  };
}
