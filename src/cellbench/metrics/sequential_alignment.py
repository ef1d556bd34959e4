"""How close in time a cell's nearest neighbours are (cz-benchmarks `sequential_alignment`).

d_i = mean |t_i - t_j| over the k nearest neighbours j of cell i (itself excluded); D = mean_i d_i.
Normalised: clip(1 - D / B, 0, 1) with B the same quantity for k random other cells, averaged over
min(10000, 10 n) random cells. The reference draws B from numpy's unseeded global RNG; here it comes
from `numpy.random.default_rng(seed)`, so the score is reproducible.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from cellbench.neighbors import knn


def adaptive_k_values(X, base_k: int) -> np.ndarray:
    """Per-cell k from local density (reference `_compute_adaptive_k`): sparse regions get larger k."""
    n = X.shape[0]
    density_k = max(2, int(min(30, max(2, base_k * 3, n // 4), max(1, n - 1))))
    _, dist = knn(X, density_k, include_self=True)
    densities = 1.0 / (dist[:, -1] + 1e-10)
    lo, hi = np.percentile(densities, [10, 90])
    normalized = np.clip((densities - lo) / (hi - lo + 1e-10), 0, 1)
    k_values = np.round(base_k * (0.5 + 1.5 * (1 - normalized))).astype(int)
    upper, lower = min(50, n // 2), 3
    if upper < lower:
        return np.full_like(k_values, lower)
    return np.clip(k_values, lower, upper)


def mean_neighbor_time_distance(X, t: np.ndarray, k_values: np.ndarray) -> float:
    """D: mean over cells of the mean |t_i - t_j| over each cell's k_i nearest other cells."""
    return float(np.mean(neighbor_time_distances(X, t, k_values)))


def neighbor_time_distances(X, t: np.ndarray, k_values: np.ndarray) -> np.ndarray:
    """d_i: per cell, the mean |t_i - t_j| over its k_i nearest other cells (D is their mean)."""
    max_k = int(k_values.max())
    idx, _ = knn(X, max_k + 1, include_self=True)
    neighbors = idx[:, 1:]
    diffs = np.abs(t[:, None] - t[neighbors])
    used = np.arange(max_k)[None, :] < k_values[:, None]
    return np.where(used, diffs, 0.0).sum(axis=1) / k_values


def _distinct_draws(rng: np.random.Generator, n_rows: int, population: int, k: int) -> np.ndarray:
    """n_rows independent uniform k-subsets of range(population), one per row.

    k iid draws with any repeated row redrawn is exactly uniform over k-subsets; when k is a large
    share of the population, redraws get frequent and each row is drawn without replacement instead.
    """
    if k * 4 > population:
        return np.stack([rng.choice(population, size=k, replace=False) for _ in range(n_rows)])
    out = rng.integers(0, population, size=(n_rows, k))
    todo = np.arange(n_rows)
    while True:
        s = np.sort(out[todo], axis=1)
        todo = todo[(s[:, 1:] == s[:, :-1]).any(axis=1)]
        if todo.size == 0:
            return out
        out[todo] = rng.integers(0, population, size=(todo.size, k))


def random_baseline(t: np.ndarray, k: int, seed: int) -> float:
    """B: expected D for k random other cells, from min(10000, 10 n) seeded draws."""
    n = len(t)
    if len(np.unique(t)) == 1:
        return 0.0
    k = max(1, min(k, n - 1))
    rng = np.random.default_rng(seed)
    n_samples = min(10000, n * 10)
    cells = rng.integers(0, n, size=n_samples)
    if k == n - 1:  # every other cell: the exact mean for each drawn cell
        total = np.abs(t[:, None] - t[None, :]).sum(axis=1) / (n - 1)
        return float(np.mean(total[cells]))
    choices = _distinct_draws(rng, n_samples, n - 1, k)
    others = choices + (choices >= cells[:, None])  # skip the drawn cell itself
    return float(np.mean(np.abs(t[cells][:, None] - t[others]).mean(axis=1)))


def sequential_alignment(
    X: ArrayLike, t: ArrayLike, k: int = 15, normalize: bool = True, adaptive_k: bool = False, seed: int = 42
) -> float:
    """Sequential alignment of X along numeric time labels t (1 = neighbours share time points).

    Parameters
    ----------
    X
        Representation, cells x dimensions.
    t
        Numeric time label of each cell.
    k
        Nearest neighbours per cell (the cell itself excluded).
    normalize
        Score clip(1 - D / B, 0, 1) against the random baseline B; else the raw mean distance D.
    adaptive_k
        Per-cell k from local density (sparse regions get a larger k).
    seed
        Seed of the random baseline's draws.

    Returns
    -------
    float
        In [0, 1] when normalised (1 when every cell has the same time); else D, lower = better.

    References
    ----------
    cz-benchmarks `sequential_alignment` (https://github.com/chanzuckerberg/cz-benchmarks).
    """
    return sequential_alignment_values(X, t, k, normalize, adaptive_k, seed)[0]


def sequential_alignment_values(
    X, t, k: int = 15, normalize: bool = True, adaptive_k: bool = False, seed: int = 42
) -> tuple[float, np.ndarray | None, float | None]:
    """(score, per-cell d_i, B): the score as `sequential_alignment`, plus what it is a function of.

    The score is clip(1 - mean(d_i) / B, 0, 1) when normalised (else mean(d_i), and B is None);
    d_i is None where the score does not come from the neighbours (a single time point, or B = 0).
    """
    X = np.asarray(X, dtype=np.float64)
    t = np.asarray(t, dtype=np.float64)
    n = X.shape[0]
    if n != t.shape[0]:
        raise ValueError("X and labels must have the same length")
    if k < 1:
        raise ValueError("k must be a positive integer")
    if n < k + 1:
        raise ValueError(f"need at least {k + 1} cells for k={k}, got {n}")
    if len(np.unique(t)) == 1:
        return (1.0 if normalize else 0.0), None, None
    k_values = adaptive_k_values(X, k) if adaptive_k else np.full(n, k)
    d = neighbor_time_distances(X, t, k_values)
    D = float(np.mean(d))
    if not normalize:
        return D, d, None
    B = random_baseline(t, k, seed)
    if B > 0:
        return float(np.clip(1 - D / B, 0, 1)), d, B
    return 1.0, None, B
