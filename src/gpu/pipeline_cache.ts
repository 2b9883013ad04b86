const caches = new WeakMap<GPUDevice, Map<string, GPUComputePipeline>>();

/**
 * Returns the compute pipeline for `code` on `device`, compiling it on first use.
 * Pipelines are cached per device under `shaderKey`, which must name every choice
 * baked into the code (tile sizes, variant); override constants are appended to it.
 *
 * @param device The device.
 * @param shaderKey Cache key; also the pipeline's label.
 * @param code WGSL source with a `main` compute entry point, or a function building it
 * (called only on a cache miss).
 * @param constants Pipeline-overridable constants.
 * @returns The cached or new pipeline.
 *
 * @example Usage
 * ```ts ignore
 * const p = getPipeline(gpu.device, "fill", "@compute @workgroup_size(1) fn main() {}");
 * ```
 */
export function getPipeline(
  device: GPUDevice,
  shaderKey: string,
  code: string | (() => string),
  constants?: Record<string, number>,
): GPUComputePipeline {
  let cache = caches.get(device);
  if (!cache) {
    cache = new Map();
    caches.set(device, cache);
  }
  const key = constants && Object.keys(constants).length
    ? `${shaderKey}|${
      Object.entries(constants).sort(([a], [b]) => a < b ? -1 : 1).map(([k, v]) => `${k}=${v}`)
        .join(",")
    }`
    : shaderKey;
  let pipeline = cache.get(key);
  if (!pipeline) {
    const module = device.createShaderModule({
      label: shaderKey,
      code: typeof code === "string" ? code : code(),
    });
    pipeline = device.createComputePipeline({
      label: key,
      layout: "auto",
      compute: constants
        ? { module, entryPoint: "main", constants }
        : { module, entryPoint: "main" },
    });
    cache.set(key, pipeline);
  }
  return pipeline;
}

/**
 * Number of pipelines cached for `device` (for tests and diagnostics).
 *
 * @param device The device.
 * @returns How many pipelines are cached.
 *
 * @example Usage
 * ```ts ignore
 * console.log(pipelineCacheSize(gpu.device));
 * ```
 */
export function pipelineCacheSize(device: GPUDevice): number {
  return caches.get(device)?.size ?? 0;
}
