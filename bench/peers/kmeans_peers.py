"""k-means peers for bench/kmeans_compare.ts: faiss and scikit-learn on the same data.

Usage: kmeans_peers.py DATA.f32 N D K NITER SEED OUT_PREFIX
Reads N x D float32 rows (already L2-normalised), runs faiss Kmeans(spherical=True) and
scikit-learn KMeans (lloyd, n_init=1, tol=0), writes OUT_PREFIX.<tool>.f32 centroids and
prints one JSON line {tool: {seconds, version} | {error}} on stdout. Timings exclude I/O.
"""
import json
import sys
import time

import numpy as np

path, n, d, k, niter, seed, prefix = sys.argv[1], *map(int, sys.argv[2:7]), sys.argv[7]
x = np.fromfile(path, dtype=np.float32).reshape(n, d)
out = {}
try:
    import faiss

    t = time.perf_counter()
    km = faiss.Kmeans(d, k, niter=niter, spherical=True, seed=seed, verbose=False)
    km.train(x)
    out["faiss"] = {"seconds": time.perf_counter() - t, "version": faiss.__version__,
                    "threads": faiss.omp_get_max_threads()}
    km.centroids.astype(np.float32).tofile(prefix + ".faiss.f32")
except Exception as e:  # noqa: BLE001 - report any failure as a skipped peer
    out["faiss"] = {"error": f"{type(e).__name__}: {e} (install: apt-get install python3-faiss)"}
try:
    import sklearn
    from sklearn.cluster import KMeans

    t = time.perf_counter()
    sk = KMeans(n_clusters=k, n_init=1, max_iter=niter, tol=0.0, random_state=seed,
                algorithm="lloyd").fit(x)
    out["sklearn"] = {"seconds": time.perf_counter() - t, "version": sklearn.__version__,
                      "iterations": int(sk.n_iter_)}
    sk.cluster_centers_.astype(np.float32).tofile(prefix + ".sklearn.f32")
except Exception as e:  # noqa: BLE001
    out["sklearn"] = {"error": f"{type(e).__name__}: {e} (install: apt-get install python3-sklearn)"}
print(json.dumps(out))
