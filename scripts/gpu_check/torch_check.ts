// gpu-check's PyTorch peer: torch's float32 matmul + topk on the same rows as our top-k, timed,
// and checked against ours (all rows) and against float64 (the sampled rows).
import { findTorch, torchTopk } from "../../bench/torch_peer.ts";
import type { Gpu } from "../../src/gpu/gpu.ts";
import type { Matrix } from "../../src/matrix/matrix.ts";
import { topk } from "../../src/topk/topk.ts";
import { log } from "./common.ts";
import type { TopkCheck } from "./topk_check.ts";

/** The PyTorch matmul + topk peer's entry in the report. */
export type TorchPeerReport =
  | { status: "not available"; reason: string }
  | { status: "failed"; python: string; error: string }
  | {
    status: "ok";
    python: string;
    torch: string;
    device: string;
    deviceName: string;
    shape: string;
    /** Ours, second run (pipelines compiled), from host rows to host indices. */
    oursSeconds: number;
    /** Torch from host rows to host indices: upload + compute + download. */
    torchSeconds: number;
    /** Torch's normalise + matmul + topk on the device alone (after a warm-up). */
    torchComputeSeconds: number;
    /** torchSeconds / oursSeconds: above 1, ours is faster (the bench's convention). */
    ratio: number;
    /** torchComputeSeconds / oursSeconds. */
    computeRatio: number;
    /** Fraction of our top-k entries (all rows) that torch's top-k also holds. */
    recall: number;
    /** Rows whose top-k equals torch's, in order. */
    rowsIdentical: number;
    /** On the float64-checked rows: torch entries that differ from float64 beyond ties. */
    torchBeyondTies: number;
    agrees: boolean;
  };

/**
 * Times PyTorch's float32 matmul + topk (CUDA when it sees a GPU, else the CPU) on the same
 * rows as our top-k, and checks its indices against ours (all rows) and against float64 (the
 * sampled rows). Ours is timed again for the ratio, now with its pipelines compiled.
 */
export async function torchPeer(
  gpu: Gpu,
  q: Matrix,
  keys: Matrix,
  top: TopkCheck,
  quick: boolean,
): Promise<TorchPeerReport> {
  const k = top.k;
  const py = await findTorch();
  if (!("exe" in py)) {
    log(`torch: not available (${py.reason})`);
    return { status: "not available", reason: py.reason };
  }
  log(`top-${k} peer: PyTorch ${py.torch} on ${py.device} (${py.name}) via ${py.exe}`);
  try {
    const t0 = performance.now();
    await topk(gpu, q, keys, { k });
    const oursSeconds = (performance.now() - t0) / 1000;
    const run = await torchTopk(py, q, keys, k, quick ? 300 : 900);
    const ours = top.got.indices;
    let hits = 0, identical = 0;
    for (let r = 0; r < q.rows; r++) {
      const mine = new Set(ours.subarray(r * k, (r + 1) * k));
      let same = true;
      for (let t = 0; t < k; t++) {
        const i = run.indices[r * k + t]!;
        if (mine.has(i)) hits++;
        if (i !== ours[r * k + t]) same = false;
      }
      if (same) identical++;
    }
    let beyond = 0;
    for (const [r, { sims, order }] of top.sampled) {
      for (let t = 0; t < k; t++) {
        const i = run.indices[r * k + t]!;
        if (i !== order[t] && !(Math.abs(sims[i]! - sims[order[t]!]!) <= 1e-5)) beyond++;
      }
    }
    const recall = hits / (q.rows * k);
    const torchSeconds = run.uploadSeconds + run.computeSeconds + run.downloadSeconds;
    const report: TorchPeerReport = {
      status: "ok",
      python: py.exe,
      torch: run.torch,
      device: run.device,
      deviceName: run.name,
      shape: `queries=${q.rows} keys=${keys.rows} d=${keys.cols} k=${k}`,
      oursSeconds,
      torchSeconds,
      torchComputeSeconds: run.computeSeconds,
      ratio: torchSeconds / oursSeconds,
      computeRatio: run.computeSeconds / oursSeconds,
      recall,
      rowsIdentical: identical,
      torchBeyondTies: beyond,
      // float32 ties may order differently; anything else is a disagreement.
      agrees: recall >= 0.999 && beyond === 0,
    };
    log(
      `top-${k} peer: ours ${oursSeconds.toFixed(3)} s, torch ${torchSeconds.toFixed(3)} s ` +
        `(compute ${run.computeSeconds.toFixed(3)} s); recall of ours in torch's ${
          recall.toFixed(5)
        }`,
    );
    return report;
  } catch (e) {
    log(`torch peer failed: ${(e as Error).message}`);
    return { status: "failed", python: py.exe, error: (e as Error).message };
  }
}

/** The peer's section of the markdown report. */
export function torchMarkdown(p: TorchPeerReport): string[] {
  const head = [`## PyTorch matmul + topk peer`, ""];
  if (p.status === "not available") return [...head, `torch: not available (${p.reason}).`, ""];
  if (p.status === "failed") return [...head, `torch: **FAILED** via ${p.python}: ${p.error}`, ""];
  const s = (v: number) => v >= 1 ? `${v.toFixed(2)} s` : `${(v * 1000).toFixed(1)} ms`;
  return [
    ...head,
    `PyTorch ${p.torch} on ${p.device} (${p.deviceName}), ${p.python}; float32 matmul (TF32 off) ` +
    `+ torch.topk on L2-normalised rows, ${p.shape}. Ratio = torch time / our time (above 1: ` +
    `ours is faster); both from host rows to host indices, ours after a first run compiled its ` +
    `pipelines, torch after a warm-up.`,
    "",
    "| tool | time | ratio | agreement |",
    "| --- | --- | --- | --- |",
    `| mlcd top-k (ours) | ${s(p.oursSeconds)} | | |`,
    `| torch, upload + compute + download | ${s(p.torchSeconds)} | ${
      p.ratio.toFixed(2)
    }× | recall of ours in torch's top-k ${p.recall.toFixed(5)}; ${p.rowsIdentical} rows ` +
    `identical in order; ${p.torchBeyondTies} torch entries off float64 beyond ties on the ` +
    `sampled rows${p.agrees ? "" : " (**disagrees**)"} |`,
    `| torch, compute on the device only | ${s(p.torchComputeSeconds)} | ${
      p.computeRatio.toFixed(2)
    }× | |`,
    "",
  ];
}
