"""The built-in harmony runner: the PCA baseline of the counts, corrected for batch by harmonypy.

The PCA is exactly the baseline's (`cellbench.baselines`: normalize_total, log1p, highly variable
genes, arpack PCA seeded with the seed on one BLAS thread), so harmony's embedding and the `pca`
baseline of the same dataset and seed start from the same numbers and their scores compare the
correction alone. harmonypy then runs with random_state = seed and quietly; its k-means is seeded and
its C++ backend gives the same answer at any thread count, so the same inputs and seed give the same
bytes (seeds above 2**31 - 1 reach its C int random_state as the int32 of the same 32 bits). harmonypy < 2 returns the corrected matrix as PCs x cells: it is turned round here.
"""

from __future__ import annotations

import numpy as np

from cellbench.errors import InputError

N_PCS = 50


def harmony_correct(pcs: np.ndarray, batch: np.ndarray, *, seed: int, threads: int = 1) -> np.ndarray:
    """harmonypy's Z_corr of `pcs` (cells x PCs) for the batch labels `batch`, cells x PCs, float64."""
    import inspect

    import harmonypy
    import pandas as pd

    meta = pd.DataFrame({"batch": np.asarray(batch, dtype=str)})
    kwargs = {"random_state": seed, "verbose": False}
    if "ncores" in inspect.signature(harmonypy.run_harmony).parameters:  # harmonypy >= 2 (C++ backend)
        kwargs["ncores"] = threads
        # its random_state is a C int: a seed above 2**31 - 1 goes in as the int32 of the same 32 bits,
        # so every seed 0..2**32 - 1 stays a different random_state
        kwargs["random_state"] = seed - 2**32 if seed >= 2**31 else seed
    result = harmonypy.run_harmony(np.asarray(pcs, dtype=np.float64), meta, ["batch"], **kwargs)
    z = np.asarray(result.Z_corr, dtype=np.float64)
    return z if z.shape[0] == len(meta) else z.T


def run_harmony_model(adata, counts, batch, *, where: str, batch_key: str, counts_layer: str | None,
                      n_pcs: int = N_PCS, seed: int = 42, threads: int = 1, model: str = "harmony",
                      dataset: str = ""):
    """The harmony embedding of `counts` (raw counts of `adata`'s cells, read from `where`) corrected for
    the labels `batch` (obs column `batch_key`), with its provenance record: a models.provenance.ModelOutput."""
    from cellbench.baselines import baseline_anndata
    from cellbench.models.contract import check_embedding
    from cellbench.models.provenance import ModelOutput, model_record
    from cellbench.versions import package_versions

    n_batches = len(set(np.asarray(batch).tolist()))
    if n_batches < 2:
        raise InputError(f"{where}: obs column '{batch_key}' has {n_batches} batch; harmony needs at least 2")
    base = baseline_anndata(adata, counts, method="pca", where=where, settings={}, n_comps=n_pcs, seed=seed)
    pca = base.uns["cellbench_baseline"]
    corrected = harmony_correct(base.obsm["X_pca"], batch, seed=seed, threads=threads)
    embedding = check_embedding(corrected, adata.n_obs, model=model, dataset=dataset, where="harmony output")
    params = {"batch_key": batch_key, "counts_layer": counts_layer, "n_batches": n_batches, "n_pcs": n_pcs,
              "n_top_genes": int(pca["n_top_genes"]), "n_genes_used": int(pca["n_genes_used"]),
              "pca": "cellbench baseline pca"}
    packages = package_versions(("cellbench", "harmonypy", "numpy", "scanpy", "scipy"))
    record = model_record(runner="harmony", runner_version=packages.get("harmonypy", ""), model=model,
                          dataset=dataset, seed=seed, params=params, packages=packages, device="cpu")
    return ModelOutput(embedding, record)
