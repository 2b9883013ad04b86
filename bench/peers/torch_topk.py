"""PyTorch matmul + topk peer for `deno task gpu-check` (scripts/gpu_check.ts) and the bench.

Usage:
  python3 torch_topk.py probe
      Prints one JSON line: {"torch": version, "device": "cuda"|"cpu", "name": ...}; exits 1
      with the reason on stderr when torch does not import.
  python3 torch_topk.py run QUERIES.f32 NQ KEYS.f32 NK D K OUT.u32
      QUERIES.f32 / KEYS.f32 are raw little-endian float32 rows (NQ × D and NK × D). Cosine
      top-K of every query over the keys: both sides L2-normalised, one float32 matmul
      (TF32 off), torch.topk. Writes the NQ × K indices as raw uint32 to OUT.u32 and prints
      one JSON line with the seconds of the upload, the timed compute (normalise + matmul +
      topk, after a warm-up, synchronised on CUDA) and the download.

CUDA is used when torch.cuda.is_available(), else the CPU (MLCD_TORCH_DEVICE=cpu forces it).
"""
import json
import os
import sys
import time

try:
    import numpy as np
    import torch
    import torch.nn.functional as F
except Exception as e:  # not installed or broken
    print(f"torch_topk.py: {type(e).__name__}: {e}", file=sys.stderr)
    sys.exit(1)


def pick_device():
    if os.environ.get("MLCD_TORCH_DEVICE") == "cpu" or not torch.cuda.is_available():
        return torch.device("cpu")
    return torch.device("cuda")


def device_name(dev):
    if dev.type == "cuda":
        return torch.cuda.get_device_name(dev)
    return f"CPU, {torch.get_num_threads()} threads"


def sync(dev):
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def topk_all(q, keys, k, chunk):
    """Cosine top-k of every row of q over keys, `chunk` query rows per matmul."""
    qn = F.normalize(q, dim=1)
    kn = F.normalize(keys, dim=1)
    out = torch.empty((q.shape[0], k), dtype=torch.int64, device=q.device)
    for s in range(0, q.shape[0], chunk):
        scores = qn[s : s + chunk] @ kn.T
        out[s : s + chunk] = torch.topk(scores, k, dim=1, largest=True, sorted=True).indices
    return out


def run(args):
    qpath, nq, kpath, nk, d, k, out_path = args
    nq, nk, d, k = int(nq), int(nk), int(d), int(k)
    # A float32 peer for a float32 kernel: no TF32 (the default, made explicit).
    torch.set_float32_matmul_precision("highest")
    torch.backends.cuda.matmul.allow_tf32 = False
    dev = pick_device()
    q_host = torch.from_numpy(np.fromfile(qpath, dtype=np.float32, count=nq * d).reshape(nq, d))
    k_host = torch.from_numpy(np.fromfile(kpath, dtype=np.float32, count=nk * d).reshape(nk, d))
    # Scores of one chunk: at most 4 GiB on a GPU, 256 MiB on the CPU.
    budget = (4 << 30) if dev.type == "cuda" else (256 << 20)
    chunk = max(1, min(nq, budget // (4 * nk)))
    t0 = time.perf_counter()
    q = q_host.to(dev)
    keys = k_host.to(dev)
    sync(dev)
    upload = time.perf_counter() - t0
    topk_all(q[: min(nq, chunk)], keys, k, chunk)  # warm-up: kernels, cuBLAS handles
    sync(dev)
    t0 = time.perf_counter()
    idx = topk_all(q, keys, k, chunk)
    sync(dev)
    compute = time.perf_counter() - t0
    t0 = time.perf_counter()
    host = idx.to("cpu").numpy().astype(np.uint32)
    download = time.perf_counter() - t0
    host.tofile(out_path)
    print(json.dumps({
        "torch": torch.__version__,
        "device": dev.type,
        "name": device_name(dev),
        "chunk": chunk,
        "upload_seconds": upload,
        "compute_seconds": compute,
        "download_seconds": download,
    }))


def main():
    if len(sys.argv) >= 2 and sys.argv[1] == "probe":
        dev = pick_device()
        print(json.dumps({"torch": torch.__version__, "device": dev.type, "name": device_name(dev)}))
    elif len(sys.argv) == 9 and sys.argv[1] == "run":
        run(sys.argv[2:])
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(2)


main()
