"""Driver for the sampled silhouette estimate (cellbench.metrics.silhouette_sampled) on an .h5ad.

Used by run_benchmark.py for atlases where the exact silhouette (n^2 d) is out of reach, and at 100k
cells to measure the estimate against the exact value. Writes a JSON with the metric in the
result-file shape: {"metrics": [{metric_type, value, params}], "wall_time_s"}.

    python benchmarks/silhouette_estimate.py DATA.h5ad OBSM_KEY LABEL_KEY OUT.json [N_SAMPLE] [THREADS]
"""

from __future__ import annotations

import json
import sys
import time


def main(argv: list[str]) -> int:
    start = time.perf_counter()
    path, key, label_key, out = argv[1:5]
    n_sample = int(argv[5]) if len(argv) > 5 else 10_000
    threads = int(argv[6]) if len(argv) > 6 else 1
    import anndata as ad
    import numpy as np
    from threadpoolctl import threadpool_limits

    from cellbench.metrics.silhouette_sampled import silhouette_label_sampled

    adata = ad.read_h5ad(path)
    X = np.asarray(adata.obsm[key])
    labels = adata.obs[label_key].astype(str).to_numpy()
    with threadpool_limits(threads):
        est = silhouette_label_sampled(X, labels, n_sample=n_sample, seed=42)
    metric = {"metric_type": "silhouette_score", "value": est["value"],
              "params": {"estimate": "sampled", "n_sample": est["n_sample"], "seed": est["seed"],
                         "ci95": est["ci95"]}}
    with open(out, "w") as fh:
        json.dump({"metrics": [metric], "wall_time_s": round(time.perf_counter() - start, 3)}, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
