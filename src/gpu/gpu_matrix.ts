/**
 * The GpuMatrix API in one import: the type and its allocation (create_gpu_matrix.ts), host
 * uploads (upload_matrix.ts), GPU re-packs, views and leases (repack_matrix.ts), scans and row
 * checks (matrix_stats.ts) and downloads (download_matrix.ts).
 *
 * @example Usage
 * ```ts ignore
 * import { downloadMatrix, uploadMatrix } from "./gpu_matrix.ts";
 * const g = uploadMatrix(gpu, features, { normalize: true });
 * const back = await downloadMatrix(gpu, g);
 * g.destroy();
 * ```
 *
 * @module
 */
export {
  createGpuMatrix,
  type GpuMatrix,
  type GpuMatrixChunk,
  type GpuMatrixDtype,
  type GpuMatrixLayout,
  isGpuMatrix,
  rowsPerBinding,
} from "./create_gpu_matrix.ts";
export { uploadMatrix, uploadMatrixBatches, type UploadMatrixOptions } from "./upload_matrix.ts";
export {
  type GpuMatrixLease,
  gpuMatrixView,
  type GpuMatrixViewOptions,
  repackMatrix,
  useGpuMatrix,
} from "./repack_matrix.ts";
export { checkGpuRows, type GpuMatrixStats, matrixStats } from "./matrix_stats.ts";
export { downloadMatrix } from "./download_matrix.ts";
