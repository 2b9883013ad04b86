// An environment in which Deno finds no WebGPU adapter, as on a machine without a GPU driver
// or the software adapter. Missing Vulkan ICD files hide every Vulkan driver (lavapipe
// included); Deno's wgpu then falls back to OpenGL ES through EGL, where Mesa's llvmpipe would
// still answer, so the EGL vendor list points at a missing file too. On Windows and macOS a
// backend that does not exist there does the same.

/** Environment variables that make `navigator.gpu.requestAdapter()` return null. */
export const NO_ADAPTER_ENV: Record<string, string> = Deno.build.os === "linux"
  ? {
    VK_ICD_FILENAMES: "/nonexistent/mlcd_no_icd.json",
    VK_DRIVER_FILES: "/nonexistent/mlcd_no_icd.json",
    __EGL_VENDOR_LIBRARY_FILENAMES: "/nonexistent/mlcd_no_egl.json",
  }
  : { DENO_WEBGPU_BACKEND: Deno.build.os === "windows" ? "metal" : "dx12" };
