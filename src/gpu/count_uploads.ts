import type { Gpu } from "./gpu.ts";

/** What {@linkcode countUploads} has seen since it started. */
export interface UploadCounter {
  /** Bytes written to the GPU through `queue.writeBuffer`. */
  readonly bytes: number;
  /** `queue.writeBuffer` calls. */
  readonly writes: number;
  /** Stops counting and restores the queue's own `writeBuffer`. */
  stop(): void;
}

/**
 * Counts the bytes the toolkit writes to the GPU through `gpu.device.queue.writeBuffer`
 * (every host → GPU data upload; per-dispatch uniform blocks are mapped at creation and not
 * counted), for tests that check data is uploaded once. Counters may nest; stop them in
 * reverse order.
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
  let bytes = 0, writes = 0, stopped = false;
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
  return {
    get bytes() {
      return bytes;
    },
    get writes() {
      return writes;
    },
    stop() {
      if (stopped) return;
      stopped = true;
      if (queue.writeBuffer === counting) {
        if (own) queue.writeBuffer = previous;
        else delete (queue as { writeBuffer?: unknown }).writeBuffer;
      }
    },
  };
}
