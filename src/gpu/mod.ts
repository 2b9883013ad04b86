/**
 * GPU runtime: device acquisition and adapter quirks, buffers, chunked matrices, programs
 * (typed uniforms, lazy WGSL) and the pipeline cache, profiling and autotuning. Only the
 * public API is re-exported; internals (storage usage flags, profiler hooks, adapter tests,
 * WGSL templating) stay in their files.
 *
 * @module
 */
export { createGpu, type CreateGpuOptions, type Gpu, SOFTWARE_ADAPTER_HINT } from "./gpu.ts";
export * from "./gpu_unavailable_error.ts";
export { type GpuProfile, type GpuQuirks, quirksFor } from "./quirks.ts";
export { createStorage, type Readback, readBack, readF32, readU32, upload } from "./buffers.ts";
export {
  createGpuMatrix,
  downloadMatrix,
  type GpuMatrix,
  type GpuMatrixChunk,
  type GpuMatrixDtype,
  type GpuMatrixLayout,
  type GpuMatrixLease,
  type GpuMatrixStats,
  gpuMatrixView,
  type GpuMatrixViewOptions,
  isGpuMatrix,
  matrixStats,
  repackMatrix,
  rowsPerBinding,
  uploadMatrix,
  type UploadMatrixOptions,
  useGpuMatrix,
} from "./gpu_matrix.ts";
export { countUploads, type UploadCounter } from "./count_uploads.ts";
export * from "./program.ts";
export {
  type UniformFields,
  type UniformStruct,
  uniformStruct,
  type UniformType,
} from "./uniforms.ts";
export { getPipeline } from "./pipeline_cache.ts";
export { normalizeRowsGpu } from "./normalize_rows.ts";
export { profile, type Profiler } from "./profiler.ts";
export {
  measurePeak,
  type PeakMeasurement,
  type PeakOptions,
  type PeakPrecision,
  type PeakResult,
  timeGpu,
  type Timing,
  type TimingSource,
} from "./peak.ts";
export {
  autotune,
  AUTOTUNE_CACHE_FILE,
  autotuneCacheDir,
  type AutotuneOptions,
  type AutotuneResult,
  type CandidateTiming,
  type TuneConfig,
} from "./autotune.ts";
export {
  applyDeviceSelection,
  DEVICE_SELECT_ENV,
  type DeviceSelection,
  type DeviceSelectionInput,
  driPrimeTag,
  listNodeGpus,
  type NodeGpu,
  normalizeBusId,
  resolveDeviceSelection,
} from "./device_select.ts";
