"""Silhouette of a representation with respect to labels (scib-metrics `silhouette_label`).

scib-metrics computes every pairwise distance in float32 with jax. Here the input is rounded to
float32 the same way (so a float64 embedding scores as it does in the reference), centred, and the
distances come from one float32 GEMM per block of rows (|x|^2 - 2 x.y + |y|^2, diagonal exactly 0):
memory stays at a few `rows x n` blocks, never `n x n`. Cells are sorted by label so per-label sums
are slice sums (no one-hot matrix); slices of at most 1024 distances are summed in float32 and the
slice sums in float64, which keeps the mean silhouette within ~1e-7 of a float64 computation.
Blocks run on the BLAS threads with a fixed partition, so the value never depends on the thread count.
"""

from __future__ import annotations

import numpy as np

from cellbench.neighbors import DEFAULT_BLOCK_BYTES


def encode_labels(labels) -> tuple[np.ndarray, np.ndarray]:
    """(codes, categories) with categories sorted, as `pd.Categorical(labels).codes` does."""
    categories, codes = np.unique(np.asarray(labels), return_inverse=True)
    return codes.reshape(-1), categories


SLICE = 1024


def _label_slices(freqs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start of every slice of <= SLICE columns within each label's run, and each slice's label."""
    starts, owners = [], []
    offset = 0
    for label, count in enumerate(freqs.astype(np.int64)):
        cuts = np.arange(offset, offset + count, SLICE)
        starts.append(cuts)
        owners.append(np.full(cuts.size, label))
        offset += count
    return np.concatenate(starts), np.concatenate(owners)


def silhouette_samples(X, labels, block_bytes: int = DEFAULT_BLOCK_BYTES) -> np.ndarray:
    """Per-cell silhouette (sklearn / scib-metrics semantics), euclidean, nearest other cluster.

    s_i = (b_i - a_i) / max(a_i, b_i), a_i = mean distance to the other cells of its label,
    b_i = smallest mean distance to the cells of another label; NaN (a singleton label, or only
    one label) becomes 0, as in scib-metrics.
    """
    from cellbench.neighbors import block_ranges, map_blocks, rows_per_block

    X = np.asarray(X)
    codes, categories = encode_labels(labels)
    if X.ndim != 2 or X.shape[0] != codes.shape[0]:
        raise ValueError(f"X has shape {X.shape} but there are {codes.shape[0]} labels")
    n_labels = len(categories)
    order = np.argsort(codes, kind="stable")
    cs = codes[order]
    X32 = np.asarray(X, dtype=np.float32)[order].astype(np.float64)
    c32 = (X32 - X32.mean(axis=0)).astype(np.float32)
    sq = np.einsum("ij,ij->i", c32.astype(np.float64), c32.astype(np.float64)).astype(np.float32)
    # one GEMM gives sq_j - 2 x_i.y_j: [x, 1] . [-2 y, sq_y]
    left = np.hstack([c32, np.ones((len(c32), 1), np.float32)])
    right = np.hstack([-2.0 * c32, sq[:, None]])
    freqs = np.bincount(cs, minlength=n_labels).astype(np.float64)
    slice_starts, slice_owner = _label_slices(freqs)
    n = len(cs)

    def reduce(start, stop):
        block = left[start:stop] @ right.T
        block += sq[start:stop, None]
        np.maximum(block, 0, out=block)
        rows = np.arange(stop - start)
        block[rows, rows + start] = 0
        np.sqrt(block, out=block)
        partial = np.add.reduceat(block, slice_starts, axis=1).astype(np.float64)
        sums = np.zeros((stop - start, n_labels))
        np.add.at(sums.T, slice_owner, partial.T)
        own = cs[start:stop]
        intra = sums[rows, own].copy()
        sums[rows, own] = np.inf
        sums /= freqs
        return start, stop, intra, sums.min(axis=1)

    step = rows_per_block(n, block_bytes, 4 * 2)
    intra = np.empty(n)
    inter = np.empty(n)
    for start, stop, a, b in map_blocks(reduce, block_ranges(n, step)):
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
    return silhouette_label_score(silhouette_samples(X, labels, block_bytes), rescale)


def silhouette_label_score(samples: np.ndarray, rescale: bool = True) -> float:
    """The silhouette score from per-cell widths (tasks keep the widths for their bootstrap interval)."""
    asw = float(np.mean(samples))
    return (asw + 1.0) / 2.0 if rescale else asw
