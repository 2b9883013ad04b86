"""Large-K k-means peers for bench/large_k.ts: faiss flat Kmeans and faiss Clustering with an
IndexHNSWFlat assignment index (the usual large-K setup), on the same rows as ours.

Usage: large_k_peers.py METHOD ROWS.npy K NITER SEED OUT_CENTROIDS.npy
       large_k_peers.py objective ROWS.npy CENTROIDS.npy
  METHOD: flat | hnsw; objective scores given centroids (anyone's) by the same exact search
Rows are L2-normalised here and clustered spherically. Prints one JSON line on stdout:
{"method", "seconds" (training only), "objective" (sum of cos of every row to its exact nearest
centroid), "one_minus_cos" (sum of 1 - cos), "rows", "k", "maxrss_mib", "version", "threads"}.
One method per process, so that the peak RSS is that method's.
"""
import json
import resource
import sys
import time

import faiss
import numpy as np



def exact_scores(x, centroids):
    """Each row's cosine to its exact nearest centroid (rows and centroids unit), float64."""
    index = faiss.IndexFlatIP(x.shape[1])
    index.add(np.ascontiguousarray(centroids, dtype=np.float32))
    scores = np.empty(x.shape[0], dtype=np.float64)
    for start in range(0, x.shape[0], 65536):
        dist, _ = index.search(x[start:start + 65536], 1)
        scores[start:start + 65536] = dist[:, 0]
    return scores


def load_unit(path):
    x = np.array(np.load(path), dtype=np.float32, copy=True)  # writable: normalised in place
    faiss.normalize_L2(x)
    return x


if sys.argv[1] == "objective":
    x, c = load_unit(sys.argv[2]), load_unit(sys.argv[3])
    s = exact_scores(x, c)
    print(json.dumps({"objective": float(s.sum()), "one_minus_cos": float((1.0 - s).sum()),
                      "rows": x.shape[0], "k": c.shape[0]}))
    sys.exit(0)

method, path, k, niter, seed, out = (sys.argv[1], sys.argv[2], int(sys.argv[3]),
                                     int(sys.argv[4]), int(sys.argv[5]), sys.argv[6])
x = load_unit(path)
n, d = x.shape

t = time.perf_counter()
if method == "flat":
    km = faiss.Kmeans(d, k, niter=niter, spherical=True, seed=seed, verbose=False)
    km.train(x)
    centroids = km.centroids
elif method == "hnsw":
    clus = faiss.Clustering(d, k)
    clus.niter = niter
    clus.seed = seed
    clus.spherical = True
    clus.verbose = False
    index = faiss.IndexHNSWFlat(d, 32, faiss.METRIC_INNER_PRODUCT)
    clus.train(x, index)
    centroids = faiss.vector_float_to_array(clus.centroids).reshape(k, d)
else:
    raise SystemExit(f"unknown method {method}")
seconds = time.perf_counter() - t

# The objective of the final centroids over every row, with an exact search (not timed).
centroids = np.ascontiguousarray(centroids, dtype=np.float32)
scores = exact_scores(x, centroids)
np.save(out, centroids)
print(json.dumps({
    "method": method,
    "seconds": seconds,
    "objective": float(scores.sum()),
    "one_minus_cos": float((1.0 - scores).sum()),
    "rows": n,
    "k": k,
    "maxrss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    "version": faiss.__version__,
    "threads": faiss.omp_get_max_threads(),
}))
