"""Log-normalized expression and gene-wise means: the two computations prepare and evaluate share."""

from __future__ import annotations

import numpy as np

MEAN_CHUNK_ROWS = 1024  # rows mean_rows densifies at a time (fixed, so the sum order is too; ~70 MB at 8k genes)


def log_normalize(counts, target_sum: float = 1e4):
    """log1p(counts scaled to `target_sum` per cell) as scanpy's normalize_total + log1p (float64 CSR)."""
    import scanpy as sc
    import scipy.sparse as sp
    from anndata import AnnData

    X = sp.csr_matrix(counts, dtype=np.float64) if sp.issparse(counts) else np.asarray(counts, dtype=np.float64)
    a = AnnData(X)
    sc.pp.normalize_total(a, target_sum=target_sum)
    sc.pp.log1p(a)
    return a.X


def mean_rows(X, rows) -> np.ndarray:
    """Mean of the given rows (with repeats) of a dense or sparse matrix, in float64.

    Rows are densified in fixed chunks and summed in the same order whatever the storage, so a
    sparse and a dense copy of the same values give the same bytes (scipy's sparse mean sums in
    another order and in the matrix's own dtype: float32 predictions moved MSE by up to 1.5e-9).
    """
    import scipy.sparse as sp

    rows = np.asarray(rows, dtype=np.int64)
    total = np.zeros(X.shape[1], dtype=np.float64)
    for start in range(0, rows.size, MEAN_CHUNK_ROWS):
        block = X[rows[start : start + MEAN_CHUNK_ROWS]]
        block = block.toarray() if sp.issparse(block) else np.asarray(block)
        total += block.astype(np.float64, copy=False).sum(axis=0)
    return total / rows.size if rows.size else np.full(X.shape[1], np.nan)
