"""Genetic perturbation expression prediction: does predicted expression move like the real one?

Two steps. First the truth, once per dataset. Its two hard parts are:
- a map from every treated cell to one control cell, the reference's `control_cells_map`;
- Wilcoxon differential expression of each condition's cells against its matched controls
  (per condition: filter cells/genes, normalize_total to 1e4, log1p, scanpy rank_genes_groups with
  the controls as reference), the reference's `de_results_wilcoxon`.
cz-benchmarks' own perturbation datasets ship both in the h5ad: `prepare_from_shipped` takes them as
they are, so scores compare with published cz-benchmarks numbers. For other datasets
`prepare_perturbation` recomputes them as the reference's helpers do (`run_multicondition_dge_analysis`;
the map is seeded, within a batch when a match key is given). Either way the truth then holds
- the DE gene filter (pval_adj < 1e-4 and |logfoldchange| >= 1) and the seeded 50 % sample of those
  genes that is evaluated, for conditions where that sample has at least 5 genes (the reference's
  `SingleCellPerturbationDataset` / `sample_de_genes`, with its legacy-MT19937 draws so the same DE
  table gives the same genes);
- the observed mean log-normalized expression (normalize_total 1e4, log1p, all genes) of each
  condition's treated cells and of its matched controls: the truth for MSE and Pearson delta.

`evaluate_prediction` / `evaluate_baseline` then score predicted expression per condition:
- `spearman_correlation_calculation` (the reference's metric): Spearman of the true DE
  logfoldchanges vs the predicted effect over the evaluated genes, where the effect is
  ln((mean_treated + 1e-8) / (mean_control + 1e-8)) of the predictions ("ratio"), or, as the
  reference silently does when any of those means is <= 0, mean_treated - mean_control
  ("difference"); the params say which was used;
- `mean_squared_error` of predicted vs observed mean treated expression, over the condition's top 20
  DE genes (largest |Wilcoxon score|) and over all genes;
- `pearson_delta`: Pearson r of the predicted change (predicted treated minus predicted control
  means) and the observed change (observed treated minus matched control means), over the top 20
  DE genes and over all genes; undefined (a constant change, e.g. "no_change") scores 0, with
  params raw_value "NaN" saying so;
- `jaccard`: overlap of the true DE set (the filtered genes) with the predicted one, the same
  number of genes with the largest nonzero |predicted mean change| ("overlap at N");
and the mean of each over the evaluated conditions (params condition "MEAN").
MSE and Pearson delta compare predictions with the observed log-normalized expression, so they
assume predictions in that scale (log1p of counts per 10,000); Spearman and Jaccard use only ranks
within the prediction. Their gene-wise means are float64 sums in a fixed order (`mean_rows`), so a
sparse and a dense prediction give the same bytes.

Baselines: "no_change" predicts the matched control mean for every condition; "other_mean"
predicts the mean over the other conditions of their observed treated means. A model that does not
beat them is visible in the same metrics.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

from cellbench.errors import InputError
from cellbench.schema import MetricResult
from cellbench.stats import DEFAULT_N_BOOT, metric_ci

log = logging.getLogger("cellbench")

EPS = 1e-8  # the reference's epsilon in the ratio effect
DE_COLUMNS = ("condition", "gene", "score", "logfoldchange", "pval", "pval_adj")
BASELINES = ("no_change", "other_mean")
Effect = Literal["ratio", "difference"]


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


# ---------------------------------------------------------------------------------------------
# prepare


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
        matched = np.empty(treated.size, dtype=np.int64)
        groups = [(treated, controls)] if batches is None else []
        if batches is not None:
            for b in sorted(set(batches[treated].tolist())):
                pool = controls[batches[controls] == b]
                if not pool.size:
                    fallbacks += int((batches[treated] == b).sum())
                    pool = controls
                groups.append((treated[batches[treated] == b], pool))
        for members, pool in groups:
            pos = np.searchsorted(treated, members)
            matched[pos] = rng.choice(pool, size=members.size, replace=members.size > pool.size)
        frames.append(pd.DataFrame({"condition": cond, "treated": cell_ids[treated], "control": cell_ids[matched]}))
    table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["condition", "treated", "control"])
    return table, fallbacks


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
    import scanpy as sc
    import scipy.sparse as sp
    from anndata import AnnData

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
            skipped.append((cond, "no cells or genes left after filtering"))
            continue
        sc.pp.normalize_total(merged, target_sum=target_sum)
        sc.pp.log1p(merged)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sc.tl.rank_genes_groups(merged, "group", groups=["treated"], reference="control", method="wilcoxon")
        df = sc.get.rank_genes_groups_df(merged, group="treated")
        df = df.rename(
            columns={
                "names": "gene",
                "scores": "score",
                "logfoldchanges": "logfoldchange",
                "pvals": "pval",
                "pvals_adj": "pval_adj",
            }
        )
        df["condition"] = cond
        frames.append(df[list(DE_COLUMNS)])
    if not frames:
        return pd.DataFrame({c: pd.Series(dtype=object if c in ("condition", "gene") else float) for c in DE_COLUMNS}), skipped
    de = pd.concat(frames, ignore_index=True)
    de["gene"] = de["gene"].astype(str)
    de["condition"] = de["condition"].astype(str)
    return de, skipped


def filter_de(de: pd.DataFrame, pval_threshold: float = 1e-4, min_abs_logfoldchange: float = 1.0) -> pd.DataFrame:
    """The DE genes: pval_adj < threshold and |logfoldchange| >= minimum (the reference's filter)."""
    mask = (de["pval_adj"] < pval_threshold) & (de["logfoldchange"].abs() >= min_abs_logfoldchange)
    return de[mask]


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


MEAN_CHUNK_ROWS = 1024  # rows mean_rows densifies at a time (fixed, so the sum order is too; ~70 MB at 8k genes)


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


def _first_duplicate(values) -> str | None:
    index = pd.Index(values)
    return str(index[index.duplicated()][0]) if index.has_duplicates else None


def check_expression(counts, genes, cell_ids, conditions, control_name: str) -> None:
    """The checks both prepare paths make on the dataset itself (ids, raw counts, control cells)."""
    import scipy.sparse as sp

    if (dup := _first_duplicate(genes)) is not None:
        raise InputError(f"gene ids are not unique (first duplicate '{dup}')")
    if (dup := _first_duplicate(cell_ids)) is not None:
        raise InputError(f"cell ids are not unique (first duplicate '{dup}')")
    values = counts.data if sp.issparse(counts) else np.asarray(counts)
    if not np.all(np.isfinite(values)):
        raise InputError("the expression matrix has NaN or infinite values")
    if (values < 0).any():
        raise InputError("the expression matrix has negative values; perturbation-prepare needs raw counts")
    if not (conditions == control_name).any():
        present = ", ".join(sorted(set(conditions.tolist()))[:10])
        raise InputError(f"no control cells: no cell has condition '{control_name}' (conditions: {present})")


def observed_truth(
    counts, genes, cell_ids, control_map: pd.DataFrame, de: pd.DataFrame, evaluated: dict[str, list[str]],
    settings: PrepareSettings, skipped: list[tuple[str, int, str]],
) -> PreparedPerturbation:
    """The prepared truth of the conditions in `de`: observed mean log-normalized expression of each
    condition's mapped treated cells and of their controls (counted once per pair, as the reference's
    task pairs them), from the map and DE table of either prepare path."""
    kept = sorted(set(de["condition"].tolist()))
    lognorm = log_normalize(counts, settings.target_sum)
    position = pd.Index(cell_ids)
    treated_mean = np.zeros((len(kept), genes.size))
    control_mean = np.zeros((len(kept), genes.size))
    n_treated = np.zeros(len(kept), dtype=np.int64)
    n_control = np.zeros(len(kept), dtype=np.int64)
    by_cond = dict(tuple(control_map.groupby("condition", sort=True)))
    for i, cond in enumerate(kept):
        pairs = by_cond[cond]
        t_rows = position.get_indexer(pairs["treated"].to_numpy())
        c_rows = position.get_indexer(pairs["control"].to_numpy())  # with multiplicity, as pairs
        treated_mean[i] = mean_rows(lognorm, t_rows)
        control_mean[i] = mean_rows(lognorm, c_rows)
        n_treated[i] = t_rows.size
        n_control[i] = np.unique(c_rows).size
    return PreparedPerturbation(
        genes=genes,
        conditions=np.asarray(kept, dtype=str),
        treated_mean=treated_mean,
        control_mean=control_mean,
        n_treated=n_treated,
        n_control=n_control,
        de=de.reset_index(drop=True),
        evaluated_genes=evaluated,
        control_map=control_map[control_map["condition"].isin(kept)].reset_index(drop=True),
        settings=settings,
        skipped=pd.DataFrame(skipped, columns=["condition", "n_cells", "reason"]),
    )


def prepare_perturbation(
    counts,
    genes,
    cell_ids,
    conditions,
    settings: PrepareSettings = PrepareSettings(),
    *,
    batches=None,
    only: Sequence[str] | None = None,
) -> PreparedPerturbation:
    """Everything the evaluation needs, from raw counts (cells x genes) and each cell's condition,
    recomputing the control map and the DE (for datasets that do not ship them).

    `only` restricts to some conditions (each must have cells); otherwise every non-control
    condition with at least `settings.min_cells` cells is prepared.
    """
    s = settings
    genes = np.asarray(genes).astype(str)
    cell_ids = np.asarray(cell_ids).astype(str)
    conditions = np.asarray(conditions).astype(str)
    check_expression(counts, genes, cell_ids, conditions, s.control_name)

    sizes = pd.Series(conditions[conditions != s.control_name]).value_counts()
    if only is not None:
        only = sorted(set(map(str, only)))
        for cond in only:
            if cond == s.control_name:
                raise InputError(f"condition '{cond}' is the control, not a perturbation")
            if cond not in sizes.index:
                raise InputError(f"condition '{cond}' has no cells")
        candidates = only
    else:
        candidates = sorted(sizes.index.tolist())
    keep = [c for c in candidates if sizes[c] >= s.min_cells]
    skipped = [(c, int(sizes[c]), f"fewer than {s.min_cells} cells") for c in candidates if sizes[c] < s.min_cells]
    if not keep:
        raise InputError(
            f"no condition has at least {s.min_cells} cells (largest: {sizes.max() if len(sizes) else 0}); "
            "lower --min-cells"
        )

    control_map, fallbacks = match_controls(
        conditions, cell_ids, s.control_name, seed=s.seed, batches=batches, only=keep
    )
    if fallbacks:
        log.warning("%d treated cells had no control in their batch; matched to any control", fallbacks)
    de, de_skipped = differential_expression(
        counts,
        genes,
        cell_ids,
        control_map,
        conditions,
        min_genes_per_cell=s.min_genes_per_cell,
        min_cells_per_gene=s.min_cells_per_gene,
        target_sum=s.target_sum,
    )
    for cond, reason in de_skipped:
        skipped.append((cond, int(sizes[cond]), reason))
    if de.empty:
        raise InputError(
            "differential expression left no condition (every cell or gene was filtered; "
            "check --min-genes-per-cell / --min-cells-per-gene)"
        )
    evaluated = sample_evaluated_genes(
        filter_de(de, s.pval_threshold, s.min_abs_logfoldchange), s.fraction_evaluated, s.min_evaluated_genes, s.seed
    )
    return observed_truth(counts, genes, cell_ids, control_map, de, evaluated, s, skipped)


def prepare_from_shipped(
    counts,
    genes,
    cell_ids,
    conditions,
    de: pd.DataFrame,
    control_map: pd.DataFrame,
    settings: PrepareSettings = PrepareSettings(),
    *,
    only: Sequence[str] | None = None,
) -> PreparedPerturbation:
    """The truth of a dataset that ships its DE table and treated -> control map (cz-benchmarks'
    format, read by `cellbench.io.perturbation.read_shipped`), used as they are.

    As the reference's SingleCellPerturbationDataset: the prepared conditions are those of the DE
    table; its DE filter and its seeded gene draw run over the whole shipped table in its row order,
    so `only` (a subset of those conditions) changes no condition's evaluated genes. Checks the
    table and map against the dataset (one-line errors): every mapped cell exists, treated cells
    belong to their condition, controls are control cells, every DE condition is mapped and every
    DE gene is a dataset gene.
    """
    s = settings
    genes = np.asarray(genes).astype(str)
    cell_ids = np.asarray(cell_ids).astype(str)
    conditions = np.asarray(conditions).astype(str)
    check_expression(counts, genes, cell_ids, conditions, s.control_name)
    de_where, map_where = "uns['de_results_wilcoxon']", "uns['control_cells_map']"

    position = pd.Index(cell_ids)
    for role in ("treated", "control"):
        rows = position.get_indexer(control_map[role].to_numpy())
        if (rows < 0).any():
            bad = control_map.iloc[int(np.flatnonzero(rows < 0)[0])]
            raise InputError(f"{map_where}['{bad['condition']}'] names {role} cell '{bad[role]}', not in the dataset")
        wrong = np.flatnonzero(
            conditions[rows] != (control_map["condition"].to_numpy() if role == "treated" else s.control_name)
        )
        if wrong.size:
            bad = control_map.iloc[int(wrong[0])]
            want = f"'{bad['condition']}'" if role == "treated" else f"the control '{s.control_name}'"
            raise InputError(
                f"{map_where}['{bad['condition']}'] maps {role} cell '{bad[role]}' of condition "
                f"'{conditions[rows[wrong[0]]]}', not {want}"
            )

    mapped = set(control_map["condition"].tolist())
    de_conditions = list(dict.fromkeys(de["condition"].tolist()))
    unmapped = [c for c in de_conditions if c not in mapped]
    if unmapped:
        raise InputError(f"{de_where} has condition '{unmapped[0]}', which {map_where} does not map")
    unknown = ~de["gene"].isin(set(genes.tolist()))
    if unknown.any():
        row = de[unknown].iloc[0]
        raise InputError(f"{de_where} names gene '{row['gene']}' (condition '{row['condition']}'), not a dataset gene")
    repeated = de.duplicated(["condition", "gene"])
    if repeated.any():
        row = de[repeated].iloc[0]
        raise InputError(f"{de_where} has more than one row for condition '{row['condition']}', gene '{row['gene']}'")
    if de.empty:
        raise InputError(f"{de_where} has no rows")

    evaluated = sample_evaluated_genes(
        filter_de(de, s.pval_threshold, s.min_abs_logfoldchange), s.fraction_evaluated, s.min_evaluated_genes, s.seed
    )
    sizes = pd.Series(conditions[conditions != s.control_name]).value_counts()
    skipped = [
        (c, int(sizes.get(c, 0)), f"not in {de_where}")
        for c in sorted(set(sizes.index.tolist()) - set(de_conditions))
    ]
    if only is not None:
        only = sorted(set(map(str, only)))
        for cond in only:
            if cond not in de_conditions:
                where = "no cells" if cond not in sizes.index else f"no rows in {de_where}"
                raise InputError(f"condition '{cond}' has {where}")
        de = de[de["condition"].isin(only)]
        evaluated = {c: g for c, g in evaluated.items() if c in only}
        skipped = [row for row in skipped if row[0] in only]
    return observed_truth(counts, genes, cell_ids, control_map, de, evaluated, s, skipped)


def reference_task_uns(prepared: PreparedPerturbation) -> dict:
    """The adata.uns that cz-benchmarks' PerturbationExpressionPredictionTask reads, built from the
    prepared truth (for parity checks): filtered DE as de_results (condition, gene_id,
    logfoldchange), the treated -> control map, the evaluated genes and the config."""
    de = prepared.de_filtered()[["condition", "gene", "logfoldchange"]].rename(columns={"gene": "gene_id"})
    control_map = {
        str(cond): dict(zip(pairs["treated"].astype(str), pairs["control"].astype(str)))
        for cond, pairs in prepared.control_map.groupby("condition", sort=True)
    }
    return {
        "de_results": de.reset_index(drop=True),
        "control_cells_map": control_map,
        "target_conditions_dict": {k: list(v) for k, v in prepared.evaluated_genes.items()},
        "metric_column": "logfoldchange",
        "config": {"condition_key": "condition", "control_name": prepared.settings.control_name},
    }


# ---------------------------------------------------------------------------------------------
# evaluate


def predicted_effect(treated_mean, control_mean, operation: Effect = "ratio") -> tuple[np.ndarray, str]:
    """The predicted effect per gene and the operation actually used.

    "ratio": ln((treated + 1e-8) / (control + 1e-8)); like the reference it falls back to
    "difference" (treated - control) for the whole condition if any mean is <= 0.
    """
    t = np.asarray(treated_mean).ravel()
    c = np.asarray(control_mean).ravel()
    if operation not in ("ratio", "difference"):
        raise ValueError(f"effect must be 'ratio' or 'difference', got '{operation}'")
    if operation == "difference" or np.any(t <= 0.0) or np.any(c <= 0.0):
        return np.asarray(t - c).ravel(), "difference"
    return np.log((t + EPS) / (c + EPS)).ravel(), "ratio"


def spearman_for_condition(
    de_filtered: pd.DataFrame, evaluated: Sequence[str], treated_mean, control_mean, gene_index, effect: Effect = "ratio"
) -> tuple[float, str, int] | None:
    """The reference's per-condition Spearman: true logfoldchange of the evaluated DE genes vs the
    predicted effect. `treated_mean`/`control_mean` are gene vectors in `gene_index` order.
    Returns (value, effect used, n genes) or None when no gene is left (the reference skips those).
    """
    from cellbench.metrics.spearman import spearman_correlation

    table = de_filtered.drop_duplicates("gene").set_index("gene")
    candidates = [g for g in evaluated if g in table.index]
    if not candidates:
        return None
    truth = table.reindex(candidates)["logfoldchange"].to_numpy()
    valid = ~np.isnan(truth)
    genes = np.asarray(candidates)[valid]
    truth = truth[valid]
    idx = pd.Index(gene_index).get_indexer(genes)
    keep = idx >= 0
    if not keep.any():
        return None
    pred, used = predicted_effect(np.asarray(treated_mean)[idx[keep]], np.asarray(control_mean)[idx[keep]], effect)
    return spearman_correlation(truth[keep], pred), used, int(keep.sum())


def top_de_genes(de_condition: pd.DataFrame, n: int = 20) -> np.ndarray:
    """The condition's `n` genes with the largest |Wilcoxon score| (ties: scanpy's order)."""
    order = np.argsort(-np.abs(de_condition["score"].to_numpy(dtype=np.float64)), kind="stable")
    return de_condition["gene"].to_numpy()[order[:n]].astype(str)


def predicted_de_set(pred_treated, pred_control, genes, k: int) -> set[str]:
    """The k genes with the largest nonzero |predicted mean change| (stable in gene order)."""
    change = np.abs(np.asarray(pred_treated, dtype=np.float64) - np.asarray(pred_control, dtype=np.float64))
    order = np.argsort(-change, kind="stable")[:k]
    return {str(genes[i]) for i in order if change[i] > 0}


@dataclass
class ConditionPrediction:
    """Predicted gene-wise means of one condition (float64), in the prepared gene order.

    `control_source` says whether controls came from the prediction or the dataset. (The Spearman
    metric averages as the reference does, in the prediction's dtype: `condition_metrics`'
    `spearman_means`.)
    """

    treated: np.ndarray
    control: np.ndarray
    control_source: str


def condition_metrics(
    prepared: PreparedPerturbation,
    condition: str,
    pred: ConditionPrediction,
    *,
    effect: Effect = "ratio",
    top_n: int = 20,
    spearman_means: tuple[np.ndarray, np.ndarray] | None = None,
) -> list[MetricResult]:
    """All metrics of one condition from its predicted means.

    `spearman_means`: (treated, control) means over the evaluated genes only, computed as the
    reference does (on exactly those columns); default: the matching entries of `pred`.
    """
    from cellbench.metrics.jaccard import jaccard_index
    from cellbench.metrics.mean_squared_error import mean_squared_error
    from cellbench.metrics.pearson_delta import pearson_delta, undefined_score

    i = prepared.index_of(condition)
    genes = prepared.genes
    truth_t = prepared.treated_mean[i]
    truth_c = prepared.control_mean[i]
    de_c = prepared.de[prepared.de["condition"] == condition]
    de_f = prepared.de_filtered()
    de_f = de_f[de_f["condition"] == condition]
    base = {"condition": condition}
    out: list[MetricResult] = []

    evaluated = prepared.evaluated_genes.get(condition)
    if evaluated:
        if spearman_means is not None:
            t_sub, c_sub = spearman_means
            gene_index = pd.Index(evaluated)
        else:
            t_sub, c_sub, gene_index = pred.treated, pred.control, pd.Index(genes)
        res = spearman_for_condition(de_f, evaluated, t_sub, c_sub, gene_index, effect)
        if res is not None:
            value, used, n = res
            out.append(
                MetricResult(
                    metric_type="spearman_correlation_calculation",
                    value=value,
                    params={**base, "effect": used, "n_genes": n},
                )
            )

    pt = np.asarray(pred.treated, dtype=np.float64)
    pc = np.asarray(pred.control, dtype=np.float64)
    top = pd.Index(genes).get_indexer(top_de_genes(de_c, top_n))
    top = top[top >= 0]
    for label, idx in ((f"top{top_n}_de", top), ("all", np.arange(genes.size))):
        out.append(
            MetricResult(
                metric_type="mean_squared_error",
                value=mean_squared_error(truth_t[idx], pt[idx]),
                params={**base, "genes": label, "n_genes": int(idx.size)},
            )
        )
    for label, idx in ((f"top{top_n}_de", top), ("all", np.arange(genes.size))):
        value, raw = undefined_score(pearson_delta(truth_t[idx], truth_c[idx], pt[idx], pc[idx]))
        out.append(
            MetricResult(
                metric_type="pearson_delta",
                value=value,
                params={**base, "genes": label, "n_genes": int(idx.size), **raw},
            )
        )
    true_set = set(de_f["gene"].astype(str).tolist())
    pred_set = predicted_de_set(pt, pc, genes, len(true_set))
    out.append(
        MetricResult(
            metric_type="jaccard",
            value=jaccard_index(true_set, pred_set) if true_set else float("nan"),
            params={**base, "de_set": "top_abs_change", "n_genes": len(true_set)},
        )
    )
    return out


def mean_over_conditions(
    per_condition: list[MetricResult], *, seed: int = 42, n_boot: int = DEFAULT_N_BOOT
) -> list[MetricResult]:
    """Per metric variant (metric + params other than condition/effect/n_genes/raw_value): the mean over
    conditions where it is defined, params condition "MEAN" and n_conditions, with a bootstrap
    interval over those conditions (n_boot > 0; resampled in condition-name order, so the order
    the conditions were scored in does not change it)."""
    groups: dict[tuple, list[tuple[str, float]]] = {}
    keys: dict[tuple, dict] = {}
    for r in per_condition:
        variant = {k: v for k, v in r.params.items() if k not in ("condition", "effect", "n_genes", "raw_value")}
        key = (r.metric_type, tuple(sorted(variant.items())))
        keys[key] = variant
        if r.value is not None:
            groups.setdefault(key, []).append((str(r.params.get("condition")), r.value))
        else:
            groups.setdefault(key, [])
    out = []
    for key, pairs in groups.items():
        values = [v for _, v in pairs]
        by_name = [v for _, v in sorted(pairs, key=lambda p: p[0])]
        out.append(
            MetricResult(
                metric_type=key[0],
                value=float(np.mean(values)) if values else float("nan"),
                params={"condition": "MEAN", **keys[key], "n_conditions": len(values)},
                ci=metric_ci(by_name, unit="conditions", seed=seed, n_boot=n_boot),
            )
        )
    return out


def select_conditions(prepared: PreparedPerturbation, conditions: Sequence[str] | None, source: str = "prepared") -> list[str]:
    if conditions is None:
        return [str(c) for c in prepared.conditions]
    out = []
    for cond in conditions:
        if cond not in set(prepared.conditions.tolist()):
            skipped = prepared.skipped[prepared.skipped["condition"] == cond]
            why = (
                f"was skipped in prepare ({skipped['reason'].iloc[0]})"
                if len(skipped)
                else "has no cells in the prepared dataset"
            )
            raise InputError(f"{source}: condition '{cond}' {why}")
        if cond not in out:
            out.append(cond)
    return out


def evaluate_prediction(
    prepared: PreparedPerturbation,
    prediction,
    cell_ids,
    *,
    conditions: Sequence[str] | None = None,
    effect: Effect = "ratio",
    top_n: int = 20,
    source: str = "prediction",
    seed: int | None = None,
    n_boot: int = DEFAULT_N_BOOT,
) -> tuple[list[MetricResult], dict]:
    """Score a per-cell prediction (cells x prepared genes, rows named by `cell_ids`).

    Treated cells of every evaluated condition must be in the prediction. Their matched controls
    are averaged from the prediction when it has them all (as the reference), from the observed
    controls when it has none (then the prediction must be log-normalized, like the truth); a
    prediction with only some of them is an error. The condition MEAN rows carry a bootstrap
    interval over conditions (n_boot > 0; seed default: the prepare seed).
    """
    import scipy.sparse as sp

    if prediction.shape[1] != prepared.genes.size:
        raise ValueError(f"prediction has {prediction.shape[1]} genes, prepared {prepared.genes.size}")
    index = pd.Index(np.asarray(cell_ids).astype(str))
    if index.has_duplicates:
        raise InputError(f"{source}: cell ids are not unique (first duplicate '{index[index.duplicated()][0]}')")
    chosen = select_conditions(prepared, conditions)
    by_cond = dict(tuple(prepared.control_map.groupby("condition", sort=True)))
    per_condition: list[MetricResult] = []
    sources = {}
    for cond in chosen:
        pairs = by_cond[cond]
        t_rows = index.get_indexer(pairs["treated"].to_numpy())
        missing = np.flatnonzero(t_rows < 0)
        if missing.size:
            raise InputError(
                f"{source}: {missing.size} of {t_rows.size} cells of condition '{cond}' are missing, "
                f"first '{pairs['treated'].iloc[missing[0]]}'"
            )
        c_rows = index.get_indexer(pairs["control"].to_numpy())
        i = prepared.index_of(cond)
        if (c_rows >= 0).all():
            control_source = "prediction"
        elif (c_rows < 0).all():
            control_source = "dataset"
        else:
            first = pairs["control"].iloc[int(np.flatnonzero(c_rows < 0)[0])]
            raise InputError(
                f"{source}: has some but not all matched control cells of condition '{cond}' "
                f"(first missing '{first}'); give all of them or none"
            )
        treated = mean_rows(prediction, t_rows)
        control = mean_rows(prediction, c_rows) if control_source == "prediction" else prepared.control_mean[i]
        # the reference averages the evaluated genes' columns on their own, in the prediction's dtype
        spearman_means = None
        evaluated = prepared.evaluated_genes.get(cond)
        if evaluated:
            cols = pd.Index(prepared.genes).get_indexer(evaluated)
            sub = prediction[np.ix_(t_rows, cols)]
            t_sub = np.mean(sub.toarray() if sp.issparse(sub) else sub, axis=0)
            if control_source == "prediction":
                sub = prediction[np.ix_(c_rows, cols)]
                c_sub = np.mean(sub.toarray() if sp.issparse(sub) else sub, axis=0)
            else:
                c_sub = control[cols].astype(t_sub.dtype)
            spearman_means = (t_sub, c_sub)
        pred = ConditionPrediction(treated, control, control_source)
        per_condition.extend(
            condition_metrics(prepared, cond, pred, effect=effect, top_n=top_n, spearman_means=spearman_means)
        )
        sources[cond] = control_source
    info = {"conditions": chosen, "control_source": sources, "effect_requested": effect}
    seed = prepared.settings.seed if seed is None else seed
    return per_condition + mean_over_conditions(per_condition, seed=seed, n_boot=n_boot), info


def baseline_means(prepared: PreparedPerturbation, kind: str, condition: str) -> ConditionPrediction:
    """A baseline's predicted means: "no_change" (the matched control mean) or "other_mean"
    (the mean over the other prepared conditions of their observed treated means)."""
    i = prepared.index_of(condition)
    control = prepared.control_mean[i]
    if kind == "no_change":
        return ConditionPrediction(control.copy(), control, "dataset")
    if kind == "other_mean":
        others = np.flatnonzero(np.arange(prepared.conditions.size) != i)
        if not others.size:
            raise InputError("baseline 'other_mean' needs at least 2 prepared conditions")
        return ConditionPrediction(prepared.treated_mean[others].mean(axis=0), control, "dataset")
    raise ValueError(f"unknown baseline '{kind}' (choose from {', '.join(BASELINES)})")


def evaluate_baseline(
    prepared: PreparedPerturbation,
    kind: str,
    *,
    conditions: Sequence[str] | None = None,
    effect: Effect = "ratio",
    top_n: int = 20,
    seed: int | None = None,
    n_boot: int = DEFAULT_N_BOOT,
) -> tuple[list[MetricResult], dict]:
    """Score a baseline exactly as a model's prediction is scored."""
    chosen = select_conditions(prepared, conditions)
    per_condition: list[MetricResult] = []
    for cond in chosen:
        per_condition.extend(condition_metrics(prepared, cond, baseline_means(prepared, kind, cond), effect=effect, top_n=top_n))
    info = {"conditions": chosen, "baseline": kind, "effect_requested": effect}
    seed = prepared.settings.seed if seed is None else seed
    return per_condition + mean_over_conditions(per_condition, seed=seed, n_boot=n_boot), info
