"""The reference's recipe for a dataset's truth, step by step: the treated -> control map, Wilcoxon
differential expression against the matched controls, and the seeded draw of evaluated DE genes.

Each step reproduces a cz-benchmarks helper (`control_cells_map`, `run_multicondition_dge_analysis`,
`sample_de_genes`) so the same inputs give the same tables; docs/TASKS.md says where they differ.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd

from cellbench.errors import InputError
from cellbench.perturbation_data import DE_COLUMNS

_SCANPY_DE_COLUMNS = {
    "names": "gene",
    "scores": "score",
    "logfoldchanges": "logfoldchange",
    "pvals": "pval",
    "pvals_adj": "pval_adj",
}


def match_controls(
    conditions,
    cell_ids,
    control_name: str,
    *,
    seed: int = 42,
    batches=None,
    only: Sequence[str] | None = None,
) -> tuple[pd.DataFrame, int]:
    """Map every treated cell to one control cell: (table condition/treated/control, n fallbacks).

    Conditions in sorted order, treated cells in dataset order; each condition draws its controls
    from one seeded Generator without replacement (with replacement only when it has more cells
    than there are controls). With `batches`, a cell's control comes from its own batch; a batch
    without controls falls back to all controls (counted in the second return value).

    With replacement, some controls of a small pool go unused (about exp(-treated/controls) of
    them; 319 of 468 used in one report), so the DE, which compares against the map's distinct
    controls, uses fewer of them. Kept on purpose: every treated cell's control stays an independent
    uniform draw from its pool, so the paired control mean is an unbiased estimate of that pool's
    mean, and the map is the strict 1:1 form the reference ships and its DE reads (docs/TASKS.md).
    """
    conditions = np.asarray(conditions).astype(str)
    cell_ids = np.asarray(cell_ids).astype(str)
    is_ctrl = conditions == control_name
    controls = np.flatnonzero(is_ctrl)
    if not controls.size:
        raise InputError(f"no control cells (no cell has condition '{control_name}')")
    rng = np.random.default_rng(seed)
    wanted = sorted(set(conditions[~is_ctrl].tolist())) if only is None else list(only)
    batches = None if batches is None else np.asarray(batches).astype(str)
    frames, fallbacks = [], 0
    for cond in wanted:
        treated = np.flatnonzero(conditions == cond)
        if not treated.size:
            raise InputError(f"condition '{cond}' has no cells")
        groups, missed = _control_pools(treated, controls, batches)
        fallbacks += missed
        matched = np.empty(treated.size, dtype=np.int64)
        for members, pool in groups:
            pos = np.searchsorted(treated, members)
            matched[pos] = rng.choice(pool, size=members.size, replace=members.size > pool.size)
        frames.append(pd.DataFrame({"condition": cond, "treated": cell_ids[treated], "control": cell_ids[matched]}))
    table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["condition", "treated", "control"])
    return table, fallbacks


def _control_pools(treated: np.ndarray, controls: np.ndarray, batches) -> tuple[list[tuple[np.ndarray, np.ndarray]], int]:
    """(treated cells, the control pool they draw from) per batch in sorted order, and the number of
    treated cells whose batch has no controls (they draw from all controls)."""
    if batches is None:
        return [(treated, controls)], 0
    groups, fallbacks = [], 0
    for b in sorted(set(batches[treated].tolist())):
        pool = controls[batches[controls] == b]
        if not pool.size:
            fallbacks += int((batches[treated] == b).sum())
            pool = controls
        groups.append((treated[batches[treated] == b], pool))
    return groups, fallbacks


def differential_expression(
    counts,
    genes,
    cell_ids,
    control_map: pd.DataFrame,
    conditions,
    *,
    min_genes_per_cell: int = 0,
    min_cells_per_gene: int = 10,
    target_sum: float = 1e4,
) -> tuple[pd.DataFrame, list[tuple[str, str]]]:
    """Wilcoxon DE of each mapped condition's cells vs its distinct matched controls.

    As the reference's run_multicondition_dge_analysis: per condition the treated and control
    cells are put together, cells with fewer than `min_genes_per_cell` genes and genes in fewer than
    `min_cells_per_gene` cells are dropped, counts are normalized to `target_sum` and log1p'd, and
    scanpy's rank_genes_groups (wilcoxon, Benjamini-Hochberg) ranks genes against the controls.
    Returns the table (DE_COLUMNS, genes in scanpy's score order) and the conditions it skipped.
    """
    import scipy.sparse as sp

    genes = np.asarray(genes).astype(str)
    conditions = np.asarray(conditions).astype(str)
    position = pd.Index(np.asarray(cell_ids).astype(str))
    counts = sp.csr_matrix(counts) if sp.issparse(counts) else np.asarray(counts)
    if not np.issubdtype(counts.dtype, np.floating):
        counts = counts.astype(np.float32)  # as anndata stores counts; floats keep their precision (the reference's)
    frames, skipped = [], []
    for cond, pairs in control_map.groupby("condition", sort=True):
        treated = np.flatnonzero(conditions == cond)
        ctrl = position.get_indexer(pd.unique(pairs["control"].to_numpy()))
        df = _condition_de(
            counts, genes, position, treated, ctrl,
            min_genes_per_cell=min_genes_per_cell, min_cells_per_gene=min_cells_per_gene, target_sum=target_sum,
        )
        if df is None:
            skipped.append((cond, "no cells or genes left after filtering"))
            continue
        df["condition"] = cond
        frames.append(df[list(DE_COLUMNS)])
    if not frames:
        return pd.DataFrame({c: pd.Series(dtype=object if c in ("condition", "gene") else float) for c in DE_COLUMNS}), skipped
    de = pd.concat(frames, ignore_index=True)
    de["gene"] = de["gene"].astype(str)
    de["condition"] = de["condition"].astype(str)
    return de, skipped


def _condition_de(
    counts, genes, position: pd.Index, treated, ctrl, *, min_genes_per_cell: int, min_cells_per_gene: int, target_sum: float
) -> pd.DataFrame | None:
    """One condition's Wilcoxon table (scanpy's columns renamed), or None when filtering left no
    treated cell, no control cell or no gene."""
    import scanpy as sc
    from anndata import AnnData

    rows = np.concatenate([treated, ctrl])
    merged = AnnData(counts[rows], var=pd.DataFrame(index=genes))
    merged.obs_names = position[rows]
    merged.obs["group"] = pd.Categorical(["treated"] * treated.size + ["control"] * ctrl.size)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if min_genes_per_cell > 0:
            sc.pp.filter_cells(merged, min_genes=min_genes_per_cell)
        if min_cells_per_gene > 0:
            sc.pp.filter_genes(merged, min_cells=min_cells_per_gene)
    sizes = merged.obs["group"].value_counts()
    if merged.n_vars == 0 or sizes.get("treated", 0) < 1 or sizes.get("control", 0) < 1:
        return None
    sc.pp.normalize_total(merged, target_sum=target_sum)
    sc.pp.log1p(merged)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sc.tl.rank_genes_groups(merged, "group", groups=["treated"], reference="control", method="wilcoxon")
    return sc.get.rank_genes_groups_df(merged, group="treated").rename(columns=_SCANPY_DE_COLUMNS)


def sample_evaluated_genes(
    de_filtered: pd.DataFrame,
    fraction: float = 0.5,
    min_genes: int = 5,
    seed: int = 42,
    condition_col: str = "condition",
    gene_col: str = "gene",
) -> dict[str, list[str]]:
    """Per condition (in order of first appearance), a random `fraction` of its DE genes, kept only
    when that is at least `min_genes` genes: cz-benchmarks' `sample_de_genes`, draw for draw.

    The reference seeds numpy's global RandomState once and draws condition after condition; a
    private RandomState(seed) gives the same draws without touching global state.
    """
    if fraction < 0 or min_genes < 0:
        raise ValueError("fraction and min_genes must be >= 0")
    rs = np.random.RandomState(seed)
    out: dict[str, list[str]] = {}
    for cond in de_filtered[condition_col].unique():
        names = de_filtered[de_filtered[condition_col] == cond][gene_col].values
        n = int(len(names) * fraction)
        if n >= min_genes:
            out[str(cond)] = [str(g) for g in rs.choice(names, size=n, replace=False).tolist()]
    return out
