"""The perturbation truth's data model, shared by io (which reads and writes it) and tasks (which
compute and score it); a bottom-layer module so neither of those has to import the other.

`PreparedPerturbation` is what `cellbench perturbation-prepare` writes and `cellbench perturbation`
scores against; `PrepareSettings` is everything it was prepared with (recorded in the file and in
each result's params).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

DE_COLUMNS = ("condition", "gene", "score", "logfoldchange", "pval", "pval_adj")


@dataclass(frozen=True)
class PrepareSettings:
    """Everything `prepare_perturbation` depends on; recorded in the prepared file."""

    condition_key: str = "condition"
    control_name: str = "ctrl"
    match_key: str | None = None  # match treated to control cells within this obs column (e.g. a batch)
    min_cells: int = 50  # conditions with fewer cells are skipped (the reference's min_pert_cells)
    min_genes_per_cell: int = 0  # the reference's helper uses 1000, meant for whole-transcriptome data
    min_cells_per_gene: int = 10
    target_sum: float = 1e4
    pval_threshold: float = 1e-4
    min_abs_logfoldchange: float = 1.0
    fraction_evaluated: float = 0.5
    min_evaluated_genes: int = 5
    seed: int = 42
    obs_query: str | None = None  # the cell filter applied before preparing (provenance only)
    de_source: str = "recomputed"  # "shipped": the dataset's own DE table and control map were used
    de_gene_col: str | None = None  # gene column of the shipped DE table (shipped only)

    #: Settings of the recomputation, meaningless (so not recorded) when the dataset shipped its truth.
    RECOMPUTE_ONLY = ("match_key", "min_cells", "min_genes_per_cell", "min_cells_per_gene", "obs_query")

    def as_dict(self) -> dict:
        skip = self.RECOMPUTE_ONLY if self.de_source == "shipped" else ()
        return {k: v for k, v in self.__dict__.items() if v is not None and k not in skip}


def filter_de(de: pd.DataFrame, pval_threshold: float = 1e-4, min_abs_logfoldchange: float = 1.0) -> pd.DataFrame:
    """The DE genes: pval_adj < threshold and |logfoldchange| >= minimum (the reference's filter)."""
    mask = (de["pval_adj"] < pval_threshold) & (de["logfoldchange"].abs() >= min_abs_logfoldchange)
    return de[mask]


@dataclass
class PreparedPerturbation:
    """The truth a perturbation prediction is scored against (conditions sorted as strings)."""

    genes: np.ndarray  # (n_genes,) str
    conditions: np.ndarray  # (n_conditions,) str
    treated_mean: np.ndarray  # (n_conditions, n_genes) observed mean log-normalized expression
    control_mean: np.ndarray  # (n_conditions, n_genes) same, over each condition's matched controls
    n_treated: np.ndarray
    n_control: np.ndarray  # distinct matched control cells
    de: pd.DataFrame  # DE_COLUMNS, every tested gene of every condition
    evaluated_genes: dict[str, list[str]]  # condition -> sampled DE genes (only conditions with enough)
    control_map: pd.DataFrame  # condition, treated, control (cell ids)
    settings: PrepareSettings = field(default_factory=PrepareSettings)
    skipped: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["condition", "n_cells", "reason"]))

    def index_of(self, condition: str) -> int:
        hits = np.flatnonzero(self.conditions == condition)
        if not hits.size:
            raise KeyError(condition)
        return int(hits[0])

    def de_filtered(self) -> pd.DataFrame:
        s = self.settings
        return filter_de(self.de, s.pval_threshold, s.min_abs_logfoldchange)
