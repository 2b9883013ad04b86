/**
 * The adapter limits and preferences that kernels read, computed once by `createGpu`: one
 * place for what a CPU rasteriser (lavapipe/llvmpipe, SwiftShader) needs and a GPU does not.
 * Code outside `src/gpu/` reads `gpu.quirks` and never tests the adapter itself
 * (`scripts/check_gpu_rules.ts` enforces it).
 */

/** A kernel profile: a CPU rasteriser's limits and designs, or a GPU's. */
export type GpuProfile = "cpu" | "gpu";

/** What kernels must respect and prefer on an adapter; see {@linkcode quirksFor}. */
export interface GpuQuirks {
  /** The profile these values come from. */
  readonly profile: GpuProfile;
  /**
   * Loop iterations one shader invocation may run in total before the driver silently
   * stops it: 65,535 on llvmpipe, `Infinity` elsewhere.
   */
  readonly maxLoopIterations: number;
  /**
   * Largest size (M, K or N) the registers batched matMul of the ViT's attention takes;
   * larger products go to `tf.matMul`. 65,000 on CPU adapters: each invocation loops over K,
   * and llvmpipe silently ends an invocation after 65,535 loop iterations in total (the
   * margin is for the kernel's other loops); `Infinity` elsewhere.
   */
  readonly registersMatMulMaxDim: number;
  /** Passes recorded into one command encoder before it is submitted. */
  readonly passesPerSubmit: number;
  /**
   * Multiply-adds one dispatch may do: 2^27 on CPU adapters (one 1.3e9-MAC dispatch returned
   * wrong lists on lavapipe), `Infinity` elsewhere (kernels apply their own sizing).
   */
  readonly maxMacsPerDispatch: number;
  /** Prefer the rows-in-registers kernel designs over workgroup-memory tiles. */
  readonly preferRegisters: boolean;
  /**
   * Widest rows the rows-in-registers kernels hold whole (unrolled over the row): 128 on CPU
   * adapters, where the code, the compile time and the spilled registers grow with the width;
   * wider rows are walked in slices of 64 values (src/gpu/register_slices.ts), so the
   * kernels serve every width. `Infinity` elsewhere (rows always held whole).
   */
  readonly registersMaxDim: number;
}

const PROFILES: Record<GpuProfile, GpuQuirks> = {
  cpu: {
    profile: "cpu",
    maxLoopIterations: 65535,
    registersMatMulMaxDim: 65_000,
    passesPerSubmit: 64,
    maxMacsPerDispatch: 2 ** 27,
    preferRegisters: true,
    registersMaxDim: 128,
  },
  gpu: {
    profile: "gpu",
    maxLoopIterations: Infinity,
    registersMatMulMaxDim: Infinity,
    passesPerSubmit: 256,
    maxMacsPerDispatch: Infinity,
    preferRegisters: false,
    registersMaxDim: Infinity,
  },
};

/**
 * The quirks of a profile.
 *
 * @param profile `"cpu"` for CPU rasterisers, `"gpu"` otherwise.
 * @returns The profile's (frozen) quirks.
 * @throws {RangeError} For an unknown profile name.
 *
 * @example Usage
 * ```ts
 * import { quirksFor } from "./quirks.ts";
 * console.log(quirksFor("cpu").maxLoopIterations); // 65535
 * ```
 */
export function quirksFor(profile: GpuProfile): GpuQuirks {
  const q = PROFILES[profile];
  if (!q) {
    throw new RangeError(
      `Expected quirks to be "cpu" or "gpu" but found ${JSON.stringify(profile)}`,
    );
  }
  return Object.freeze({ ...q });
}

/**
 * The profile an adapter gets: `"cpu"` for fallback adapters and software rasterisers
 * (llvmpipe/lavapipe, SwiftShader), `"gpu"` otherwise.
 *
 * @param description The adapter's description, e.g. "llvmpipe (LLVM 15.0.6, 256 bits)".
 * @param fallback Whether the adapter says it is a fallback adapter.
 * @returns The profile.
 *
 * @example Usage
 * ```ts
 * import { detectProfile } from "./quirks.ts";
 * console.log(detectProfile("llvmpipe (LLVM 15.0.6, 256 bits)")); // "cpu"
 * ```
 */
export function detectProfile(description: string, fallback = false): GpuProfile {
  return fallback || /llvmpipe|lavapipe|swiftshader|software/i.test(description) ? "cpu" : "gpu";
}
