"""Which Python peers are installed, for `deno task bench` (bench/run.ts).

Prints one JSON object with the versions of numpy, faiss and scikit-learn (null when a
package is missing) and faiss's thread count. The peers themselves run through
kmeans_peers.py (faiss and scikit-learn k-means) and topk_peers.py (faiss IndexFlatIP).

  /usr/bin/python3 bench/peers/mlcd_peers.py probe
"""
import json
import sys


def probe():
    out = {"python": sys.version.split()[0]}
    for name in ("numpy", "faiss", "sklearn"):
        try:
            mod = __import__(name)
            out[name] = getattr(mod, "__version__", "unknown")
        except Exception:  # not installed or broken
            out[name] = None
    try:
        import faiss

        out["faiss_threads"] = faiss.omp_get_max_threads()
    except Exception:
        pass
    return out


if __name__ == "__main__":
    if sys.argv[1:] != ["probe"]:
        sys.stderr.write(__doc__)
        sys.exit(2)
    print(json.dumps(probe()))
