/**
 * Thrown by `createGpu` when this runtime has no WebGPU or no adapter. The message is one
 * line that names the fix; the command-line tools print it and exit with code 2.
 *
 * @example Usage
 * ```ts ignore
 * import { createGpu, GpuUnavailableError } from "../../mod.ts";
 * try {
 *   await createGpu();
 * } catch (e) {
 *   if (e instanceof GpuUnavailableError) console.error(e.message);
 * }
 * ```
 */
export class GpuUnavailableError extends Error {
  override name = "GpuUnavailableError";
}
