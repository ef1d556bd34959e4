"""The reference's kNN classifier (StandardScaler(with_mean=False) then KNeighborsClassifier(5)),
with a faster neighbour search that gives the same neighbour sets.

With uniform weights sklearn's `predict_proba` is (votes of each class among the k neighbours) / k:
only the neighbour *set* matters. It comes from `cellbench.neighbors.query` (exact: float32 products
within a proven margin pick the candidates, float64 distances decide, ties by index), which also
gives each row's (k+1)-th distance.

Ties at the k-th place (duplicated cells, or distances closer than sklearn's float64 rounding) are
decided in sklearn by its rounding and heap order, which this search does not reproduce: when any
row of a fold has one, the fold is predicted by sklearn's own classifier, so results stay identical.
What it beats: sklearn's kneighbors (2.8 s per fold at 80k x 20k cells, 64-d, 2 threads), and faiss's
flat search used here before (1.4 s there; 657 s per fold at 800k x 200k, where its per-row heaps cost
more than the products). Inputs of 15 features or fewer (sklearn's KD-tree) or more than 512 (the
raw-expression baseline, where the float32 bound is too loose) go through sklearn itself.
"""

from __future__ import annotations

import logging

import numpy as np

N_NEIGHBORS = 5
#: Input widths searched here: sklearn uses a KD-tree (other ties) up to 15 features, and beyond
#: 512 the float32 bound is too loose to prove many rows; both use sklearn's own classifier.
MIN_FAST_FEATURES = 16
MAX_FAST_FEATURES = 512

log = logging.getLogger("cellbench")
_EPS64 = float(np.finfo(np.float64).eps)


def exact_query_knn(train: np.ndarray, query: np.ndarray, k: int, threads: int = 1) -> tuple[np.ndarray, bool]:
    """The k nearest training rows (float64 euclidean) of every query row, as sets; and whether any
    row has a tie (within the reference's rounding) between its k-th and (k+1)-th neighbour."""
    from cellbench.neighbors.query import TooManyCandidates, query_knn

    n, d = train.shape
    if not 1 <= k <= n:
        raise ValueError(f"Expected n_neighbors <= n_samples_fit, but n_neighbors = {k}, n_samples_fit = {n}")
    try:
        idx, d2 = query_knn(train, query, min(n, k + 1), workers=max(1, threads))
    except TooManyCandidates:  # masses of near-ties: sklearn's own search decides them
        return np.zeros((len(query), k), dtype=np.int64), True
    kth = d2[:, k - 1]
    following = d2[:, k] if n > k else np.full(len(query), np.inf)
    # sklearn ranks by |x|^2 - 2 x.y + |y|^2 in float64 on the uncentred data: distances closer than
    # its rounding are ties whose winner is rounding noise, so the caller lets sklearn decide them
    raw_sq = np.einsum("ij,ij->i", train, train).max() + np.einsum("ij,ij->i", query, query)
    tie_margin = 2 * (4 * d + 64) * _EPS64 * raw_sq
    tied = bool(np.any(following - kth <= tie_margin))
    return np.sort(idx[:, :k], axis=1), tied


class KnnClassifier:
    """`Pipeline([StandardScaler(with_mean=False), KNeighborsClassifier()])` with the same fit and
    `predict_proba` results (classes_ = the sorted training labels)."""

    def __init__(self, n_neighbors: int = N_NEIGHBORS, threads: int = 1):
        self.n_neighbors = n_neighbors
        self.threads = threads

    def fit(self, X, y) -> KnnClassifier:
        from sklearn.preprocessing import StandardScaler

        self.scaler_ = StandardScaler(with_mean=False).fit(X)
        self.train_ = np.asarray(self.scaler_.transform(X), dtype=np.float64)
        self.y_ = np.asarray(y)
        self.classes_, codes = np.unique(self.y_, return_inverse=True)
        self.codes_ = codes.reshape(-1)
        return self

    def predict_proba(self, X) -> np.ndarray:
        query = np.asarray(self.scaler_.transform(X), dtype=np.float64)
        nearest, tied = exact_query_knn(self.train_, query, self.n_neighbors, self.threads)
        if tied:
            from sklearn.neighbors import KNeighborsClassifier

            log.info("knn: ties at the %d-th neighbour; sklearn's search decides them", self.n_neighbors)
            knn = KNeighborsClassifier(self.n_neighbors, n_jobs=self.threads).fit(self.train_, self.y_)
            return knn.predict_proba(query)
        votes = self.codes_[nearest]
        proba = np.zeros((len(query), len(self.classes_)))
        rows = np.arange(len(query))
        for column in votes.T:
            proba[rows, column] += 1.0
        return proba / nearest.shape[1]
