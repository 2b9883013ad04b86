// The one place the toolkit imports tfjs. Everything else imports `tf` from here.
import * as tf from "npm:@tensorflow/tfjs@4.22.0";
import { WebGPUBackend } from "npm:@tensorflow/tfjs-backend-webgpu@4.22.0";
import type { Gpu } from "../gpu/gpu.ts";
import type { GpuQuirks } from "../gpu/quirks.ts";

export { tf };

let bound: GPUDevice | null = null;
let boundQuirks: GpuQuirks | undefined;

/**
 * Makes tfjs run on the toolkit's own `GPUDevice` (one device for tfjs and the WGSL
 * kernels, so tensors and kernel buffers are exchanged without host copies).
 *
 * @param gpu The GPU context from `createGpu`.
 * @returns The tfjs namespace, with the "webgpu" backend active on `gpu.device`.
 *
 * @example Usage
 * ```ts ignore
 * const tf = await useTfBackend(gpu);
 * tf.tensor([1, 2]).print();
 * ```
 */
export async function useTfBackend(gpu: Gpu): Promise<typeof tf> {
  if (bound !== gpu.device) {
    if (tf.findBackendFactory("webgpu")) tf.removeBackend("webgpu");
    tf.registerBackend(
      "webgpu",
      () => new WebGPUBackend(gpu.device, gpu.adapter.info as never),
      3,
    );
    bound = gpu.device;
    boundQuirks = gpu.quirks;
  }
  await tf.setBackend("webgpu");
  await tf.ready();
  return tf;
}

/**
 * The GPU buffer behind a tensor on the shared device, without a copy to the host.
 *
 * @param t A float32 tensor on the "webgpu" backend.
 * @returns The buffer and a `dispose` that releases the reference.
 *
 * @example Usage
 * ```ts ignore
 * const { buffer, dispose } = tensorBuffer(x);
 * ```
 */
export function tensorBuffer(t: tf.Tensor): { buffer: GPUBuffer; dispose: () => void } {
  const d = t.dataToGPU();
  const buffer = (d as unknown as { buffer?: GPUBuffer }).buffer;
  if (!buffer) {
    d.tensorRef.dispose();
    throw new TypeError(
      `Expected a tensor on the "webgpu" backend but found backend "${tf.getBackend()}"`,
    );
  }
  return { buffer, dispose: () => d.tensorRef.dispose() };
}

/**
 * Whether the "webgpu" backend runs on a CPU (software) adapter, where some ops use kernels
 * tuned for it.
 *
 * @returns `true` after `useTfBackend` with a software adapter (lavapipe, SwiftShader).
 *
 * @example Usage
 * ```ts ignore
 * await useTfBackend(gpu);
 * console.log(tfOnCpuAdapter());
 * ```
 */
export function tfOnCpuAdapter(): boolean {
  return (boundQuirks?.preferRegisters ?? false) && tf.getBackend() === "webgpu";
}

/**
 * The quirks of the device tfjs was bound to by `useTfBackend`, for ops that size their own
 * kernels (undefined before the first `useTfBackend`).
 *
 * @returns The bound device's `gpu.quirks`, or undefined.
 *
 * @example Usage
 * ```ts ignore
 * await useTfBackend(gpu);
 * console.log(tfQuirks()?.registersMatMulMaxDim); // 65000 on lavapipe
 * ```
 */
export function tfQuirks(): GpuQuirks | undefined {
  return boundQuirks;
}
