"""Silhouette of a representation with respect to labels (scib-metrics `silhouette_label`).

scib-metrics computes every pairwise distance in float32 with jax. Here the input is rounded to
float32 the same way (so a float64 embedding scores as it does in the reference), centred, and the
distances come from float32 GEMMs (|x|^2 - 2 x.y + |y|^2, diagonal exactly 0) over square tiles of
the upper triangle only: a distance tile serves its rows and, transposed, its columns, so each
distance is computed once, not twice. Cells are sorted by label, so the per-label sums of a tile's
rows are slice sums and those of its columns one small GEMM with the tile's one-hot label matrix.
Tile sums (at most `TILE` distances) are float32, their accumulation float64: the mean silhouette
stays within ~1e-7 of a float64 computation. Tiles run on the BLAS threads and are accumulated in a
fixed order, so the value never depends on the thread count.

What the tiling beats: the earlier row-block kernel (full rows of n distances, one pass over
128 MB blocks per elementwise step) took 12.8 s at 100k cells x 64-d on 2 cores; the triangle of
cache-sized tiles takes 4.6 s (half the GEMM, every elementwise step in cache).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from cellbench import device
from cellbench.metrics._distance_operands import label_sorted_operands
from cellbench.metrics._labels import encode_labels
from cellbench.progress import Progress

#: Rows and columns of one distance tile: 4 MB of float32, in cache for the elementwise steps
#: (1024 measured fastest at 100k x 64 among 512, 1024 and 2048).
TILE = 1024


def undefined_reason(labels) -> str | None:
    """Why the silhouette of these labels is undefined, or None when it is defined.

    As sklearn's silhouette_score: it needs 2 to n_cells - 1 distinct labels. With one label there is
    no other cluster; with one cell per label no cell has a cluster mate. scib-metrics (the
    reference) answers 0 there, 0.5 rescaled, which reads as a real score, so cellbench says null.
    """
    n_cells, n_labels = len(labels), len(np.unique(np.asarray(labels)))
    if 2 <= n_labels <= n_cells - 1:
        return None
    return f"silhouette undefined: {n_labels} distinct label(s) for {n_cells} cells (needs 2 to n_cells - 1)"


def _tile_segments(sorted_codes: np.ndarray, start: int, stop: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Within a tile of label-sorted cells: each label run's first row, its label, and the one-hot matrix."""
    codes = sorted_codes[start:stop]
    firsts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]])
    one_hot = np.zeros((stop - start, firsts.size), dtype=np.float32)
    one_hot[np.arange(stop - start), np.cumsum(np.r_[True, codes[1:] != codes[:-1]]) - 1] = 1.0
    return firsts, codes[firsts], one_hot


def distance_sums_by_label(X, codes: np.ndarray, n_labels: int, tile: int = TILE) -> np.ndarray:
    """S[i, l] = sum of the euclidean distances from cell i to the cells of label l (float32 distances).

    X is rounded to float32 and centred; the distance of a cell to itself is exactly 0. With
    `cellbench.device` set to a torch device the products run there (`_silhouette_torch`).
    """
    if device.current() is not None:
        from cellbench.metrics._silhouette_torch import distance_sums_by_label_torch

        return distance_sums_by_label_torch(X, codes, n_labels, device.current())
    from cellbench.neighbors import map_blocks

    order, sorted_codes, left, right = label_sorted_operands(X, codes)
    n = len(sorted_codes)
    tiles = [(s, min(n, s + tile)) for s in range(0, n, tile)]
    segments = [_tile_segments(sorted_codes, s, e) for s, e in tiles]
    pairs = [(i, j) for i in range(len(tiles)) for j in range(i, len(tiles))]

    def one_pair(p: int, _stop: int):
        i, j = pairs[p]
        (r0, r1), (c0, c1) = tiles[i], tiles[j]
        dist = left[r0:r1] @ right[c0:c1].T
        np.maximum(dist, 0, out=dist)
        if i == j:
            diag = np.arange(r1 - r0)
            dist[diag, diag] = 0
        np.sqrt(dist, out=dist)
        row_sums = np.add.reduceat(dist, segments[j][0], axis=1)
        # summing down columns with reduceat is ~20x slower than this one-hot GEMM (strided access)
        col_sums = segments[i][2].T @ dist if i != j else None
        return p, row_sums, col_sums

    sums = np.zeros((n, n_labels))
    progress = Progress(f"silhouette distances of {n} cells, tile pairs", len(pairs))
    for p, row_sums, col_sums in map_blocks(one_pair, [(p, p + 1) for p in range(len(pairs))]):
        progress.step(p + 1)
        i, j = pairs[p]
        (r0, r1), (c0, c1) = tiles[i], tiles[j]
        rows = sums[r0:r1]
        rows[:, segments[j][1]] += row_sums
        if col_sums is not None:
            cols = sums[c0:c1]
            cols[:, segments[i][1]] += col_sums.T
    out = np.empty_like(sums)
    out[order] = sums
    return out


def silhouette_samples(X: ArrayLike, labels: ArrayLike, tile: int = TILE) -> NDArray[np.float64]:
    """Per-cell silhouette (sklearn / scib-metrics semantics), euclidean, nearest other cluster.

    s_i = (b_i - a_i) / max(a_i, b_i), a_i = mean distance to the other cells of its label,
    b_i = smallest mean distance to the cells of another label; NaN (a singleton label, or only
    one label) becomes 0, as in scib-metrics.
    """
    X = np.asarray(X)
    codes, categories = encode_labels(labels)
    if X.ndim != 2 or X.shape[0] != codes.shape[0]:
        raise ValueError(f"X has shape {X.shape} but there are {codes.shape[0]} labels")
    n_labels = len(categories)
    sums = distance_sums_by_label(X, codes, n_labels, tile)
    return silhouette_from_sums(sums, codes, np.bincount(codes, minlength=n_labels).astype(np.float64))


def silhouette_from_sums(sums: np.ndarray, codes: np.ndarray, freqs: np.ndarray) -> np.ndarray:
    """Silhouette widths from per-label distance sums (rows = cells, `codes` = their labels)."""
    rows = np.arange(len(codes))
    intra = sums[rows, codes].copy()
    means = sums / freqs
    means[rows, codes] = np.inf
    inter = means.min(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        a = intra / (freqs[codes] - 1.0)
        s = (inter - a) / np.maximum(a, inter)
    return np.nan_to_num(s, nan=0.0)


def silhouette_label(X: ArrayLike, labels: ArrayLike, rescale: bool = True, tile: int = TILE) -> float:
    """Mean silhouette width of X with respect to labels; rescaled to [0, 1] as (ASW + 1) / 2.

    The `silhouette_score` of the embedding and sequential tasks (`cellbench.metrics.silhouette_score`).

    Parameters
    ----------
    X
        Representation, cells x dimensions (rounded to float32, as the reference computes).
    labels
        One label per cell.
    rescale
        Rescale the mean width from [-1, 1] to [0, 1].
    tile
        Rows and columns of one distance tile (speed only; the value does not depend on it).

    Returns
    -------
    float
        (ASW + 1) / 2, or the ASW itself with `rescale=False`.

    References
    ----------
    Rousseeuw (1987), J. Comput. Appl. Math. 20:53-65; Luecken et al. (2022), Nat. Methods
    19:41-50; scib-metrics `silhouette_label`.
    """
    return silhouette_label_score(silhouette_samples(X, labels, tile), rescale)


def silhouette_label_score(samples: np.ndarray, rescale: bool = True) -> float:
    """The silhouette score from per-cell widths (tasks keep the widths for their bootstrap interval)."""
    asw = float(np.mean(samples))
    return (asw + 1.0) / 2.0 if rescale else asw
