"""Driver for batch integration on atlases: the sampled entropy_per_cell estimate
(cellbench.metrics.entropy_sampled: exact k = 200 neighbours of a seeded sample of cells) and the
exact batch_silhouette (n^2 only within label groups). Used by run_benchmark.py at --large sizes,
and at 100k cells to measure the estimate against the exact value.

    python benchmarks/integration_estimate.py DATA.h5ad OBSM_KEY LABEL_KEY BATCH_KEY OUT.json [N_SAMPLE] [THREADS]
"""

from __future__ import annotations

import json
import sys
import time


def main(argv: list[str]) -> int:
    start = time.perf_counter()
    path, key, label_key, batch_key, out = argv[1:6]
    n_sample = int(argv[6]) if len(argv) > 6 else 10_000
    threads = int(argv[7]) if len(argv) > 7 else 1
    import anndata as ad
    import numpy as np
    from threadpoolctl import threadpool_limits

    from cellbench.metrics.entropy_sampled import entropy_per_cell_sampled
    from cellbench.metrics.silhouette_batch import silhouette_batch

    adata = ad.read_h5ad(path)
    X = np.asarray(adata.obsm[key])
    labels = adata.obs[label_key].astype(str).to_numpy()
    batch = adata.obs[batch_key].astype(str).to_numpy()
    with threadpool_limits(threads):
        est = entropy_per_cell_sampled(X, batch, n_sample=n_sample, seed=42)
        bsil = silhouette_batch(X, labels, batch)
    metrics = [
        {"metric_type": "entropy_per_cell", "value": est["value"],
         "params": {"estimate": "sampled", "n_sample": est["n_sample"], "seed": est["seed"], "ci95": est["ci95"]}},
        {"metric_type": "batch_silhouette", "value": bsil, "params": {}},
    ]
    with open(out, "w") as fh:
        json.dump({"metrics": metrics, "wall_time_s": round(time.perf_counter() - start, 3)}, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
