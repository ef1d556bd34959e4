"""Seeded estimate of `entropy_per_cell` for atlases where exact k = 200 neighbours of every cell are
out of reach (n^2 d: 1M cells x 64-d is ~100x the work of 100k).

The value is a mean over cells, so a seeded uniform sample of m cells (without replacement) is
taken and *their* exact k nearest neighbours among all n cells are found
(`cellbench.neighbors.knn_subset`: the exact block search on the sampled rows only). Every sampled
per-cell entropy is the exact one, and their mean is an unbiased estimate (the integration task,
`--max-cells`, puts a bootstrap interval over the sampled cells on it). Cost m n d. An approximate
index (faiss IVF) is no substitute here: its probed cells follow the k-means partition, which
follows the batch shifts, and it underestimates the entropy by ~0.07 at 100k synthetic cells
(benchmarks/results), far outside TASKS.md's 3e-3.
"""

from __future__ import annotations

import numpy as np

from cellbench.metrics._labels import encode_labels
from cellbench.metrics.entropy_per_cell import DEFAULT_K, neighborhood_entropy
from cellbench.neighbors import DEFAULT_BLOCK_BYTES, knn_subset

DEFAULT_SAMPLE = 10_000


def sampled_entropy_values(
    X, batch, k: int = DEFAULT_K, n_sample: int = DEFAULT_SAMPLE, seed: int = 42,
    block_bytes: int = DEFAULT_BLOCK_BYTES,
) -> tuple[np.ndarray, np.ndarray]:
    """(sampled cell indices, their exact normalised batch entropies), as `entropy_per_cell_values`."""
    X = np.ascontiguousarray(np.asarray(X), dtype=np.float64)
    codes, categories = encode_labels(batch)
    n, n_batches = X.shape[0], len(categories)
    if codes.shape[0] != n:
        raise ValueError(f"X has {n} rows but there are {codes.shape[0]} batch labels")
    k = min(k, n)
    m = int(min(n, n_sample))
    picked = np.sort(np.random.default_rng(seed).choice(n, size=m, replace=False))
    norm = np.log(n_batches) if n_batches > 1 else np.nan
    out = np.empty(m)
    for start, stop, idx, _ in knn_subset(X, k, picked, return_distance=False, block_bytes=block_bytes):
        out[start:stop] = neighborhood_entropy(codes[idx], n_batches) / norm
    return picked, out

