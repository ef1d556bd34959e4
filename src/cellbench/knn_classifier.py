"""The reference's kNN classifier (StandardScaler(with_mean=False) then KNeighborsClassifier(5)),
with a faster neighbour search that gives the same neighbour sets.

With uniform weights sklearn's `predict_proba` is (votes of each class among the k neighbours) / k:
only the neighbour *set* matters. Here the set is found in two steps:

1. candidates: faiss's flat (brute-force, BLAS) float32 search for the `k + EXTRA` nearest, on data
   centred at the training mean (distances do not change; float32 rounding does, a lot less);
2. proof: their distances are recomputed exactly (float64, sum((x - y)^2)) and the k nearest taken
   by (distance, index). A training cell left out of the candidates has a float32 distance at least
   the last candidate's, so its true distance is at least that minus the float32 error bound; when
   that exceeds the k-th exact distance, no outsider can be nearer, and the set is exact. Rows where
   the bound does not prove it are searched exactly in float64.

Ties at the k-th place (duplicated cells, or distances closer than sklearn's float64 rounding) are
decided in sklearn by its rounding and heap order, which this search does not reproduce: when any
row of a fold has one, the fold is predicted by sklearn's own classifier, so results stay identical.
What it beats: sklearn's kneighbors (2.8 s per fold at 80k x 20k cells, 64-d, 2 threads) vs 1.4 s.
Inputs of 15 features or fewer (sklearn's KD-tree) or more than 512 (the raw-expression baseline,
where the float32 bound is too loose) go through sklearn itself.
"""

from __future__ import annotations

import logging

import numpy as np

N_NEIGHBORS = 5
#: Candidates beyond k from the float32 search; the proof fails (rarely) when ties crowd past them.
EXTRA = 11
#: Input widths searched here: sklearn uses a KD-tree (other ties) up to 15 features, and beyond
#: 512 the float32 bound is too loose to prove many rows; both use sklearn's own classifier.
MIN_FAST_FEATURES = 16
MAX_FAST_FEATURES = 512

log = logging.getLogger("cellbench")
_EPS32 = float(np.finfo(np.float32).eps)
_EPS64 = float(np.finfo(np.float64).eps)


def exact_query_knn(train: np.ndarray, query: np.ndarray, k: int, threads: int = 1) -> tuple[np.ndarray, bool]:
    """The k nearest training rows (float64 euclidean) of every query row, as sets; and whether any
    row has a tie (within the reference's rounding) between its k-th and (k+1)-th neighbour."""
    import faiss

    n, d = train.shape
    if not 1 <= k <= n:
        raise ValueError(f"Expected n_neighbors <= n_samples_fit, but n_neighbors = {k}, n_samples_fit = {n}")
    mean = train.mean(axis=0)
    centred = train - mean
    queries = query - mean
    m = min(n, k + EXTRA)
    faiss.omp_set_num_threads(max(1, threads))
    index = faiss.IndexFlatL2(d)
    index.add(np.ascontiguousarray(centred, dtype=np.float32))
    approx, cand = index.search(np.ascontiguousarray(queries, dtype=np.float32), m)
    cand = cand.astype(np.int64)
    exact = np.empty(cand.shape)
    chunk = max(1, (32 * 1024 * 1024) // (m * d * 8))
    for s in range(0, len(cand), chunk):
        diff = queries[s:s + chunk, None, :] - centred[cand[s:s + chunk]]
        exact[s:s + chunk] = np.einsum("ijk,ijk->ij", diff, diff)
    order = np.lexsort((cand, exact), axis=1)
    ranked = np.take_along_axis(exact, order, axis=1)
    nearest = np.take_along_axis(cand, order[:, :k], axis=1)
    kth = ranked[:, k - 1]
    following = ranked[:, k] if m > k else np.full(len(query), np.inf)
    # sklearn ranks by |x|^2 - 2 x.y + |y|^2 in float64 on the uncentred data: distances closer than
    # its rounding are ties whose winner is rounding noise, so the caller lets sklearn decide them
    raw_sq = np.einsum("ij,ij->i", train, train).max() + np.einsum("ij,ij->i", query, query)
    tie_margin = 2 * (4 * d + 64) * _EPS64 * raw_sq
    if m < n:
        # float32 inputs, (d + 2)-term dot products and additions: |error| <= gamma (|x|^2 + |y|^2),
        # gamma with a factor 2 to spare, as in cellbench.neighbors
        gamma = (4 * d + 64) * _EPS32
        bound = gamma * (np.einsum("ij,ij->i", queries, queries) + np.einsum("ij,ij->i", centred, centred).max())
        outsider_floor = approx[:, -1].astype(np.float64) - bound
        for row in np.flatnonzero(outsider_floor <= kth + tie_margin):
            diff = centred - queries[row]
            full = np.einsum("ij,ij->i", diff, diff)
            best = np.lexsort((np.arange(n), full))[: k + 1]
            nearest[row] = best[:k]
            kth[row], following[row] = full[best[k - 1]], full[best[k]]
    tied = bool(np.any(following - kth <= tie_margin))
    return np.sort(nearest, axis=1), tied


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
