import code from "../../kernels/peak_fma.wgsl" with { type: "text" };
import type { Gpu } from "./gpu.ts";
import { assertUsable } from "./gpu.ts";
import { createStorage } from "./buffers.ts";
import { dispatch, type Program, submit } from "./program.ts";
import { profile } from "./profiler.ts";
import { uniformStruct } from "./uniforms.ts";

/** Arithmetic precision measured by {@linkcode measurePeak}. */
export type PeakPrecision = "f32" | "f16";

/** How a GPU duration was taken. */
export type TimingSource = "gpu-timestamps" | "cpu-wall";

/**
 * Flops one invocation of `kernels/peak_fma.wgsl` performs per loop round:
 * 2 accumulators × 8 unrolled steps × 4 lanes × (multiply + add).
 */
export const PEAK_FLOPS_PER_ROUND = 128;

/** Invocations per workgroup in `kernels/peak_fma.wgsl`. */
const WORKGROUP_SIZE = 64;
const PEAK_PARAMS = uniformStruct({ iters: "u32", invocations: "u32", seed: "f32" });

/** Options for {@linkcode measurePeak}. */
export interface PeakOptions {
  /** Grow the loop until one dispatch takes at least this long (ms). @default {40} */
  targetMs?: number;
  /** Timed dispatches per precision after sizing; the fastest is kept. @default {3} */
  repeats?: number;
  /**
   * Workgroups (of 64 invocations) per dispatch, at most 65535; enough to fill a
   * datacenter GPU. @default {4096}
   */
  workgroups?: number;
  /** Also measure packed `vec4<f16>` arithmetic when the device has `shader-f16`. @default {true} */
  f16?: boolean;
}

/** One precision's measurement. */
export interface PeakMeasurement {
  /** Achieved GFLOP/s of the fastest timed dispatch. */
  gflops: number;
  /** Duration of that dispatch in milliseconds. */
  ms: number;
  /** Flops in one dispatch. */
  flops: number;
  /** Loop rounds per invocation. */
  iters: number;
}

/** Result of {@linkcode measurePeak}. */
export interface PeakResult {
  /** Adapter description the figures belong to. */
  adapter: string;
  /** fp32 multiply-add throughput. */
  f32: PeakMeasurement;
  /** Packed f16 throughput, or null without `shader-f16` (or when not asked for). */
  f16: PeakMeasurement | null;
  /**
   * `"gpu-timestamps"` when timestamp queries timed the passes, `"cpu-wall"` when the
   * device lacks them and submit-to-completion wall time was used (includes overhead,
   * so the figure is a lower bound).
   */
  timing: TimingSource;
}

/**
 * The register-only multiply-add program: `workgroups × 64` invocations each running
 * `iters` rounds of {@linkcode PEAK_FLOPS_PER_ROUND} flops. Bind one storage buffer of `workgroups × 64` floats.
 *
 * @param precision `"f32"`, or `"f16"` (needs a device with `shader-f16`).
 * @param workgroups Workgroups along x (at most 65535).
 * @param iters Loop rounds per invocation.
 * @returns The program.
 *
 * @example Usage
 * ```ts ignore
 * const out = createStorage(gpu, 1024 * 64 * 4);
 * dispatch(gpu, peakProgram("f32", 1024, 256), [out]);
 * ```
 */
export function peakProgram(precision: PeakPrecision, workgroups: number, iters: number): Program {
  if (!Number.isInteger(workgroups) || workgroups < 1 || workgroups > 65535) {
    throw new RangeError(
      `Expected workgroups to be an integer in [1, 65535] but found ${workgroups}`,
    );
  }
  if (!Number.isInteger(iters) || iters < 1 || iters > 0xffffffff) {
    throw new RangeError(`Expected iters to be a positive 32-bit integer but found ${iters}`);
  }
  const shader = precision === "f16"
    ? "enable f16;\n" + code.replace("alias T = f32;", "alias T = f16;")
    : code;
  return {
    shaderKey: `peak_fma_${precision}`,
    code: shader,
    workgroupSize: WORKGROUP_SIZE,
    workgroups: [workgroups, 1, 1],
    uniformStruct: PEAK_PARAMS,
    uniforms: PEAK_PARAMS.pack({ iters, invocations: workgroups * WORKGROUP_SIZE, seed: 0.5 }),
  };
}

/** A measured duration and how it was taken. */
export interface Timing {
  /** Milliseconds. */
  ms: number;
  /** GPU timestamps of the recorded passes, or wall time from submit to completion. */
  source: TimingSource;
}

/**
 * Records work with `record`, submits it and returns how long it took: the summed GPU
 * time of its compute passes from timestamp queries when the device has them, otherwise
 * the wall time from submit until the queue is done (which includes submission overhead).
 *
 * @param gpu The GPU context.
 * @param record Records passes into the encoder (e.g. with `dispatch`); must not submit it.
 * @returns The duration and its source.
 *
 * @example Usage
 * ```ts ignore
 * const { ms, source } = await timeGpu(gpu, (enc) => dispatch(gpu, program, [buf], enc));
 * ```
 */
export async function timeGpu(
  gpu: Gpu,
  record: (encoder: GPUCommandEncoder) => void,
): Promise<Timing> {
  assertUsable(gpu);
  const enc = gpu.device.createCommandEncoder();
  const prof = profile(gpu, enc);
  record(enc);
  const t0 = performance.now();
  submit(gpu, enc);
  await gpu.device.queue.onSubmittedWorkDone();
  const wall = performance.now() - t0;
  const gpuMs = await prof.resolve();
  if (gpuMs !== null && gpuMs > 0) return { ms: gpuMs, source: "gpu-timestamps" };
  return { ms: wall, source: "cpu-wall" };
}

/** Runs the peak program once; records how it was timed in `sources`. */
async function timeOnce(
  gpu: Gpu,
  precision: PeakPrecision,
  workgroups: number,
  iters: number,
  out: GPUBuffer,
  sources: Set<TimingSource>,
): Promise<number> {
  const t = await timeGpu(gpu, (enc) => {
    dispatch(gpu, peakProgram(precision, workgroups, iters), [out], enc);
  });
  sources.add(t.source);
  return t.ms;
}

/** Sizes the loop to about `targetMs`, then keeps the fastest of `repeats` dispatches. */
async function measureOne(
  gpu: Gpu,
  precision: PeakPrecision,
  workgroups: number,
  targetMs: number,
  repeats: number,
  sources: Set<TimingSource>,
): Promise<PeakMeasurement> {
  const out = createStorage(gpu, workgroups * WORKGROUP_SIZE * 4, `peak_fma_${precision}.out`);
  try {
    let iters = 16;
    await timeOnce(gpu, precision, workgroups, iters, out, sources); // compiles the pipeline
    for (let step = 0; step < 24; step++) {
      const ms = await timeOnce(gpu, precision, workgroups, iters, out, sources);
      if (ms >= targetMs * 0.5 || iters >= 1 << 24) break;
      const scale = ms > 0.05 ? Math.ceil(targetMs / ms) : 16;
      iters = Math.min(1 << 24, iters * Math.min(16, Math.max(2, scale)));
    }
    let best = Infinity;
    for (let r = 0; r < repeats; r++) {
      best = Math.min(best, await timeOnce(gpu, precision, workgroups, iters, out, sources));
    }
    const flops = workgroups * WORKGROUP_SIZE * iters * PEAK_FLOPS_PER_ROUND;
    return { gflops: flops / (best * 1e6), ms: best, flops, iters };
  } finally {
    out.destroy();
  }
}

/**
 * Measures the adapter's achievable arithmetic throughput with a register-only
 * multiply-add loop (no memory traffic): fp32, and packed f16 when the device has
 * `shader-f16`. Kernel efficiency figures ("roofline") divide by this number. Uses GPU
 * timestamp queries when available, otherwise wall time around submit (said so in
 * `timing`).
 *
 * @param gpu The GPU context.
 * @param options See {@linkcode PeakOptions}.
 * @returns GFLOP/s per precision and how they were timed.
 *
 * @example Usage
 * ```ts ignore
 * const peak = await measurePeak(gpu);
 * console.log(`${peak.f32.gflops.toFixed(0)} GFLOP/s fp32 (${peak.timing})`);
 * ```
 */
export async function measurePeak(gpu: Gpu, options: PeakOptions = {}): Promise<PeakResult> {
  assertUsable(gpu);
  const targetMs = options.targetMs ?? 40;
  const repeats = options.repeats ?? 3;
  const workgroups = options.workgroups ?? 4096;
  if (!(targetMs > 0) || !Number.isFinite(targetMs)) {
    throw new RangeError(`Expected targetMs to be a positive number but found ${targetMs}`);
  }
  if (!Number.isInteger(repeats) || repeats < 1) {
    throw new RangeError(`Expected repeats to be a positive integer but found ${repeats}`);
  }
  const sources = new Set<TimingSource>();
  const f32 = await measureOne(gpu, "f32", workgroups, targetMs, repeats, sources);
  const f16 = gpu.f16 && (options.f16 ?? true)
    ? await measureOne(gpu, "f16", workgroups, targetMs, repeats, sources)
    : null;
  return {
    adapter: gpu.info.description,
    f32,
    f16,
    timing: sources.has("cpu-wall") ? "cpu-wall" : "gpu-timestamps",
  };
}
