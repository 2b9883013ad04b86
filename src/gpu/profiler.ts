import type { Gpu } from "./gpu.ts";

/** Times the compute passes recorded into one encoder with GPU timestamp queries. */
export interface Profiler {
  /** True when the device has `timestamp-query`; otherwise `resolve` returns null. */
  readonly enabled: boolean;
  /** Passes timed so far. */
  readonly passes: number;
  /**
   * Total GPU time of the timed passes in milliseconds, after the encoder was
   * submitted; null without timestamp support.
   */
  resolve(): Promise<number | null>;
}

interface ProfilerState {
  querySet: GPUQuerySet;
  capacity: number;
  next: number;
}

const active = new WeakMap<GPUCommandEncoder, ProfilerState>();

/**
 * Returns the timestamp writes for the next pass recorded into `encoder` when it is
 * being profiled (used by `dispatch`), or undefined.
 *
 * @param encoder The encoder a pass is being recorded into.
 * @returns Timestamp writes for the pass descriptor, or undefined.
 *
 * @example Usage
 * ```ts ignore
 * const pass = encoder.beginComputePass({ timestampWrites: passTimestampWrites(encoder) });
 * ```
 */
export function passTimestampWrites(
  encoder: GPUCommandEncoder,
): GPUComputePassTimestampWrites | undefined {
  const s = active.get(encoder);
  if (!s || s.next + 2 > s.capacity) return undefined;
  const i = s.next;
  s.next += 2;
  return { querySet: s.querySet, beginningOfPassWriteIndex: i, endOfPassWriteIndex: i + 1 };
}

/**
 * Starts timing the compute passes that {@linkcode dispatch} records into `encoder`.
 * Call `resolve()` after submitting the encoder. Timing appends a resolve step to the
 * encoder, so call {@linkcode finishProfile} before submitting.
 *
 * @param gpu The GPU context.
 * @param encoder The encoder to time.
 * @param maxPasses Most passes to time (later ones are not timed).
 * @returns The profiler.
 *
 * @example Usage
 * ```ts ignore
 * const enc = gpu.device.createCommandEncoder();
 * const prof = profile(gpu, enc);
 * dispatch(gpu, program, buffers, enc);
 * finishProfile(enc);
 * submit(gpu, enc);
 * console.log(await prof.resolve(), "ms");
 * ```
 */
export function profile(gpu: Gpu, encoder: GPUCommandEncoder, maxPasses = 1024): Profiler {
  if (!gpu.timestamps) {
    return { enabled: false, passes: 0, resolve: () => Promise.resolve(null) };
  }
  const capacity = Math.min(4096, maxPasses * 2);
  const querySet = gpu.device.createQuerySet({ type: "timestamp", count: capacity });
  const state: ProfilerState = { querySet, capacity, next: 0 };
  active.set(encoder, state);
  const bytes = capacity * 8;
  const resolveBuf = gpu.device.createBuffer({
    size: bytes,
    usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC,
  });
  const readBuf = gpu.device.createBuffer({
    size: bytes,
    usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
  });
  finishers.set(encoder, () => {
    if (state.next > 0) {
      encoder.resolveQuerySet(querySet, 0, state.next, resolveBuf, 0);
      encoder.copyBufferToBuffer(resolveBuf, 0, readBuf, 0, state.next * 8);
    }
    active.delete(encoder);
  });
  return {
    enabled: true,
    get passes() {
      return state.next / 2;
    },
    async resolve() {
      if (state.next === 0) return 0;
      await readBuf.mapAsync(GPUMapMode.READ, 0, state.next * 8);
      const t = new BigUint64Array(readBuf.getMappedRange(0, state.next * 8).slice(0));
      readBuf.unmap();
      let ns = 0n;
      for (let i = 0; i + 1 < state.next; i += 2) {
        if (t[i + 1]! > t[i]!) ns += t[i + 1]! - t[i]!;
      }
      querySet.destroy();
      resolveBuf.destroy();
      readBuf.destroy();
      return Number(ns) / 1e6;
    },
  };
}

const finishers = new WeakMap<GPUCommandEncoder, () => void>();

/**
 * Appends the timestamp resolve to a profiled encoder; call it before submitting.
 *
 * @param encoder The profiled encoder (no-op for others).
 *
 * @example Usage
 * ```ts ignore
 * finishProfile(encoder);
 * ```
 */
export function finishProfile(encoder: GPUCommandEncoder): void {
  finishers.get(encoder)?.();
  finishers.delete(encoder);
}
