"""The built-in scVI runner: scvi-tools' SCVI trained on the counts, its latent mean as the embedding.

scvi-tools brings torch, so it is an extra (`pip install 'cellbench[scvi]'`) with an image of its own;
without it, `require_scvi` is one line saying so. Reproducibility: scvi.settings.seed seeds python,
numpy and torch (and the train/validation split), torch runs on `threads` threads, and the trainer is
deterministic, so on CPU the same inputs and seed give the same bytes. On a GPU (device auto finds one)
deterministic algorithms are asked for with a warning where CUDA has none, so bytes may differ there.
The latent representation is the posterior mean (give_mean), not a sample.
"""

from __future__ import annotations

import numpy as np

from cellbench.errors import InputError

SCVI_MISSING = "scvi-tools is not installed: pip install 'cellbench[scvi]' or use the cellbench-scvi image"
N_LATENT = 10
MAX_EPOCHS = 50
DEVICES = ("auto", "cpu", "cuda")


def require_scvi() -> None:
    """An InputError (SCVI_MISSING) when scvi-tools cannot be imported."""
    import importlib.util

    if importlib.util.find_spec("scvi") is None:
        raise InputError(SCVI_MISSING)


def resolve_device(device: str) -> str:
    """'cpu' or 'cuda': auto takes CUDA when torch sees a device; cuda without one is an InputError."""
    import torch

    if device not in DEVICES:
        raise InputError(f"--device must be one of {', '.join(DEVICES)}, not '{device}'")
    available = torch.cuda.is_available()
    if device == "cuda" and not available:
        raise InputError("--device cuda: torch sees no CUDA device (use --device cpu or auto)")
    return "cuda" if device == "cuda" or (device == "auto" and available) else "cpu"


def _import_scvi():
    try:
        import scvi
    except ImportError as exc:  # installed but broken (torch missing or mismatched): still one line
        raise InputError(f"{SCVI_MISSING} ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})") from None
    return scvi


def scvi_latent(counts, cell_ids, batch, *, n_latent: int, max_epochs: int, seed: int, device: str,
                threads: int) -> np.ndarray:
    """Train SCVI on `counts` (cells x genes, raw counts) with batch labels `batch` (or None); latent mean."""
    import logging
    import warnings

    import anndata as ad
    import pandas as pd
    import scipy.sparse as sp
    import torch

    scvi = _import_scvi()
    torch.set_num_threads(threads)
    X = sp.csr_matrix(counts, dtype=np.float32) if sp.issparse(counts) else np.asarray(counts, dtype=np.float32)
    obs = pd.DataFrame(index=pd.Index(np.asarray(cell_ids).astype(str)))
    if batch is not None:
        obs["batch"] = pd.Categorical(np.asarray(batch, dtype=str))
    adata = ad.AnnData(X=X.copy(), obs=obs)
    for name in ("scvi", "lightning", "lightning.pytorch", "pytorch_lightning"):
        logging.getLogger(name).setLevel(logging.WARNING)
    scvi.settings.seed = seed
    scvi.settings.dl_num_workers = 0
    scvi.model.SCVI.setup_anndata(adata, batch_key="batch" if batch is not None else None)
    model = scvi.model.SCVI(adata, n_latent=n_latent)
    with warnings.catch_warnings():
        # lightning's hints (srun on the PATH, few batches per logging interval, deprecations): not ours to fix
        warnings.filterwarnings("ignore", message=".*(srun|log_every_n_steps|treespec|LeafSpec).*")
        model.train(max_epochs=max_epochs, accelerator="gpu" if device == "cuda" else "cpu", devices=1,
                    deterministic=True if device == "cpu" else "warn", benchmark=False, enable_progress_bar=False,
                    enable_model_summary=False)
    return np.asarray(model.get_latent_representation(give_mean=True))


def run_scvi_model(counts, cell_ids, batch, *, batch_key: str | None, counts_layer: str | None,
                   n_latent: int = N_LATENT, max_epochs: int = MAX_EPOCHS, seed: int = 42, device: str = "auto",
                   threads: int = 1, model: str = "scvi", dataset: str = ""):
    """The scVI embedding of `counts` with its provenance record: a models.provenance.ModelOutput."""
    from cellbench.models.contract import check_embedding
    from cellbench.models.provenance import ModelOutput, model_record
    from cellbench.versions import package_versions

    require_scvi()
    used = resolve_device(device)
    latent = scvi_latent(counts, cell_ids, batch, n_latent=n_latent, max_epochs=max_epochs, seed=seed, device=used,
                         threads=threads)
    embedding = check_embedding(latent, len(cell_ids), model=model, dataset=dataset, where="scVI latent")
    params = {"batch_key": batch_key, "counts_layer": counts_layer, "n_latent": n_latent, "max_epochs": max_epochs,
              "device_requested": device, "latent": "posterior mean (give_mean)"}
    packages = package_versions(("cellbench", "scvi-tools", "torch", "lightning", "numpy", "anndata"))
    record = model_record(runner="scvi", runner_version=packages.get("scvi-tools", ""), model=model, dataset=dataset,
                          seed=seed, params=params, packages=packages, device=used)
    return ModelOutput(embedding, record)
