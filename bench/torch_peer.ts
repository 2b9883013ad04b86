// The PyTorch matmul + topk peer (bench/peers/torch_topk.py) of `deno task gpu-check`:
// which interpreter has torch, and one timed run of it on the same rows as ours.
import type { Matrix } from "../src/matrix/matrix.ts";
import { HERE } from "./python.ts";

export const TORCH_TOPK_PY = `${HERE}peers/torch_topk.py`;

/** A Python interpreter whose `import torch` works. */
export interface TorchPython {
  exe: string;
  torch: string;
  /** `"cuda"` when `torch.cuda.is_available()`, else `"cpu"`. */
  device: string;
  /** The GPU's name, or the CPU and its thread count. */
  name: string;
}

/** Why no interpreter was picked: one line per candidate. */
export interface TorchMissing {
  reason: string;
}

/**
 * Probes `MLCD_PYTHON`, `/usr/bin/python3` (Debian's python3-torch; a pyenv shim may shadow
 * it) and `python3` for torch, in that order; prefers one that sees a CUDA device.
 */
export async function findTorch(): Promise<TorchPython | TorchMissing> {
  const candidates = [Deno.env.get("MLCD_PYTHON"), "/usr/bin/python3", "python3"].filter(
    (p, i, all): p is string => !!p && all.indexOf(p) === i,
  );
  const why: string[] = [];
  let best: TorchPython | null = null;
  for (const exe of candidates) {
    try {
      const out = await new Deno.Command(exe, {
        args: [TORCH_TOPK_PY, "probe"],
        stdout: "piped",
        stderr: "piped",
        signal: AbortSignal.timeout(120_000),
      }).output();
      if (!out.success) {
        const err = new TextDecoder().decode(out.stderr).trim().split("\n").pop() ?? "";
        why.push(`${exe}: ${err || `exit code ${out.code}`}`);
        continue;
      }
      const p = JSON.parse(new TextDecoder().decode(out.stdout).trim().split("\n").pop()!);
      const found: TorchPython = { exe, torch: p.torch, device: p.device, name: p.name };
      if (!best || (best.device !== "cuda" && found.device === "cuda")) best = found;
      if (found.device === "cuda") break;
    } catch (e) {
      why.push(`${exe}: ${e instanceof Deno.errors.NotFound ? "not found" : (e as Error).message}`);
    }
  }
  return best ?? { reason: why.join("; ") || "no python3 candidate" };
}

/** One run of the peer. */
export interface TorchTopkRun {
  /** `nq × k` neighbour indices, best first. */
  indices: Uint32Array;
  torch: string;
  device: string;
  name: string;
  uploadSeconds: number;
  /** Normalise + matmul + topk on the device, after a warm-up. */
  computeSeconds: number;
  downloadSeconds: number;
}

function bytesOf(m: Matrix): Uint8Array {
  return new Uint8Array(m.data.buffer, m.data.byteOffset, m.rows * m.cols * 4);
}

/** Cosine top-`k` of every query over `keys` with PyTorch (float32 matmul + `torch.topk`). */
export async function torchTopk(
  py: TorchPython,
  queries: Matrix,
  keys: Matrix,
  k: number,
  timeoutS: number,
): Promise<TorchTopkRun> {
  const tmp = await Deno.makeTempDir({ prefix: "mlcd-torch-peer-" });
  try {
    await Deno.writeFile(`${tmp}/q.f32`, bytesOf(queries));
    await Deno.writeFile(`${tmp}/k.f32`, bytesOf(keys));
    const out = await new Deno.Command(py.exe, {
      args: [
        TORCH_TOPK_PY,
        "run",
        `${tmp}/q.f32`,
        `${queries.rows}`,
        `${tmp}/k.f32`,
        `${keys.rows}`,
        `${keys.cols}`,
        `${k}`,
        `${tmp}/idx.u32`,
      ],
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(timeoutS * 1000),
    }).output();
    if (!out.success) {
      const err = new TextDecoder().decode(out.stderr).trim().split("\n").pop() ?? "";
      throw new Error(`torch_topk.py exited with ${out.code}: ${err}`);
    }
    const r = JSON.parse(new TextDecoder().decode(out.stdout).trim().split("\n").pop()!);
    const raw = await Deno.readFile(`${tmp}/idx.u32`);
    if (raw.byteLength !== queries.rows * k * 4) {
      throw new Error(`torch_topk.py wrote ${raw.byteLength} bytes, not ${queries.rows * k * 4}`);
    }
    return {
      indices: new Uint32Array(raw.buffer, raw.byteOffset, queries.rows * k),
      torch: r.torch,
      device: r.device,
      name: r.name,
      uploadSeconds: r.upload_seconds,
      computeSeconds: r.compute_seconds,
      downloadSeconds: r.download_seconds,
    };
  } finally {
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
  }
}
