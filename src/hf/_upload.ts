// Moving a fresh tensor's values to the device at once, so that the host copy can be freed
// before the next weight is read (tfjs uploads lazily, at first use, otherwise).
import { tf } from "../model/tf.ts";

interface UploadingBackend {
  uploadToGPU?: (dataId: object) => void;
  submitQueue?: () => void;
  commandEncoder?: unknown;
}

/** Uploads `t` now on the "webgpu" backend (a no-op elsewhere). */
export function uploadNow(t: tf.Tensor): void {
  const b = tf.backend() as unknown as UploadingBackend;
  if (typeof b.uploadToGPU !== "function") return;
  b.uploadToGPU(t.dataId);
  if (b.commandEncoder != null && typeof b.submitQueue === "function") b.submitQueue();
}
