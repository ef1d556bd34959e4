"""The prepared perturbation truth as one .h5ad file, a dataset's cells and the truth it ships (as
`perturbation-prepare` reads them), and predicted expression aligned to the truth.

Shipped truth (cz-benchmarks' perturbation datasets, `SingleCellPerturbationDataset`):
- uns["de_results_wilcoxon"]: a table with the condition column (--condition-key), the gene column
  (--de-gene-col, "gene_id" in the reference's catalog), score, logfoldchange, pval_adj, and
  optionally pval (the output of the reference's run_multicondition_dge_analysis);
- uns["control_cells_map"]: {condition: {treated cell id: control cell id}}, a strict 1:1 map.

Prepared file layout (written atomically by `cellbench perturbation-prepare`):
- obs: one row per prepared condition (sorted), columns n_treated, n_control, n_de_genes,
  n_evaluated_genes; var: the dataset's genes in the dataset's order;
- X: observed mean log-normalized expression (log1p of counts per 10,000) of each condition's
  treated cells; layers["control_mean"]: the same over its matched control cells;
- uns["de"]: Wilcoxon DE of every tested gene (condition, gene, score, logfoldchange, pval,
  pval_adj); uns["evaluated_genes"]: (condition, gene) rows of the sampled DE genes, in draw order;
  uns["control_map"]: (condition, treated, control) cell ids; uns["skipped"]: conditions left out
  and why; uns["settings"]: the PrepareSettings; uns["cellbench"]: format name and version,
  dataset name and checksum.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from cellbench.errors import InputError
from cellbench.io.atomic import atomic_path
from cellbench.io.dataset import layer_or_x, obs_column, read_h5ad
from cellbench.perturbation_data import DE_COLUMNS, PreparedPerturbation, PrepareSettings

FORMAT = "cellbench-perturbation-prepared"
FORMAT_VERSION = "1"
SHIPPED_DE_KEY = "de_results_wilcoxon"
SHIPPED_MAP_KEY = "control_cells_map"
SHIPPED_KEYS = (SHIPPED_DE_KEY, SHIPPED_MAP_KEY)


def read_shipped(uns, *, condition_key: str = "condition", gene_col: str = "gene_id"):
    """The DE table and control map a dataset ships, as (DE table in DE_COLUMNS, in the shipped row
    order and dtypes; map table condition/treated/control, in the map's order).

    Checks their form only (one-line errors): `prepare_from_shipped` checks them against the cells
    and genes of the dataset.
    """
    missing = [k for k in SHIPPED_KEYS if k not in uns]
    if missing:
        raise InputError(f"lacks uns['{missing[0]}'] (the reference's format ships {' and '.join(SHIPPED_KEYS)})")
    return _shipped_de(uns[SHIPPED_DE_KEY], condition_key, gene_col), _shipped_map(uns[SHIPPED_MAP_KEY])


def _shipped_de(raw, condition_key: str, gene_col: str) -> pd.DataFrame:
    where = f"uns['{SHIPPED_DE_KEY}']"
    if isinstance(raw, dict):
        try:
            raw = pd.DataFrame(raw)
        except (ValueError, TypeError) as exc:
            raise InputError(f"{where} is not a table ({exc})") from None
    if not isinstance(raw, pd.DataFrame):
        raise InputError(f"{where} is a {type(raw).__name__}, not a table")
    source = {"condition": condition_key, "gene": gene_col, "score": "score", "logfoldchange": "logfoldchange",
              "pval": "pval", "pval_adj": "pval_adj"}
    for name, col in source.items():
        if col not in raw.columns and name != "pval":  # pval is only kept, never used
            hint = {
                "gene": " (--de-gene-col names the gene column)",
                "condition": " (--condition-key names the condition column)",
                "score": " (cellbench ranks the top DE genes by it)",
            }.get(name, "")
            raise InputError(f"{where} lacks column '{col}'{hint}; it has {', '.join(map(str, raw.columns))}")
    de = pd.DataFrame(index=pd.RangeIndex(len(raw)))
    for name in DE_COLUMNS:
        col = source[name]
        values = raw[col].reset_index(drop=True) if col in raw.columns else pd.Series(np.nan, index=de.index)
        if name in ("condition", "gene"):
            if values.isna().any():
                raise InputError(f"{where} column '{col}' has a missing value at row {int(np.flatnonzero(values.isna())[0])}")
            values = values.astype(str)
        elif not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
            raise InputError(f"{where} column '{col}' is not numeric ({values.dtype})")
        de[name] = values.to_numpy()
    return de


def _shipped_map(raw) -> pd.DataFrame:
    where = f"uns['{SHIPPED_MAP_KEY}']"
    if not isinstance(raw, dict) or not raw:
        kind = "an empty dict" if isinstance(raw, dict) else f"a {type(raw).__name__}"
        raise InputError(f"{where} is {kind}, not {{condition: {{treated cell id: control cell id}}}}")
    conditions, treated, controls = [], [], []
    for cond, pairs in raw.items():
        if not isinstance(pairs, dict) or not pairs:
            kind = "empty" if isinstance(pairs, dict) else f"a {type(pairs).__name__}"
            raise InputError(f"{where}['{cond}'] is {kind}, not {{treated cell id: control cell id}}")
        for cell, ctrl in pairs.items():
            if not isinstance(ctrl, str):
                raise InputError(
                    f"{where}['{cond}']['{cell}'] is a {type(ctrl).__name__}, not one control cell id "
                    "(a strict 1:1 map, as the reference's task reads it)"
                )
        conditions += [str(cond)] * len(pairs)
        treated += [str(cell) for cell in pairs]
        controls += [str(ctrl) for ctrl in pairs.values()]
    return pd.DataFrame({"condition": conditions, "treated": treated, "control": controls})


@dataclass
class PerturbationDataset:
    """A perturbation dataset as the prepare task takes it: raw counts, ids, each cell's condition."""

    counts: object  # cells x genes, X or the layer asked for
    genes: pd.Index
    cell_ids: pd.Index
    conditions: np.ndarray  # str, one per cell
    batches: np.ndarray | None  # str, the --match-key column, when given
    shipped: tuple[pd.DataFrame, pd.DataFrame] | None  # (DE table, control map) when the shipped truth is used


def load_perturbation_dataset(
    input_path: str,
    *,
    condition_key: str,
    control_name: str,
    layer: str | None = None,
    match_key: str | None = None,
    obs_query: str | None = None,
    de_source: str = "auto",
    de_gene_col: str = "gene_id",
    recompute_options_given: tuple[str, ...] = (),
) -> PerturbationDataset:
    """The cells `perturbation-prepare` reads (after `obs_query`) and, when `de_source` takes it,
    the truth the dataset ships. `recompute_options_given`: the settings in
    PrepareSettings.RECOMPUTE_ONLY given on the command line, an error on the shipped path."""
    from cellbench.io.obs_query import select_cells

    adata = read_h5ad(input_path)
    column = obs_column(adata, condition_key, input_path)
    use_shipped = _use_shipped(adata.uns, de_source, input_path, recompute_options_given)
    if column.isna().any():
        first = column.index[np.flatnonzero(column.isna().to_numpy())[0]]
        raise InputError(f"{input_path}: obs column '{condition_key}' has missing values, first at cell '{first}'")
    if obs_query:
        keep = select_cells(adata.obs, obs_query, source=input_path)
        logging.getLogger("cellbench").info("--obs-query keeps %d of %d cells", int(keep.sum()), adata.n_obs)
        adata = adata[keep].copy()
        column = adata.obs[condition_key]
    counts = layer_or_x(adata, layer, input_path)
    batches = obs_column(adata, match_key, input_path).astype(str).to_numpy() if match_key else None
    conds = column.astype(str).to_numpy()
    if not (conds == control_name).any():
        raise InputError(f"{input_path}: no control cells: obs column '{condition_key}' has no value '{control_name}'"
                         + (" after --obs-query" if obs_query else ""))
    shipped = None
    if use_shipped:
        try:
            shipped = read_shipped(adata.uns, condition_key=condition_key, gene_col=de_gene_col)
        except InputError as exc:
            raise InputError(f"{input_path}: {exc}") from None
    return PerturbationDataset(counts, adata.var_names, adata.obs_names, conds, batches, shipped)


def _use_shipped(uns, de_source: str, input_path: str, recompute_options_given) -> bool:
    """Whether to take the DE table and control map the dataset ships (see --de-source); options that
    only shape a recomputation are an error on that path, not silently ignored."""
    present = [k for k in SHIPPED_KEYS if k in uns]
    if de_source == "recompute" or (de_source == "auto" and not present):
        return False
    if de_source == "auto" and len(present) < len(SHIPPED_KEYS):
        absent = next(k for k in SHIPPED_KEYS if k not in present)
        raise InputError(f"{input_path}: has uns['{present[0]}'] but not uns['{absent}'] (the reference's format "
                         "ships both); give --de-source recompute to recompute both")
    if recompute_options_given:
        name = recompute_options_given[0]
        raise InputError(f"{input_path}: --{name.replace('_', '-')} only applies when the DE is recomputed, and "
                         "the dataset ships its DE table and control map; give --de-source recompute to recompute")
    return True


def write_prepared(prepared, path: str | os.PathLike, *, dataset: str, dataset_sha256: str = "") -> None:
    """Write a PreparedPerturbation as one .h5ad (atomically)."""
    import anndata as ad

    de_f = prepared.de_filtered()
    n_de = de_f.groupby("condition").size()
    obs = pd.DataFrame(
        {
            "n_treated": prepared.n_treated.astype(np.int64),
            "n_control": prepared.n_control.astype(np.int64),
            "n_de_genes": [int(n_de.get(c, 0)) for c in prepared.conditions],
            "n_evaluated_genes": [len(prepared.evaluated_genes.get(c, [])) for c in prepared.conditions],
        },
        index=pd.Index(prepared.conditions, name="condition"),
    )
    evaluated = pd.DataFrame(
        [(c, g) for c, genes in prepared.evaluated_genes.items() for g in genes], columns=["condition", "gene"]
    )
    de = prepared.de.reset_index(drop=True).copy()
    adata = ad.AnnData(
        X=np.asarray(prepared.treated_mean, dtype=np.float64),
        obs=obs,
        var=pd.DataFrame(index=pd.Index(prepared.genes, name="gene")),
        layers={"control_mean": np.asarray(prepared.control_mean, dtype=np.float64)},
        uns={
            "de": de,
            "evaluated_genes": evaluated,
            "control_map": prepared.control_map.reset_index(drop=True).astype(str),
            "skipped": prepared.skipped.reset_index(drop=True).astype({"condition": str, "reason": str}),
            "settings": prepared.settings.as_dict(),
            "cellbench": {
                "format": FORMAT,
                "format_version": FORMAT_VERSION,
                "dataset": dataset,
                "dataset_sha256": dataset_sha256,
            },
        },
    )
    with atomic_path(path) as tmp:
        adata.write_h5ad(tmp)


def read_prepared(path: str | os.PathLike):
    """Read a prepared file back into a PreparedPerturbation; returns (prepared, uns['cellbench'])."""
    adata = read_h5ad(path)
    meta = adata.uns.get("cellbench")
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise InputError(f"{path}: not a prepared perturbation file (run `cellbench perturbation-prepare` first)")
    if str(meta.get("format_version")) != FORMAT_VERSION:
        raise InputError(
            f"{path}: prepared with format version {meta.get('format_version')}, this cellbench reads "
            f"{FORMAT_VERSION}; run perturbation-prepare again"
        )
    for key in ("de", "evaluated_genes", "control_map", "settings"):
        if key not in adata.uns:
            raise InputError(f"{path}: prepared file lacks uns['{key}']")
    settings = _settings_from_uns(dict(adata.uns["settings"]))
    evaluated_df = pd.DataFrame(adata.uns["evaluated_genes"])
    evaluated: dict[str, list[str]] = {}
    for cond, gene in zip(evaluated_df.get("condition", []), evaluated_df.get("gene", [])):
        evaluated.setdefault(str(cond), []).append(str(gene))
    de = pd.DataFrame(adata.uns["de"])
    de["condition"] = de["condition"].astype(str)
    de["gene"] = de["gene"].astype(str)
    skipped = pd.DataFrame(adata.uns.get("skipped", pd.DataFrame(columns=["condition", "n_cells", "reason"])))
    prepared = PreparedPerturbation(
        genes=np.asarray(adata.var_names).astype(str),
        conditions=np.asarray(adata.obs_names).astype(str),
        treated_mean=np.asarray(adata.X, dtype=np.float64),
        control_mean=np.asarray(adata.layers["control_mean"], dtype=np.float64),
        n_treated=adata.obs["n_treated"].to_numpy(),
        n_control=adata.obs["n_control"].to_numpy(),
        de=de,
        evaluated_genes=evaluated,
        control_map=pd.DataFrame(adata.uns["control_map"]).astype(str),
        settings=settings,
        skipped=skipped,
    )
    return prepared, dict(meta)


def _settings_from_uns(stored: dict) -> PrepareSettings:
    """The PrepareSettings of a prepared file (h5ad gives numpy scalars back; unknown keys ignored)."""
    fields = PrepareSettings.__dataclass_fields__
    typed = {}
    for k, v in stored.items():
        if k not in fields:
            continue
        default = fields[k].default
        if isinstance(default, bool):
            typed[k] = bool(v)
        elif isinstance(default, int):
            typed[k] = int(v)
        elif isinstance(default, float):
            typed[k] = float(v)
        else:
            typed[k] = str(v)
    return PrepareSettings(**typed)


def load_prediction(path: str | os.PathLike, genes, layer: str | None = None):
    """Predicted expression (cells x genes) from an .h5ad, columns reordered to `genes`.

    Rows keep the file's order and come back with their cell ids. Every gene in `genes` must be in
    the file (extra genes are ignored); NaN/inf is an error. The matrix keeps its dtype (the
    reference averages in it) and stays sparse if stored sparse.
    """
    import scipy.sparse as sp

    adata = read_h5ad(path)
    X = layer_or_x(adata, layer, path)
    if X is None:
        raise InputError(f"{path}: has no expression matrix X")
    var = pd.Index(np.asarray(adata.var_names).astype(str))
    if var.has_duplicates:
        raise InputError(f"{path}: gene ids are not unique (first duplicate '{var[var.duplicated()][0]}')")
    genes = np.asarray(genes).astype(str)
    cols = var.get_indexer(genes)
    missing = np.flatnonzero(cols < 0)
    if missing.size:
        raise InputError(
            f"{path}: {missing.size} of {genes.size} dataset genes are missing from the prediction, "
            f"first '{genes[missing[0]]}'"
        )
    if sp.issparse(X):
        X = sp.csr_matrix(X)[:, cols]
        values = X.data
    else:
        X = np.asarray(X)[:, cols]
        values = X
    if not np.issubdtype(values.dtype, np.number):
        raise InputError(f"{path}: prediction is not numeric")
    bad = ~np.isfinite(values)
    if bad.any():
        raise InputError(f"{path}: prediction has {int(bad.sum())} NaN/inf value(s)")
    if not np.issubdtype(values.dtype, np.floating):
        X = X.astype(np.float64)
    return X, np.asarray(adata.obs_names).astype(str), Path(path).name
