// Host ↔ GPU transfer throughput of the toolkit's chunked matrices: `uploadMatrix` (queue
// writes, one per chunk, until the queue is idle) and `downloadMatrix` (one mapAsync round
// trip for all chunks), at 1 MiB, 16 MiB and 160 MiB (past lavapipe's 128 MiB binding cap,
// so two chunks), each also with a forced 1 MiB binding limit (many small chunks).
// Wall time (transfers are queue operations, not passes, so timestamp queries do not
// apply). GB/s are printed after the table.
//
//   deno bench -A bench/transfer_bench.ts
import { createGpu } from "../src/gpu/gpu.ts";
import { downloadMatrix, type GpuMatrix, uploadMatrix } from "../src/gpu/gpu_matrix.ts";

const gpu = await createGpu();
const forced = await createGpu({ maxBindingBytes: 1 << 20 });
const COLS = 256;
const MIB = 1 << 20;

const best = new Map<string, { bytes: number; ms: number; chunks: number }>();
function record(name: string, bytes: number, ms: number, chunks: number): void {
  const prev = best.get(name);
  if (!prev || ms < prev.ms) best.set(name, { bytes, ms, chunks });
}

for (const mib of [1, 16, 160]) {
  const rows = (mib * MIB) / (COLS * 4);
  const host = { data: new Float32Array(rows * COLS).fill(0.5), rows, cols: COLS };
  const n = mib >= 160 ? 4 : 20;
  for (const [label, g] of [["default binding", gpu], ["1 MiB binding", forced]] as const) {
    const baseline = label === "default binding";
    const up = `upload ${mib} MiB, ${label}`;
    Deno.bench({
      name: up,
      group: `upload ${mib} MiB`,
      baseline,
      n,
      warmup: 1,
      async fn(b) {
        b.start();
        const t0 = performance.now();
        const m = uploadMatrix(g, host);
        await g.device.queue.onSubmittedWorkDone();
        const ms = performance.now() - t0;
        b.end();
        record(up, mib * MIB, ms, m.chunks.length);
        m.destroy();
      },
    });
    let resident: GpuMatrix | null = null;
    const down = `readback ${mib} MiB, ${label}`;
    Deno.bench({
      name: down,
      group: `readback ${mib} MiB`,
      baseline,
      n,
      warmup: 1,
      async fn(b) {
        resident ??= uploadMatrix(g, host);
        b.start();
        const t0 = performance.now();
        await downloadMatrix(g, resident);
        const ms = performance.now() - t0;
        b.end();
        record(down, mib * MIB, ms, resident.chunks.length);
      },
    });
  }
}

globalThis.addEventListener("unload", () => {
  if (best.size === 0) return;
  console.log(`\nTransfer throughput on ${gpu.info.description} (best run, wall time):`);
  for (const [name, r] of best) {
    console.log(
      `  ${name.padEnd(36)} ${(r.bytes / (r.ms * 1e6)).toFixed(2).padStart(7)} GB/s  ` +
        `(${r.ms.toFixed(1)} ms, ${r.chunks} chunk${r.chunks === 1 ? "" : "s"})`,
    );
  }
});
