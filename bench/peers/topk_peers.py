"""faiss IndexFlatIP top-k peer for bench/topk_compare.ts.

Usage: /usr/bin/python3 topk_peers.py queries.npy centers.npy K out_indices.npy
Prints one JSON line: {"faiss_seconds": ..., "faiss_version": ..., "threads": ...}.
Both inputs are already L2-normalised, so inner product = cosine.
"""
import json
import sys
import time

import faiss
import numpy as np

q = np.ascontiguousarray(np.load(sys.argv[1]), dtype=np.float32)
c = np.ascontiguousarray(np.load(sys.argv[2]), dtype=np.float32)
k = int(sys.argv[3])
index = faiss.IndexFlatIP(c.shape[1])
index.add(c)
index.search(q[: min(len(q), 64)], k)  # warm up
t0 = time.perf_counter()
_, idx = index.search(q, k)
sec = time.perf_counter() - t0
np.save(sys.argv[4], idx.astype(np.uint32))
print(json.dumps({"faiss_seconds": sec, "faiss_version": faiss.__version__, "threads": faiss.omp_get_max_threads()}))
