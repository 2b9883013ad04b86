"""faiss IndexFlatIP peer for bench/wide_rows_compare.ts: one search, repeated.

Usage: /usr/bin/python3 flat_ip_repeat.py queries.npy centers.npy K REPEATS out_indices.npy
Prints one JSON line: {"wall": [s, ...], "cpu": [s, ...], "faiss_version": ..., "threads": ...}
with each timed search's wall-clock and process CPU seconds (after one untimed warm-up search).
Both inputs are already L2-normalised, so inner product = cosine; K = 1 is a k-means
assignment pass.
"""
import json
import sys
import time

import faiss
import numpy as np

q = np.ascontiguousarray(np.load(sys.argv[1]), dtype=np.float32)
c = np.ascontiguousarray(np.load(sys.argv[2]), dtype=np.float32)
k = int(sys.argv[3])
repeats = int(sys.argv[4])
index = faiss.IndexFlatIP(c.shape[1])
index.add(c)
index.search(q[: min(len(q), 256)], k)  # warm up
wall, cpu = [], []
for _ in range(repeats):
    t0, c0 = time.perf_counter(), time.process_time()
    _, idx = index.search(q, k)
    wall.append(time.perf_counter() - t0)
    cpu.append(time.process_time() - c0)
np.save(sys.argv[5], idx.astype(np.uint32))
print(json.dumps({"wall": wall, "cpu": cpu, "faiss_version": faiss.__version__,
                  "threads": faiss.omp_get_max_threads()}))
