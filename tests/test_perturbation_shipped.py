"""Perturbation datasets in cz-benchmarks' own format: the shipped DE table and control map are used
as they are (issue #17).

The fixture (tests/data/papalexi2021_thp1_perturbpredict.h5ad, made by make_perturbpredict.py with the
reference's run_multicondition_dge_analysis) holds real Papalexi cells with uns['de_results_wilcoxon']
and uns['control_cells_map'], the map drawn independently of cellbench's matching. The parity suite
checks the same file against the reference's own dataset class and task.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from cellbench.cli import cli
from cellbench.errors import InputError
from cellbench.io.perturbation import read_prepared, read_shipped
from cellbench.tasks.perturbation import (
    PrepareSettings,
    evaluate_prediction,
    log_normalize,
    prepare_from_shipped,
)

DATA = Path(__file__).parent / "data"
SHIPPED = DATA / "papalexi2021_thp1_perturbpredict.h5ad"
PAPALEXI = DATA / "papalexi2021_thp1_crispr_lowmoi.h5ad"
SETTINGS = PrepareSettings(de_source="shipped", de_gene_col="gene_id")


def invoke(args):
    return CliRunner().invoke(cli, args, catch_exceptions=False)


def error_line(res) -> str:
    assert res.exit_code == 1, res.output
    lines = [line for line in res.output.strip().splitlines() if line.startswith("Error:")]
    assert len(lines) == 1 and "Traceback" not in res.output, res.output
    return lines[0]


@pytest.fixture(scope="module")
def adata():
    return ad.read_h5ad(SHIPPED)


@pytest.fixture(scope="module")
def prepared_path(tmp_path_factory):
    out = tmp_path_factory.mktemp("shipped") / "prepared.h5ad"
    res = invoke(["perturbation-prepare", "--input", str(SHIPPED), "--output", str(out)])  # --de-source auto
    assert res.exit_code == 0, res.output
    return out


@pytest.fixture(scope="module")
def prepared(prepared_path):
    return read_prepared(prepared_path)[0]


def reference_sample_de_genes(de_results, percent, min_genes, seed):
    """cz-benchmarks' sample_de_genes, verbatim (condition column 'condition', gene column 'gene_id')."""
    np.random.seed(seed)
    out = {}
    for target in de_results["condition"].unique():
        names = de_results[de_results["condition"] == target]["gene_id"].values
        n = int(len(names) * percent)
        if n >= min_genes:
            out[target] = np.random.choice(names, size=n, replace=False).tolist()
    return out


def test_auto_takes_the_shipped_map_and_de_as_they_are(prepared, adata):
    s = prepared.settings
    assert s.de_source == "shipped" and s.de_gene_col == "gene_id"
    assert not set(PrepareSettings.RECOMPUTE_ONLY) & set(s.as_dict())  # nothing recorded that did not apply
    shipped_map = adata.uns["control_cells_map"]
    shipped_de = adata.uns["de_results_wilcoxon"]
    # the prepared conditions are the DE table's; SPI1 (33 cells) is mapped but has no DE rows
    assert list(prepared.conditions) == sorted(shipped_de["condition"].unique()) == ["CUL3", "JAK2", "MYC", "STAT1"]
    assert prepared.skipped.to_dict("records") == [
        {"condition": "SPI1", "n_cells": 33, "reason": "not in uns['de_results_wilcoxon']"}
    ]
    # the map: every pair as shipped, in the shipped order
    expected = [(c, t, k) for c in prepared.conditions for t, k in shipped_map[c].items()]
    assert list(prepared.control_map.itertuples(index=False, name=None)) == expected
    # the DE table: the shipped rows, order and dtypes (float32 scores and fold changes) kept
    mine = prepared.de
    assert list(mine["gene"]) == list(shipped_de["gene_id"]) and list(mine["condition"]) == list(shipped_de["condition"])
    for col in ("score", "logfoldchange", "pval", "pval_adj"):
        assert mine[col].dtype == shipped_de[col].dtype
        np.testing.assert_array_equal(mine[col].to_numpy(), shipped_de[col].to_numpy())
    # the reference's filter and draw on the shipped table give the evaluated genes
    filtered = shipped_de[(shipped_de["pval_adj"] < 1e-4) & (shipped_de["logfoldchange"].abs() >= 1.0)]
    assert prepared.evaluated_genes == reference_sample_de_genes(filtered, 0.5, 5, 42)
    assert set(prepared.evaluated_genes) == {"JAK2", "STAT1"}
    # observed truth over the map's treated cells and their paired controls
    lognorm = log_normalize(adata.X)
    for cond in prepared.conditions:
        i = prepared.index_of(cond)
        treated = adata.obs_names.get_indexer(list(shipped_map[cond]))
        controls = adata.obs_names.get_indexer(list(shipped_map[cond].values()))
        assert prepared.n_treated[i] == len(shipped_map[cond]) and prepared.n_control[i] == len(set(controls))
        np.testing.assert_allclose(prepared.treated_mean[i], np.asarray(lognorm[treated].mean(axis=0)).ravel(),
                                   rtol=1e-12)
        np.testing.assert_allclose(prepared.control_mean[i], np.asarray(lognorm[controls].mean(axis=0)).ravel(),
                                   rtol=1e-12)


def test_spearman_follows_the_reference_task_on_the_shipped_map(prepared, adata):
    """The reference's _run_task, transcribed, reading the shipped uns directly: pairs in the map's
    order, means of the evaluated genes' columns in float32, ratio effect, spearmanr, NaN -> 0."""
    from scipy.stats import spearmanr

    pred = log_normalize(adata.X).astype(np.float32).toarray()
    metrics, _ = evaluate_prediction(prepared, pred, adata.obs_names, n_boot=0)
    ours = {r.params["condition"]: r.value for r in metrics if r.metric_type == "spearman_correlation_calculation"}
    de = adata.uns["de_results_wilcoxon"]
    de = de[(de["pval_adj"] < 1e-4) & (de["logfoldchange"].abs() >= 1.0)]
    index, genes = pd.Index(adata.obs_names), pd.Index(adata.var_names)
    for cond, targets in prepared.evaluated_genes.items():
        cde = de[de["condition"] == cond].set_index("gene_id")
        true = cde.reindex(targets)["logfoldchange"].to_numpy()
        mapping = adata.uns["control_cells_map"][cond]
        tr, ct = index.get_indexer(list(mapping)), index.get_indexer(list(mapping.values()))
        gi = genes.get_indexer(targets)
        tm, cm = np.mean(pred[np.ix_(tr, gi)], axis=0), np.mean(pred[np.ix_(ct, gi)], axis=0)
        value = spearmanr(true, np.log((tm + 1e-8) / (cm + 1e-8))).statistic
        assert ours[cond] == (0.0 if np.isnan(value) else value), cond
    assert set(ours) == {"JAK2", "STAT1", "MEAN"}


def test_recompute_ignores_what_is_shipped(prepared, tmp_path):
    out = tmp_path / "recomputed.h5ad"
    res = invoke(["perturbation-prepare", "--input", str(SHIPPED), "--de-source", "recompute", "--output", str(out)])
    assert res.exit_code == 0, res.output
    recomputed, _ = read_prepared(out)
    assert recomputed.settings.de_source == "recomputed" and "min_cells" in recomputed.settings.as_dict()
    assert recomputed.settings.de_gene_col is None
    assert list(recomputed.conditions) == list(prepared.conditions)  # SPI1 again below --min-cells
    both = prepared.control_map.merge(recomputed.control_map, on=["condition", "treated"])
    assert len(both) == len(prepared.control_map) and (both["control_x"] != both["control_y"]).mean() > 0.9


def test_a_condition_subset_keeps_the_gene_draw(prepared, tmp_path):
    """The draw runs over the whole shipped table, as the reference's dataset does, so scoring one
    condition evaluates the same genes as scoring all."""
    out = tmp_path / "stat1.h5ad"
    res = invoke(["perturbation-prepare", "--input", str(SHIPPED), "--condition", "STAT1", "--output", str(out)])
    assert res.exit_code == 0, res.output
    one, _ = read_prepared(out)
    assert list(one.conditions) == ["STAT1"] and set(one.de["condition"]) == {"STAT1"}
    assert one.evaluated_genes == {"STAT1": prepared.evaluated_genes["STAT1"]}
    np.testing.assert_array_equal(one.treated_mean[0], prepared.treated_mean[prepared.index_of("STAT1")])


def test_results_say_which_path_was_taken(prepared_path, tmp_path):
    out = tmp_path / "r.json"
    res = invoke(["perturbation", "--prepared", str(prepared_path), "--baseline", "no_change", "-o", str(out)])
    assert res.exit_code == 0, res.output
    prepare = json.loads(out.read_text())["params"]["prepare"]
    assert prepare["de_source"] == "shipped" and prepare["de_gene_col"] == "gene_id"


# ------------------------------------------------------------------------------------------ bad input


def prepare(adata, uns, **kw):
    de, control_map = read_shipped(uns)
    conds = adata.obs["condition"].astype(str).to_numpy()
    return prepare_from_shipped(adata.X, adata.var_names, adata.obs_names, conds, de, control_map, SETTINGS, **kw)


def _set(path, value):
    def change(uns):
        *parents, last = path
        node = uns
        for key in parents:
            node = node[key]
        node[last] = value

    return change


def _de(change):
    def edit(uns):
        uns["de_results_wilcoxon"] = change(uns["de_results_wilcoxon"].copy())

    return edit


def _other_cell(adata, condition):
    return str(adata.obs_names[adata.obs["condition"] == condition][0])


BAD = {
    "no DE table": (lambda u: u.pop("de_results_wilcoxon"), r"lacks uns\['de_results_wilcoxon'\]"),
    "no map": (lambda u: u.pop("control_cells_map"), r"lacks uns\['control_cells_map'\]"),
    "DE not a table": (_set(["de_results_wilcoxon"], "x"), r"uns\['de_results_wilcoxon'\] is a str, not a table"),
    "DE without pval_adj": (_de(lambda d: d.drop(columns="pval_adj")), r"lacks column 'pval_adj'; it has gene_id"),
    "DE without score": (_de(lambda d: d.drop(columns="score")), r"lacks column 'score' \(cellbench ranks"),
    "DE gene column named gene": (_de(lambda d: d.rename(columns={"gene_id": "gene"})),
                                  r"lacks column 'gene_id' \(--de-gene-col"),
    "DE text fold change": (_de(lambda d: d.assign(logfoldchange=d["logfoldchange"].astype(str))),
                            r"column 'logfoldchange' is not numeric"),
    "DE missing gene": (_de(lambda d: d.assign(gene_id=d["gene_id"].where(d.index != 3))),
                        r"column 'gene_id' has a missing value at row 3"),
    "DE unknown gene": (_de(lambda d: d.assign(gene_id=d["gene_id"].where(d.index != 5, "NOTAGENE"))),
                        r"names gene 'NOTAGENE' \(condition 'CUL3'\), not a dataset gene"),
    "DE repeated row": (_de(lambda d: pd.concat([d, d.iloc[[7]]], ignore_index=True)),
                        r"more than one row for condition 'CUL3', gene '"),
    "DE condition not mapped": (lambda u: u["control_cells_map"].pop("STAT1"),
                                r"has condition 'STAT1', which uns\['control_cells_map'\] does not map"),
    "map a list": (_set(["control_cells_map"], ["a"]), r"uns\['control_cells_map'\] is a list, not"),
    "map condition not a dict": (_set(["control_cells_map", "MYC"], "cell_1"),
                                 r"uns\['control_cells_map'\]\['MYC'\] is a str, not \{treated"),
    "map condition empty": (_set(["control_cells_map", "MYC"], {}), r"\['MYC'\] is empty"),
    "map to several controls": (_set(["control_cells_map", "MYC", "cell_1"], np.array(["a", "b"])),
                                r"\['MYC'\]\['cell_1'\] is a ndarray, not one control cell id"),
    "map unknown treated cell": (_set(["control_cells_map", "MYC", "nope"], "cell_1"),
                                 r"\['MYC'\] names treated cell 'nope', not in the dataset"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_malformed_shipped_truth_is_a_one_line_error(adata, case):
    change, message = BAD[case]
    uns = copy.deepcopy(dict(adata.uns))
    change(uns)
    with pytest.raises(InputError, match=message) as exc:
        prepare(adata, uns)
    assert "\n" not in str(exc.value)


def test_map_cells_must_be_of_their_condition_and_controls(adata):
    stat1, jak2 = _other_cell(adata, "STAT1"), _other_cell(adata, "JAK2")
    uns = copy.deepcopy(dict(adata.uns))
    uns["control_cells_map"]["STAT1"][stat1] = jak2
    with pytest.raises(InputError, match=rf"\['STAT1'\] maps control cell '{jak2}' of condition 'JAK2', not the "
                                         r"control 'ctrl'"):
        prepare(adata, uns)
    uns = copy.deepcopy(dict(adata.uns))
    uns["control_cells_map"]["STAT1"][jak2] = _other_cell(adata, "ctrl")
    with pytest.raises(InputError, match=rf"\['STAT1'\] maps treated cell '{jak2}' of condition 'JAK2', not 'STAT1'"):
        prepare(adata, uns)
    with pytest.raises(InputError, match=r"condition 'SPI1' has no rows in uns\['de_results_wilcoxon'\]"):
        prepare(adata, adata.uns, only=["SPI1"])


def test_cli_errors_name_the_file_and_write_nothing(adata, tmp_path):
    out = tmp_path / "p.h5ad"
    # asked for the shipped truth where there is none
    line = error_line(invoke(["perturbation-prepare", "-i", str(PAPALEXI), "--de-source", "shipped", "-o", str(out)]))
    assert str(PAPALEXI) in line and "lacks uns['de_results_wilcoxon']" in line
    # options that only shape a recomputation are refused, not ignored
    for option in (["--match-key", "bio_rep"], ["--obs-query", "bio_rep == 'rep_1'"], ["--min-cells", "20"]):
        line = error_line(invoke(["perturbation-prepare", "-i", str(SHIPPED), *option, "-o", str(out)]))
        assert str(SHIPPED) in line and f"{option[0]} only applies when the DE is recomputed" in line
    # half the format: auto does not guess
    half = adata.copy()
    del half.uns["control_cells_map"]
    path = tmp_path / "half.h5ad"
    half.write_h5ad(path)
    line = error_line(invoke(["perturbation-prepare", "-i", str(path), "-o", str(out)]))
    assert "has uns['de_results_wilcoxon'] but not uns['control_cells_map']" in line and "--de-source recompute" in line
    # a map naming a cell the dataset lacks
    bad = adata.copy()
    bad.uns["control_cells_map"]["CUL3"]["cell_999999"] = "cell_1"
    path = tmp_path / "bad.h5ad"
    bad.write_h5ad(path)
    line = error_line(invoke(["perturbation-prepare", "-i", str(path), "-o", str(out)]))
    assert str(path) in line and "uns['control_cells_map']['CUL3'] names treated cell 'cell_999999'" in line
    assert not out.exists()
