#!/usr/bin/env python3
"""cellbench-example-model: a tiny model that follows cellbench's container contract (docs/models.md).

It embeds each cell as a seeded Gaussian random projection of its log1p(CP10k) counts to 32 dimensions,
using numpy and anndata only. It exists as the worked example of the contract and as the model image CI
runs; it is not a useful model.

    cellbench-example-model --input dataset.h5ad --output raw.h5ad --seed 42 --device cpu --batch-size 64 \
        [--gene-col COL] [--weights DIR_OR_NPY]

Inputs
    --input       the dataset .h5ad; counts are its layer "counts" when it has one, else X
    --output      where to write the raw output: obs_names = the dataset's cell ids, obsm["X_emb"] float32
                  (n_cells x 32, or x the weights' columns), X with no columns
    --seed        seeds the random projection (same seed, same embedding, to the bit)
    --device      cpu or cuda; this model has no GPU code, so cuda runs on the CPU (said on stderr)
    --batch-size  cells projected at a time (bounds the memory of the dense normalised block)
    --gene-col    var column with the gene ids the weights are keyed by (default: var_names)
    --weights     a .npy projection matrix (genes x dims) in the dataset's gene order, or a folder with
                  projection.npy and, optionally, genes.txt (one gene id per row of the matrix: the
                  matrix is then aligned to the dataset's genes by id, missing genes count as zero)

Exit status (the pipeline shows the last stderr line)
    0  success
    2  bad arguments (usage error)
    3  the dataset cannot be used (unreadable, no cells, no genes, negative or non-finite counts,
       --gene-col not a var column)
    4  the weights cannot be used (unreadable, wrong shape, non-finite, no gene in common)
    5  the output cannot be written
    1  anything else (a bug)

--simulate is for tests only: it makes the model misbehave on purpose (exit3: exit 3; crash: an
uncaught exception; nan: NaN in the output; missing-cells: one cell fewer; extra-cells: one unknown
cell; duplicate-cells: a cell id twice; no-embedding: no obsm["X_emb"]).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

N_DIMS = 32
SIMULATIONS = ("exit3", "crash", "nan", "missing-cells", "extra-cells", "duplicate-cells", "no-embedding")


class ModelError(Exception):
    """A failure with its documented exit status."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="cellbench-example-model",
        description="Seeded Gaussian random projection of log1p(CP10k) counts (cellbench container contract).",
    )
    p.add_argument("--input", required=True, type=Path, help="dataset .h5ad")
    p.add_argument("--output", required=True, type=Path, help="raw output .h5ad (obsm['X_emb'])")
    p.add_argument("--seed", required=True, type=int, help="random seed (0..4294967295)")
    p.add_argument("--device", required=True, choices=("cpu", "cuda"), help="cpu or cuda")
    p.add_argument("--batch-size", required=True, type=int, help="cells per batch (>= 1)")
    p.add_argument("--gene-col", default=None, help="var column of gene ids (default: var_names)")
    p.add_argument("--weights", default=None, type=Path, help="projection .npy, or a folder with projection.npy")
    p.add_argument("--simulate", default=None, choices=SIMULATIONS, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if not 0 <= args.seed <= 2**32 - 1:
        p.error(f"--seed must be in 0..4294967295, got {args.seed}")
    if args.batch_size < 1:
        p.error(f"--batch-size must be >= 1, got {args.batch_size}")
    return args


def load_counts(path: Path, gene_col: str | None):
    """The dataset's cell ids, gene ids and counts matrix (layer 'counts' if present, else X)."""
    import anndata as ad

    try:
        adata = ad.read_h5ad(path)
    except Exception as exc:  # noqa: BLE001 - any reader failure is "the dataset cannot be used"
        raise ModelError(3, f"cannot read the dataset {path}: {type(exc).__name__}: {exc}") from None
    if adata.n_obs == 0 or adata.n_vars == 0:
        raise ModelError(3, f"the dataset {path} has {adata.n_obs} cells and {adata.n_vars} genes")
    if gene_col is None:
        genes = np.asarray(adata.var_names, dtype=str)
    elif gene_col in adata.var.columns:
        genes = np.asarray(adata.var[gene_col].astype(str), dtype=str)
    else:
        raise ModelError(3, f"--gene-col {gene_col!r} is not a var column of {path}")
    counts = adata.layers.get("counts", adata.X)
    if counts is None:
        raise ModelError(3, f"the dataset {path} has no X and no 'counts' layer")
    return np.asarray(adata.obs_names, dtype=str), genes, counts


def load_weights(path: Path, genes: np.ndarray) -> np.ndarray:
    """The projection matrix (genes x dims) in the dataset's gene order."""
    matrix_file = path / "projection.npy" if path.is_dir() else path
    try:
        w = np.load(matrix_file, allow_pickle=False)
    except Exception as exc:  # noqa: BLE001
        raise ModelError(4, f"cannot read the weights {matrix_file}: {type(exc).__name__}: {exc}") from None
    if w.ndim != 2 or w.shape[1] < 1 or not np.issubdtype(w.dtype, np.number):
        raise ModelError(4, f"the weights {matrix_file} must be a numeric genes x dims matrix, got shape {w.shape}")
    if not np.isfinite(w).all():
        raise ModelError(4, f"the weights {matrix_file} are not all finite")
    gene_file = path / "genes.txt" if path.is_dir() else None
    if gene_file is not None and gene_file.exists():
        weight_genes = gene_file.read_text().split()
        if len(weight_genes) != w.shape[0]:
            raise ModelError(4, f"{gene_file} lists {len(weight_genes)} genes, the matrix has {w.shape[0]} rows")
        row = {g: i for i, g in enumerate(weight_genes)}
        aligned = np.zeros((len(genes), w.shape[1]), dtype=np.float64)
        hits = [(j, row[g]) for j, g in enumerate(genes) if g in row]
        if not hits:
            raise ModelError(4, f"no gene of the dataset is in {gene_file}")
        cols, rows = zip(*hits)
        aligned[list(cols)] = w[list(rows)]
        return aligned
    if w.shape[0] != len(genes):
        raise ModelError(4, f"the weights {matrix_file} have {w.shape[0]} rows, the dataset has {len(genes)} genes")
    return w.astype(np.float64)


def random_projection(n_genes: int, seed: int) -> np.ndarray:
    """Gaussian projection N(0, 1/N_DIMS), seeded: the same seed gives the same matrix."""
    rng = np.random.default_rng(seed)
    return rng.normal(0.0, 1.0 / np.sqrt(N_DIMS), size=(n_genes, N_DIMS))


def embed(counts, projection: np.ndarray, batch_size: int) -> np.ndarray:
    """log1p(CP10k) of each batch of cells, times the projection; float32."""
    import scipy.sparse as sp

    n = counts.shape[0]
    out = np.empty((n, projection.shape[1]), dtype=np.float32)
    for start in range(0, n, batch_size):
        block = counts[start : start + batch_size]
        block = block.toarray() if sp.issparse(block) else np.asarray(block)
        block = block.astype(np.float64)
        if not np.isfinite(block).all() or (block < 0).any():
            raise ModelError(3, "the counts have negative or non-finite values")
        totals = block.sum(axis=1, keepdims=True)
        norm = np.divide(block * 1e4, totals, out=np.zeros_like(block), where=totals > 0)
        out[start : start + batch_size] = np.log1p(norm) @ projection
    return out


def write_output(path: Path, cells: np.ndarray, emb: np.ndarray) -> None:
    import anndata as ad
    import pandas as pd

    out = ad.AnnData(X=np.zeros((len(cells), 0), dtype=np.float32), obs=pd.DataFrame(index=pd.Index(cells)))
    out.obsm["X_emb"] = emb
    try:
        out.write_h5ad(path)
    except Exception as exc:  # noqa: BLE001
        raise ModelError(5, f"cannot write {path}: {type(exc).__name__}: {exc}") from None


def misbehave(kind: str | None, cells: np.ndarray, emb: np.ndarray):
    """--simulate (tests only): return the broken output, or fail the way asked."""
    if kind == "exit3":
        raise ModelError(3, "simulated failure (--simulate exit3)")
    if kind == "crash":
        raise RuntimeError("simulated crash (--simulate crash)")
    if kind == "nan":
        emb = emb.copy()
        emb[0, 0] = np.nan
    elif kind == "missing-cells":
        cells, emb = cells[1:], emb[1:]
    elif kind == "extra-cells":
        cells = np.concatenate([cells, ["not-a-cell-of-the-dataset"]])
        emb = np.vstack([emb, emb[:1]])
    elif kind == "duplicate-cells":
        cells = np.concatenate([cells[:-1], cells[:1]])
    return cells, emb


def run(args: argparse.Namespace) -> None:
    if args.device == "cuda":
        print("cellbench-example-model: no GPU code in this model; running on the CPU", file=sys.stderr)
    cells, genes, counts = load_counts(args.input, args.gene_col)
    if args.weights is not None:
        projection = load_weights(args.weights, genes)
    else:
        projection = random_projection(len(genes), args.seed)
    emb = embed(counts, projection, args.batch_size)
    cells, emb = misbehave(args.simulate, cells, emb)
    if args.simulate == "no-embedding":
        import anndata as ad
        import pandas as pd

        ad.AnnData(obs=pd.DataFrame(index=pd.Index(cells))).write_h5ad(args.output)
        return
    write_output(args.output, cells, emb)
    print(f"cellbench-example-model: {len(cells)} cells x {emb.shape[1]} dims -> {args.output}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        run(args)
    except ModelError as exc:
        print(f"cellbench-example-model: error: {exc}", file=sys.stderr)
        return exc.status
    return 0


if __name__ == "__main__":
    sys.exit(main())
