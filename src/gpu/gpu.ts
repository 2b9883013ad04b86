import { GpuUnavailableError } from "./gpu_unavailable_error.ts";
import { ensureRuntimeDir } from "./runtime_dir.ts";
import { detectProfile, type GpuProfile, type GpuQuirks, quirksFor } from "./quirks.ts";
import { applyDeviceSelection, type DeviceSelection } from "./device_select.ts";

/** The software adapter's install command, named in every "no adapter" error. */
export const SOFTWARE_ADAPTER_HINT: string =
  "On Debian/Ubuntu without a GPU, install the software Vulkan adapter: " +
  "apt-get install -y mesa-vulkan-drivers libvulkan1";

/** Options for {@linkcode createGpu}. */
export interface CreateGpuOptions {
  /** Adapter preference passed to `requestAdapter`. @default {"high-performance"} */
  powerPreference?: GPUPowerPreference;
  /**
   * Caps the storage binding size the toolkit uses (bytes), below the adapter's own
   * limit. Tests use it to force matrix chunking on small inputs. @default {undefined}
   */
  maxBindingBytes?: number;
  /** Request `shader-f16` when the adapter has it. @default {true} */
  f16?: boolean;
  /** Log device loss and uncaptured validation errors to stderr. @default {true} */
  reportErrors?: boolean;
  /**
   * Forces the kernel profile ({@linkcode GpuQuirks}) instead of detecting it from the
   * adapter; tests use it to run the GPU profile on the software adapter.
   * @default {undefined}
   */
  quirks?: GpuProfile;
  /**
   * The GPU to use on a multi-GPU node: an index among the node's GPUs in PCI order (as
   * nvidia-smi numbers them), a PCI address (`0000:3b:00.0`) or a `GPU-…` UUID (`"list"`
   * prints the GPUs Vulkan can select and exits). Without it,
   * `MLCD_DEVICE`, then Slurm's `SLURM_STEP_GPUS`/`SLURM_JOB_GPUS` (with `SLURM_LOCALID`), then
   * `CUDA_VISIBLE_DEVICES` choose (docs/multi-gpu.md). Applied before the process's first
   * adapter request, through Mesa's device-select Vulkan layer; one GPU per process.
   * @default {undefined}
   */
  device?: number | string;
}

/** What the toolkit knows about its device, returned by {@linkcode createGpu}. */
export interface Gpu {
  /** The WebGPU adapter. */
  adapter: GPUAdapter;
  /** The device every kernel runs on. */
  device: GPUDevice;
  /** Adapter description, vendor and architecture, e.g. "llvmpipe (LLVM 15.0.6, 256 bits)". */
  info: { description: string; vendor: string; architecture: string; isFallbackAdapter: boolean };
  /** Largest storage binding the toolkit will use, in bytes (4-byte aligned). */
  maxBindingBytes: number;
  /** Largest single buffer, in bytes. */
  maxBufferBytes: number;
  /** Largest dispatch size along one dimension. */
  maxWorkgroupsPerDimension: number;
  /** Workgroup memory available to one workgroup, in bytes. */
  maxWorkgroupStorageBytes: number;
  /** Largest number of invocations in one workgroup. */
  maxInvocationsPerWorkgroup: number;
  /** True when `shader-f16` was enabled on the device. */
  f16: boolean;
  /** True when `timestamp-query` was enabled on the device. */
  timestamps: boolean;
  /**
   * Adapter limits and kernel preferences (loop-iteration cap, submit batching, work per
   * dispatch, preferred designs), computed once from the adapter.
   */
  quirks: GpuQuirks;
  /** Which GPU of the node was asked for, how, and the setting applied (see `device`). */
  selection: DeviceSelection;
  /** Set once the device is lost; kernels refuse to run after that. */
  lost: GPUDeviceLostInfo | null;
  /** Destroys the device. */
  destroy(): void;
}

/**
 * Acquires a WebGPU adapter and device with the adapter's largest buffer limits and the
 * `shader-f16` / `timestamp-query` features when present.
 *
 * @param options See {@linkcode CreateGpuOptions}.
 * @returns The toolkit's GPU context.
 * @throws {GpuUnavailableError} When WebGPU is missing or no adapter is found; the message
 * (one line) says how to fix it.
 *
 * @example Usage
 * ```ts ignore
 * import { createGpu } from "./gpu.ts";
 * const gpu = await createGpu();
 * console.log(gpu.info.description);
 * gpu.destroy();
 * ```
 */
export async function createGpu(options: CreateGpuOptions = {}): Promise<Gpu> {
  const nav = globalThis.navigator as Navigator | undefined;
  if (!nav?.gpu) {
    throw new GpuUnavailableError(
      "WebGPU is not available in this runtime (navigator.gpu is undefined). " +
        "Run with Deno 2 or later. " + SOFTWARE_ADAPTER_HINT,
    );
  }
  const d = options.device;
  if (d !== undefined && !(typeof d === "string" || (Number.isInteger(d) && d >= 0))) {
    throw new TypeError(
      `Expected device to be a GPU index ≥ 0, a PCI address or a GPU UUID but found ${d}`,
    );
  }
  // Before the first requestAdapter(), which creates the Vulkan instance:
  ensureRuntimeDir();
  const selection = applyDeviceSelection(d);
  primaryBackendsOnly();
  const adapter = await nav.gpu.requestAdapter({
    powerPreference: options.powerPreference ?? "high-performance",
  });
  if (!adapter) {
    throw new GpuUnavailableError(
      "No WebGPU adapter found: navigator.gpu.requestAdapter() returned null. " +
        "Install a GPU driver with Vulkan, Metal or D3D12 support. " + SOFTWARE_ADAPTER_HINT +
        backendHint(),
    );
  }
  const features: GPUFeatureName[] = [];
  const wantF16 = options.f16 ?? true;
  if (wantF16 && adapter.features.has("shader-f16")) features.push("shader-f16");
  if (adapter.features.has("timestamp-query")) features.push("timestamp-query");
  const al = adapter.limits;
  const requiredLimits: Record<string, number> = {
    maxBufferSize: al.maxBufferSize,
    maxStorageBufferBindingSize: al.maxStorageBufferBindingSize,
    maxComputeWorkgroupStorageSize: al.maxComputeWorkgroupStorageSize,
    maxComputeInvocationsPerWorkgroup: al.maxComputeInvocationsPerWorkgroup,
    maxComputeWorkgroupSizeX: al.maxComputeWorkgroupSizeX,
    maxComputeWorkgroupSizeY: al.maxComputeWorkgroupSizeY,
    maxStorageBuffersPerShaderStage: al.maxStorageBuffersPerShaderStage,
  };
  const device = await adapter.requestDevice({ requiredFeatures: features, requiredLimits });
  const ai = adapter.info;
  const report = options.reportErrors ?? true;
  const isFallbackAdapter = (ai as { isFallbackAdapter?: boolean }).isFallbackAdapter ?? false;
  const description = ai.description || ai.device || "unknown adapter";
  const quirks = quirksFor(options.quirks ?? detectProfile(description, isFallbackAdapter));
  const gpu: Gpu = {
    adapter,
    device,
    info: {
      description,
      vendor: ai.vendor,
      architecture: ai.architecture,
      isFallbackAdapter,
    },
    maxBindingBytes: alignDown4(
      Math.min(
        device.limits.maxStorageBufferBindingSize,
        device.limits.maxBufferSize,
        options.maxBindingBytes ?? Infinity,
      ),
    ),
    maxBufferBytes: device.limits.maxBufferSize,
    maxWorkgroupsPerDimension: device.limits.maxComputeWorkgroupsPerDimension,
    maxWorkgroupStorageBytes: device.limits.maxComputeWorkgroupStorageSize,
    maxInvocationsPerWorkgroup: device.limits.maxComputeInvocationsPerWorkgroup,
    f16: features.includes("shader-f16"),
    timestamps: features.includes("timestamp-query"),
    quirks,
    selection,
    lost: null,
    destroy() {
      device.destroy();
    },
  };
  device.lost.then((info) => {
    gpu.lost = info;
    if (report && info.reason !== "destroyed") {
      console.error(`mlcd: GPU device lost (${info.reason}): ${info.message}`);
    }
  });
  if (report) {
    device.addEventListener("uncapturederror", (e) => {
      console.error(`mlcd: GPU error: ${(e as GPUUncapturedErrorEvent).error.message}`);
    });
  }
  return gpu;
}

/**
 * Whether `gpu` is a CPU (software) adapter such as lavapipe/llvmpipe or SwiftShader, where
 * kernels run as SIMD CPU code and the rows-in-registers designs beat workgroup tiles.
 *
 * @param gpu The GPU context.
 * @returns True for fallback or software adapters.
 *
 * @example Usage
 * ```ts ignore
 * const gpu = await createGpu();
 * console.log(isCpuAdapter(gpu)); // true on lavapipe
 * ```
 */
export function isCpuAdapter(gpu: Gpu): boolean {
  return detectProfile(gpu.info.description, gpu.info.isFallbackAdapter) === "cpu";
}

/**
 * Throws when the device behind `gpu` was lost or destroyed.
 *
 * @param gpu The GPU context.
 *
 * @example Usage
 * ```ts ignore
 * assertUsable(gpu); // throws after gpu.destroy()
 * ```
 */
export function assertUsable(gpu: Gpu): void {
  if (gpu.lost) {
    throw new Error(`The GPU device was lost (${gpu.lost.reason}): ${gpu.lost.message}`);
  }
}

const BACKEND_VAR = "DENO_WEBGPU_BACKEND";

/**
 * `DENO_WEBGPU_BACKEND` when it may be read without a permission prompt: its value (undefined
 * when unset), or null when env access is not granted or this is not Deno.
 */
function backendEnv(): { value: string | undefined } | null {
  try {
    if (Deno.permissions.querySync({ name: "env", variable: BACKEND_VAR }).state !== "granted") {
      return null;
    }
    return { value: Deno.env.get(BACKEND_VAR) };
  } catch {
    return null; // Not Deno, or no permission API.
  }
}

/**
 * When `DENO_WEBGPU_BACKEND` (set by {@linkcode primaryBackendsOnly} unless the user chose)
 * leaves OpenGL out, how to let wgpu try it: a machine with only an OpenGL driver finds no
 * adapter otherwise.
 */
function backendHint(): string {
  const b = backendEnv()?.value;
  if (b === undefined || /(^|,)\s*gl\s*(,|$)/i.test(b)) return "";
  // After the install command: a full stop between the two sentences.
  return `. Only the ${b} backends were tried (DENO_WEBGPU_BACKEND); with only an OpenGL driver, ` +
    `run with DENO_WEBGPU_BACKEND=${b},gl.`;
}

/**
 * Keeps Deno's WebGPU to the Vulkan, Metal and D3D12 backends (`DENO_WEBGPU_BACKEND`, read when
 * a runtime first requests an adapter) unless the user chose backends. Otherwise wgpu also
 * starts its GL backend through EGL, which the toolkit never uses. On Mesa, libEGL's teardown at
 * exit() then frees per-thread state that the exiting threads of torn-down runtimes (test
 * modules, Workers) free too: "double free or corruption" (scripts/repro/teardown_crash.ts).
 * Needs no permission prompt: without env permission nothing changes.
 */
function primaryBackendsOnly(): void {
  const env = backendEnv();
  if (env && env.value === undefined) Deno.env.set(BACKEND_VAR, "vulkan,metal,dx12");
}

function alignDown4(n: number): number {
  return Math.floor(n / 4) * 4;
}
