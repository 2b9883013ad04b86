// Bench section: upload and readback bandwidth.
import { createGpu, type Gpu } from "../src/gpu/gpu.ts";
import { downloadMatrix, uploadMatrix } from "../src/gpu/gpu_matrix.ts";
import { details } from "./report.ts";
export async function sectionTransfer(gpu: Gpu, quick: boolean): Promise<void> {
  const mib = quick ? 16 : 64;
  const cols = 256;
  const rowsN = (mib << 20) / (cols * 4);
  const host = { data: new Float32Array(rowsN * cols).fill(0.25), rows: rowsN, cols };
  const out: Record<string, unknown> = {};
  for (
    const [label, g] of [["default binding", gpu], [
      "1 MiB binding",
      await createGpu({ maxBindingBytes: 1 << 20 }),
    ]] as const
  ) {
    let up = Infinity, down = Infinity, chunks = 0;
    for (let r = 0; r < 3; r++) {
      const t0 = performance.now();
      const m = uploadMatrix(g, host);
      await g.device.queue.onSubmittedWorkDone();
      const t1 = performance.now();
      await downloadMatrix(g, m);
      const t2 = performance.now();
      up = Math.min(up, t1 - t0);
      down = Math.min(down, t2 - t1);
      chunks = m.chunks.length;
      m.destroy();
    }
    const bytes = mib << 20;
    out[label] = {
      uploadGBs: bytes / (up * 1e6),
      readbackGBs: bytes / (down * 1e6),
      chunks,
    };
    if (g !== gpu) g.destroy();
  }
  details.transfer = { mib, ...out };
}
