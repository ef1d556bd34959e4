"""The truth a perturbation prediction is scored against, from raw counts: recomputed with the
reference's recipe (`prepare_perturbation`) or taken from what a dataset ships (`prepare_from_shipped`).

Both paths end alike: DE filter, seeded draw of the evaluated genes, and the observed mean
log-normalized expression of each condition's treated cells and matched controls (`observed_truth`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import pandas as pd

from cellbench.errors import InputError
from cellbench.perturbation_data import PreparedPerturbation, PrepareSettings, filter_de
from cellbench.tasks.perturbation.de import differential_expression, match_controls, sample_evaluated_genes
from cellbench.tasks.perturbation.expression import log_normalize, mean_rows

log = logging.getLogger("cellbench")

DEFAULT_SETTINGS = PrepareSettings()  # frozen, so one shared default is safe
SHIPPED_DE_WHERE, SHIPPED_MAP_WHERE = "uns['de_results_wilcoxon']", "uns['control_cells_map']"


def prepare_truth(
    counts,
    genes,
    cell_ids,
    conditions,
    settings: PrepareSettings,
    *,
    batches=None,
    shipped: tuple[pd.DataFrame, pd.DataFrame] | None = None,
    only: Sequence[str] | None = None,
) -> PreparedPerturbation:
    """The truth by the path `perturbation-prepare` chose: the `shipped` (DE table, control map) when
    given, else recomputed (control cells matched within `batches` when given)."""
    if shipped is not None:
        de, control_map = shipped
        return prepare_from_shipped(counts, genes, cell_ids, conditions, de, control_map, settings, only=only)
    return prepare_perturbation(counts, genes, cell_ids, conditions, settings, batches=batches, only=only)


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


def _checked_ids(counts, genes, cell_ids, conditions, control_name: str):
    """(genes, cell ids, conditions) as str arrays, after `check_expression`."""
    genes = np.asarray(genes).astype(str)
    cell_ids = np.asarray(cell_ids).astype(str)
    conditions = np.asarray(conditions).astype(str)
    check_expression(counts, genes, cell_ids, conditions, control_name)
    return genes, cell_ids, conditions


def _evaluated_genes(de: pd.DataFrame, s: PrepareSettings) -> dict[str, list[str]]:
    return sample_evaluated_genes(
        filter_de(de, s.pval_threshold, s.min_abs_logfoldchange), s.fraction_evaluated, s.min_evaluated_genes, s.seed
    )


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


# ---------------------------------------------------------------------------------------------
# recomputed


def prepare_perturbation(
    counts,
    genes,
    cell_ids,
    conditions,
    settings: PrepareSettings = DEFAULT_SETTINGS,
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
    genes, cell_ids, conditions = _checked_ids(counts, genes, cell_ids, conditions, s.control_name)
    sizes = pd.Series(conditions[conditions != s.control_name]).value_counts()
    keep, skipped = _conditions_with_enough_cells(sizes, s, only)
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
    return observed_truth(counts, genes, cell_ids, control_map, de, _evaluated_genes(de, s), s, skipped)


def _conditions_with_enough_cells(
    sizes: pd.Series, s: PrepareSettings, only: Sequence[str] | None
) -> tuple[list[str], list[tuple[str, int, str]]]:
    """The conditions to prepare (`only`, else all; each with at least `s.min_cells` cells) and the
    skipped rows of those with fewer; an error when none is left."""
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
    return keep, skipped


# ---------------------------------------------------------------------------------------------
# shipped


def prepare_from_shipped(
    counts,
    genes,
    cell_ids,
    conditions,
    de: pd.DataFrame,
    control_map: pd.DataFrame,
    settings: PrepareSettings = DEFAULT_SETTINGS,
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
    genes, cell_ids, conditions = _checked_ids(counts, genes, cell_ids, conditions, s.control_name)
    _check_shipped_map(control_map, cell_ids, conditions, s.control_name)
    de_conditions = _check_shipped_de(de, control_map, genes)
    evaluated = _evaluated_genes(de, s)
    sizes = pd.Series(conditions[conditions != s.control_name]).value_counts()
    skipped = [
        (c, int(sizes.get(c, 0)), f"not in {SHIPPED_DE_WHERE}")
        for c in sorted(set(sizes.index.tolist()) - set(de_conditions))
    ]
    if only is not None:
        only = sorted(set(map(str, only)))
        for cond in only:
            if cond not in de_conditions:
                where = "no cells" if cond not in sizes.index else f"no rows in {SHIPPED_DE_WHERE}"
                raise InputError(f"condition '{cond}' has {where}")
        de = de[de["condition"].isin(only)]
        evaluated = {c: g for c, g in evaluated.items() if c in only}
        skipped = [row for row in skipped if row[0] in only]
    return observed_truth(counts, genes, cell_ids, control_map, de, evaluated, s, skipped)


def _check_shipped_map(control_map: pd.DataFrame, cell_ids, conditions, control_name: str) -> None:
    """Every mapped cell is a dataset cell; treated cells are of their condition, controls are controls."""
    position = pd.Index(cell_ids)
    for role in ("treated", "control"):
        rows = position.get_indexer(control_map[role].to_numpy())
        if (rows < 0).any():
            bad = control_map.iloc[int(np.flatnonzero(rows < 0)[0])]
            raise InputError(f"{SHIPPED_MAP_WHERE}['{bad['condition']}'] names {role} cell '{bad[role]}', not in the dataset")
        wrong = np.flatnonzero(
            conditions[rows] != (control_map["condition"].to_numpy() if role == "treated" else control_name)
        )
        if wrong.size:
            bad = control_map.iloc[int(wrong[0])]
            want = f"'{bad['condition']}'" if role == "treated" else f"the control '{control_name}'"
            raise InputError(
                f"{SHIPPED_MAP_WHERE}['{bad['condition']}'] maps {role} cell '{bad[role]}' of condition "
                f"'{conditions[rows[wrong[0]]]}', not {want}"
            )


def _check_shipped_de(de: pd.DataFrame, control_map: pd.DataFrame, genes) -> list[str]:
    """The DE table's conditions (in order of appearance), after checking each is mapped, each gene is
    a dataset gene, no (condition, gene) repeats and the table is not empty."""
    mapped = set(control_map["condition"].tolist())
    de_conditions = list(dict.fromkeys(de["condition"].tolist()))
    unmapped = [c for c in de_conditions if c not in mapped]
    if unmapped:
        raise InputError(f"{SHIPPED_DE_WHERE} has condition '{unmapped[0]}', which {SHIPPED_MAP_WHERE} does not map")
    unknown = ~de["gene"].isin(set(genes.tolist()))
    if unknown.any():
        row = de[unknown].iloc[0]
        raise InputError(f"{SHIPPED_DE_WHERE} names gene '{row['gene']}' (condition '{row['condition']}'), not a dataset gene")
    repeated = de.duplicated(["condition", "gene"])
    if repeated.any():
        row = de[repeated].iloc[0]
        raise InputError(f"{SHIPPED_DE_WHERE} has more than one row for condition '{row['condition']}', gene '{row['gene']}'")
    if de.empty:
        raise InputError(f"{SHIPPED_DE_WHERE} has no rows")
    return de_conditions
