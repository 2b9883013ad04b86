// Counts the bytes the host writes into GPU buffers, on every device of the process: the
// toolkit's `queue.writeBuffer` calls and tfjs's mapped staging buffers alike.

/** One host-to-GPU write seen by an {@linkcode UploadMeter}. */
export interface UploadRecord {
  /** How the bytes reached the GPU. */
  via: "writeBuffer" | "mapped";
  /** Label of the destination buffer (`""` when it has none). */
  label: string;
  /** Bytes written. */
  bytes: number;
}

/** Running totals of {@linkcode meterUploads}. */
export interface UploadMeter {
  /** Bytes written from the host since the meter started. */
  readonly bytes: number;
  /** Writes counted (one per `writeBuffer` call or per unmapped write mapping). */
  readonly writes: number;
  /** Every write, in order (kept only with `{ records: true }`). */
  readonly records: UploadRecord[];
  /** Stops counting; the totals stay readable. */
  stop(): void;
}

/** Options of {@linkcode meterUploads}. */
export interface UploadMeterOptions {
  /** Keep one {@linkcode UploadRecord} per write in `records`. @default {false} */
  records?: boolean;
}

interface Listener {
  add(r: UploadRecord): void;
}

const listeners = new Set<Listener>();
let restore: (() => void) | null = null;

function bytesOf(
  data: BufferSource | SharedArrayBuffer,
  dataOffset: number | undefined,
  size: number | undefined,
): number {
  if (ArrayBuffer.isView(data)) {
    const el = data instanceof DataView ? 1 : (data as unknown as Uint8Array).BYTES_PER_ELEMENT;
    const total = data.byteLength / el;
    return (size ?? total - (dataOffset ?? 0)) * el;
  }
  return size ?? (data as ArrayBuffer).byteLength - (dataOffset ?? 0);
}

function emit(r: UploadRecord): void {
  for (const l of listeners) l.add(r);
}

/** Patches the WebGPU prototypes once, while at least one meter runs. */
function install(): () => void {
  const queue = GPUQueue.prototype, device = GPUDevice.prototype, buffer = GPUBuffer.prototype;
  const writeBuffer = queue.writeBuffer;
  const createBuffer = device.createBuffer;
  const mapAsync = buffer.mapAsync;
  const getMappedRange = buffer.getMappedRange;
  const unmap = buffer.unmap;
  // Buffers mapped for writing → bytes of the ranges handed out so far.
  const writable = new WeakMap<GPUBuffer, number>();
  queue.writeBuffer = function (this: GPUQueue, ...a: Parameters<GPUQueue["writeBuffer"]>) {
    emit({ via: "writeBuffer", label: a[0].label, bytes: bytesOf(a[2], a[3], a[4]) });
    return writeBuffer.apply(this, a);
  };
  device.createBuffer = function (this: GPUDevice, d: GPUBufferDescriptor) {
    const b = createBuffer.call(this, d);
    if (d.mappedAtCreation) writable.set(b, 0);
    return b;
  };
  buffer.mapAsync = function (this: GPUBuffer, ...a: Parameters<GPUBuffer["mapAsync"]>) {
    const p = mapAsync.apply(this, a);
    if (a[0] & GPUMapMode.WRITE) p.then(() => writable.set(this, 0), () => {});
    return p;
  };
  buffer.getMappedRange = function (this: GPUBuffer, offset?: number, size?: number) {
    const r = getMappedRange.call(this, offset, size);
    const seen = writable.get(this);
    if (seen !== undefined) writable.set(this, seen + r.byteLength);
    return r;
  };
  buffer.unmap = function (this: GPUBuffer) {
    const seen = writable.get(this);
    if (seen !== undefined) {
      writable.delete(this);
      if (seen > 0) emit({ via: "mapped", label: this.label, bytes: seen });
    }
    return unmap.call(this);
  };
  return () => {
    Object.assign(queue, { writeBuffer });
    Object.assign(device, { createBuffer });
    Object.assign(buffer, { mapAsync, getMappedRange, unmap });
  };
}

/**
 * Starts counting the bytes the host writes into GPU buffers: `GPUQueue.writeBuffer` calls
 * and the ranges of buffers mapped for writing (`mappedAtCreation` or `mapAsync(WRITE)`),
 * which is how tfjs's WebGPU backend uploads tensors. It counts every device of the process,
 * so tests can check that a whole command (e.g. `deno task train`'s `main`) uploads its
 * data once. A write through a mapping is counted by the ranges taken with
 * `getMappedRange`, when the buffer is unmapped.
 *
 * @param options See {@linkcode UploadMeterOptions}.
 * @returns The meter; call `stop()` when done.
 *
 * @example Usage
 * ```ts ignore
 * const meter = meterUploads();
 * await pseudoLabels(gpu, x, { classes: 10 });
 * meter.stop();
 * console.log(`${meter.bytes} bytes in ${meter.writes} writes`);
 * ```
 */
export function meterUploads(options: UploadMeterOptions = {}): UploadMeter {
  let bytes = 0, writes = 0, running = true;
  const records: UploadRecord[] = [];
  const listener: Listener = {
    add(r) {
      bytes += r.bytes;
      writes++;
      if (options.records) records.push(r);
    },
  };
  if (listeners.size === 0) restore = install();
  listeners.add(listener);
  return {
    get bytes() {
      return bytes;
    },
    get writes() {
      return writes;
    },
    records,
    stop() {
      if (!running) return;
      running = false;
      listeners.delete(listener);
      if (listeners.size === 0) {
        restore?.();
        restore = null;
      }
    },
  };
}
