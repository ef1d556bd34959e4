"""Baseline representations: the PCA of scanpy's standard workflow, and the raw expression itself.

PCA baseline (cz-benchmarks `run_standard_scrna_workflow`): from raw counts, normalize_total (target
= median cell total) -> log1p -> highly variable genes (flavor "seurat", n_top_genes, all genes when
there are fewer) -> subset -> PCA (n_comps, zero-centred, arpack, random_state = seed).

The reference densifies the whole count matrix first; here normalisation, log1p and gene selection
run on the sparse matrix and only the selected genes are densified for PCA, which gives the same
numbers (checked against the reference workflow on real data) in a fraction of the memory.
"""

from __future__ import annotations

import logging

import numpy as np

from cellbench.errors import InputError

log = logging.getLogger("cellbench")

N_TOP_GENES = 3000
N_COMPS = 50


def pca_baseline(counts, *, n_top_genes: int = N_TOP_GENES, n_comps: int = N_COMPS, seed: int = 42) -> dict:
    """PCA of the standard workflow. Returns {"X_pca": float32 (n_cells, n_comps), "n_genes_used": int}.

    `counts` is a cells x genes matrix of raw counts (dense or scipy sparse). Raises ValueError when
    n_comps is not below min(n_cells, n_genes) (arpack's limit).
    """
    import anndata as ad
    import scanpy as sc
    import scipy.sparse as sp

    n_cells, n_genes = counts.shape
    if not 0 < n_comps < min(n_cells, n_genes):
        raise ValueError(
            f"n_comps={n_comps} must be below min(n_cells, n_genes) = {min(n_cells, n_genes)} for arpack PCA"
        )
    X = sp.csr_matrix(counts, dtype=np.float32) if sp.issparse(counts) else np.asarray(counts, dtype=np.float32)
    adata = ad.AnnData(X=X.copy())
    sc.pp.normalize_total(adata)
    sc.pp.log1p(adata)
    # Called even when there are fewer genes than n_top_genes (scanpy then keeps them all): the
    # reference does, and PCA then runs on the subset copy, whose layout changes arpack's last digits.
    sc.pp.highly_variable_genes(adata, n_top_genes=n_top_genes, flavor="seurat")
    adata = adata[:, adata.var["highly_variable"].to_numpy()].copy()
    n_used = adata.n_vars
    if not n_comps < min(n_cells, n_used):
        raise ValueError(f"n_comps={n_comps} must be below the {n_used} selected genes for arpack PCA")
    if sp.issparse(adata.X):
        adata.X = adata.X.toarray()
    # arpack on one BLAS thread: its answer otherwise follows the thread count (cellbench.threads);
    # normalisation, log1p and gene selection do not. Cost: benchmarks/results/thread_invariance.md.
    from cellbench.threads import one_blas_thread

    with one_blas_thread():
        sc.pp.pca(adata, n_comps=n_comps, svd_solver="arpack", zero_center=True, random_state=seed)
    return {"X_pca": np.asarray(adata.obsm["X_pca"], dtype=np.float32), "n_genes_used": int(n_used)}


def looks_like_counts(matrix, sample: int = 1000, seed: int = 42) -> bool:
    """True when sampled cells' values are non-negative integers (a cheap guard, not a proof)."""
    import scipy.sparse as sp

    n = matrix.shape[0]
    rows = np.random.default_rng(seed).choice(n, size=min(sample, n), replace=False)
    part = matrix[np.sort(rows)]
    values = part.data if sp.issparse(part) else np.asarray(part).ravel()
    return bool(np.all(values >= 0) and np.all(np.abs(values - np.rint(values)) < 1e-3))


def baseline_anndata(adata, matrix, *, method: str, where: str, settings: dict, n_top_genes: int = N_TOP_GENES,
                     n_comps: int = N_COMPS, seed: int = 42):
    """The baseline file of `cellbench baseline` as an AnnData with `adata`'s cell ids: obsm["X_pca"]
    (method "pca") or the expression `matrix` itself as X ("raw"); uns["cellbench_baseline"] holds
    `settings` plus, for PCA, its own. A matrix no baseline can be made of is an InputError naming `where`."""
    import anndata as ad
    import pandas as pd
    import scipy.sparse as sp

    if matrix is None or matrix.shape[0] == 0 or matrix.shape[1] == 0:
        raise InputError(f"{where}: no expression matrix")
    values = matrix.data if sp.issparse(matrix) else np.asarray(matrix)
    if not np.all(np.isfinite(values)):
        raise InputError(f"{where}: expression matrix has NaN/inf values")
    settings = dict(settings)
    obs = pd.DataFrame(index=pd.Index(adata.obs_names.astype(str), name=None))
    if method == "pca":
        if np.any(values < 0):
            raise InputError(f"{where}: negative values, not raw counts (give the counts with --layer)")
        if not looks_like_counts(matrix, seed=seed):
            log.warning("%s: values are not all integers; the PCA baseline expects raw counts", where)
        try:
            pca = pca_baseline(matrix, n_top_genes=n_top_genes, n_comps=n_comps, seed=seed)
        except ValueError as exc:
            raise InputError(f"{where}: {exc}") from None
        settings.update(n_top_genes=n_top_genes, n_comps=n_comps, seed=seed, n_genes_used=pca["n_genes_used"])
        out = ad.AnnData(obs=obs, obsm={"X_pca": pca["X_pca"]})
    else:
        X = sp.csr_matrix(matrix) if sp.issparse(matrix) else np.asarray(matrix)
        out = ad.AnnData(X=X, obs=obs, var=pd.DataFrame(index=adata.var_names.astype(str)))
    out.uns["cellbench_baseline"] = {k: ("" if v is None else v) for k, v in settings.items()}
    return out
