"""Silhouette of a representation with respect to labels (scib-metrics `silhouette_label`).

scib-metrics computes every pairwise distance in float32 with jax; here the input is rounded to
float32 the same way (so a float64 embedding scores as it does in the reference), and the distances
are then computed exactly in float64, one BLAS block of rows at a time: memory stays at one
`rows x n` block, never `n x n`. Per-label distance sums are contiguous-slice sums after sorting
cells by label, so there is no one-hot matrix either.
"""

from __future__ import annotations

import numpy as np

from cellbench.neighbors import DEFAULT_BLOCK_BYTES, squared_distance_blocks


def encode_labels(labels) -> tuple[np.ndarray, np.ndarray]:
    """(codes, categories) with categories sorted, as `pd.Categorical(labels).codes` does."""
    categories, codes = np.unique(np.asarray(labels), return_inverse=True)
    return codes.reshape(-1), categories


def silhouette_samples(X, labels, block_bytes: int = DEFAULT_BLOCK_BYTES) -> np.ndarray:
    """Per-cell silhouette (sklearn / scib-metrics semantics), euclidean, nearest other cluster.

    s_i = (b_i - a_i) / max(a_i, b_i), a_i = mean distance to the other cells of its label,
    b_i = smallest mean distance to the cells of another label; NaN (a singleton label, or only
    one label) becomes 0, as in scib-metrics.
    """
    X = np.asarray(X)
    codes, categories = encode_labels(labels)
    if X.shape[0] != codes.shape[0]:
        raise ValueError(f"X has {X.shape[0]} rows but there are {codes.shape[0]} labels")
    X32 = np.asarray(X, dtype=np.float32)
    order = np.argsort(codes, kind="stable")
    Xs = X32[order].astype(np.float64)
    cs = codes[order]
    freqs = np.bincount(cs, minlength=len(categories)).astype(np.float64)
    bounds = np.concatenate([[0], np.cumsum(freqs[:-1])]).astype(np.int64)
    n = Xs.shape[0]

    def reduce(start, stop, block):
        np.sqrt(block, out=block)
        sums = np.add.reduceat(block, bounds, axis=1)  # (rows, n_labels): distance sum per label
        rows = np.arange(stop - start)
        own = cs[start:stop]
        intra = sums[rows, own].copy()
        sums[rows, own] = np.inf
        sums /= freqs
        return start, stop, intra, sums.min(axis=1)

    intra = np.empty(n)
    inter = np.empty(n)
    for start, stop, a, b in squared_distance_blocks(Xs, block_bytes, zero_diagonal=True, fn=reduce):
        intra[start:stop] = a
        inter[start:stop] = b
    with np.errstate(divide="ignore", invalid="ignore"):
        a = intra / (freqs[cs] - 1.0)
        s = (inter - a) / np.maximum(a, inter)
    s = np.nan_to_num(s, nan=0.0)
    out = np.empty(n)
    out[order] = s
    return out


def silhouette_label(X, labels, rescale: bool = True, block_bytes: int = DEFAULT_BLOCK_BYTES) -> float:
    """Mean silhouette width of X with respect to labels; rescaled to [0, 1] as (ASW + 1) / 2."""
    asw = float(np.mean(silhouette_samples(X, labels, block_bytes)))
    return (asw + 1.0) / 2.0 if rescale else asw
