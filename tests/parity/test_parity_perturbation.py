"""Genetic perturbation vs cz-benchmarks 0.15.1 on Papalexi 2021 (THP-1 CRISPR, 299 genes).

cellbench prepares the dataset (control matching, Wilcoxon DE, DE filter, evaluated-gene sample);
the reference then runs its own pieces on cellbench's treated -> control map (the map is seeded
differently by design: the reference ships it precomputed with its datasets):
`run_multicondition_dge_analysis` (DE), its dataset's DE filter, `sample_de_genes`, and
`PerturbationExpressionPredictionTask` on a prediction (the log-normalized expression itself).
Compared: the DE table, the evaluated genes, and the per-condition Spearman correlation.

Second case, a dataset in the reference's own format (tests/data/papalexi2021_thp1_perturbpredict.h5ad,
shipping uns['de_results_wilcoxon'] and uns['control_cells_map']): the reference reads it with its
SingleCellPerturbationDataset and scores it with its task; cellbench prepares it with
`perturbation-prepare` (--de-source auto takes the shipped path). Compared: evaluated genes and
per-condition Spearman; and the fixture's DE table is what the reference's helper gives on its map.
"""

from __future__ import annotations

import hashlib
import json

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from click.testing import CliRunner
from parity_harness import DATA, cache_dir, run_jobs

from cellbench.cli import cli
from cellbench.io.perturbation import read_prepared
from cellbench.tasks.perturbation import (
    PrepareSettings,
    evaluate_prediction,
    log_normalize,
    prepare_perturbation,
)

pytestmark = pytest.mark.parity

PAPALEXI = DATA / "papalexi2021_thp1_crispr_lowmoi.h5ad"
SHIPPED = DATA / "papalexi2021_thp1_perturbpredict.h5ad"
# the four conditions with enough DE genes to be evaluated, and two without (one of only 109 cells)
CONDITIONS = ["IFNGR1", "IFNGR2", "JAK2", "STAT1", "MYC", "CUL3"]


@pytest.fixture(scope="module")
def case(parity_env):
    python, record = parity_env
    adata = ad.read_h5ad(PAPALEXI)
    settings = PrepareSettings()
    prepared = prepare_perturbation(
        adata.X, adata.var_names, adata.obs_names, adata.obs["condition"].astype(str).to_numpy(), settings,
        only=CONDITIONS,
    )
    cache = cache_dir(parity_venv_dir(parity_env))
    control_map = {
        cond: dict(zip(pairs["treated"], pairs["control"]))
        for cond, pairs in prepared.control_map.groupby("condition", sort=True)
    }
    map_text = json.dumps(control_map)
    map_path = cache / f"papalexi_control_map-{hashlib.sha256(map_text.encode()).hexdigest()[:16]}.json"
    map_path.write_text(map_text)
    lognorm = log_normalize(adata.X, settings.target_sum)
    prediction = np.asarray(lognorm.toarray() if sp.issparse(lognorm) else lognorm, dtype=np.float32)
    pred_path = cache / f"papalexi_prediction-{hashlib.sha256(prediction.tobytes()).hexdigest()[:16]}.npy"
    if not pred_path.exists():
        np.save(pred_path, prediction)
    job = {
        "id": "papalexi_perturbation",
        "task": "perturbation",
        "h5ad": str(PAPALEXI),
        "control_map": str(map_path),
        "prediction": str(pred_path),
        "min_cells": settings.min_cells,
        "min_cells_per_gene": settings.min_cells_per_gene,
        "min_genes_per_cell": settings.min_genes_per_cell,
        "pval_threshold": settings.pval_threshold,
        "min_abs_logfoldchange": settings.min_abs_logfoldchange,
        "seed": settings.seed,
    }
    answers, _ = run_jobs(python, record, parity_venv_dir(parity_env), [job])
    return {"prepared": prepared, "prediction": prediction, "cell_ids": adata.obs_names.to_numpy(),
            "ref": answers["papalexi_perturbation"]}


def parity_venv_dir(parity_env):
    python, _ = parity_env
    return python.parent.parent


def test_differential_expression_table(case):
    ref = pd.DataFrame(case["ref"]["extra"]["de"], columns=case["ref"]["extra"]["de_columns"])
    mine = case["prepared"].de.reset_index(drop=True)
    assert sorted(set(ref["condition"])) == sorted(set(mine["condition"])) == sorted(CONDITIONS)
    for cond in CONDITIONS:
        r = ref[ref["condition"] == cond].reset_index(drop=True)
        m = mine[mine["condition"] == cond].reset_index(drop=True)
        assert list(m["gene"]) == list(r["gene"]), cond  # same genes, in scanpy's rank order
        for col in ("score", "logfoldchange"):
            np.testing.assert_allclose(m[col], r[col], rtol=0, atol=1e-9, err_msg=f"{cond} {col}")
        for col in ("pval", "pval_adj"):
            np.testing.assert_allclose(m[col], r[col], rtol=1e-9, atol=0, err_msg=f"{cond} {col}")


def test_evaluated_genes(case):
    assert case["prepared"].evaluated_genes == case["ref"]["extra"]["evaluated_genes"]


def test_spearman_per_condition(case):
    metrics, _ = evaluate_prediction(case["prepared"], case["prediction"], case["cell_ids"], effect="ratio")
    mine = {
        m.params["condition"]: m.value
        for m in metrics
        if m.metric_type == "spearman_correlation_calculation" and m.params["condition"] != "MEAN"
    }
    ref = {m["params"]["condition"]: m["value"] for m in case["ref"]["metrics"]}
    assert set(ref) == set(case["ref"]["extra"]["evaluated_genes"])
    assert set(mine) == set(ref)
    for cond, expected in ref.items():
        assert mine[cond] == pytest.approx(expected, abs=1e-9), cond


@pytest.fixture(scope="module")
def shipped_case(parity_env, tmp_path_factory):
    python, record = parity_env
    out = tmp_path_factory.mktemp("shipped") / "prepared.h5ad"
    res = CliRunner().invoke(cli, ["perturbation-prepare", "--input", str(SHIPPED), "--output", str(out)],
                             catch_exceptions=False)
    assert res.exit_code == 0, res.output
    prepared, _ = read_prepared(out)
    adata = ad.read_h5ad(SHIPPED)
    lognorm = log_normalize(adata.X, prepared.settings.target_sum)
    prediction = np.asarray(lognorm.toarray() if sp.issparse(lognorm) else lognorm, dtype=np.float32)
    cache = cache_dir(parity_venv_dir(parity_env))
    pred_path = cache / f"perturbpredict_prediction-{hashlib.sha256(prediction.tobytes()).hexdigest()[:16]}.npy"
    if not pred_path.exists():
        np.save(pred_path, prediction)
    job = {"id": "papalexi_perturbation_shipped", "task": "perturbation_shipped", "h5ad": str(SHIPPED),
           "prediction": str(pred_path), "control_name": "ctrl", "de_gene_col": "gene_id", "seed": 42}
    answers, _ = run_jobs(python, record, parity_venv_dir(parity_env), [job])
    return {"prepared": prepared, "prediction": prediction, "cell_ids": adata.obs_names.to_numpy(),
            "ref": answers["papalexi_perturbation_shipped"]}


def test_shipped_path_is_taken(shipped_case):
    assert shipped_case["prepared"].settings.de_source == "shipped"


def test_shipped_fixture_is_the_reference_helpers_output(shipped_case):
    """The shipped DE table is what the reference's helper makes from the shipped control map: the same
    (condition, gene) rows and columns, and the same values up to floating point. It was equal to the
    bit on the hosts of earlier CI runs (AMD Zen 3). On a Zen 4 host with the same pinned libraries,
    81 of 961 rows' Wilcoxon scores moved, by 2e-3 at most (and the p-values that follow from them).
    Ruled out as the cause: numpy's AVX-512 sorting, numba's target CPU and fast-array-utils' version.
    The rebuild's preprocessing evidently rounds differently by host, so bit equality is reported
    (`rebuilt_de_equals_shipped`), not required. cellbench reads the shipped table as it is, and the
    shipped path's other parity tests compare with the reference to 1e-9."""
    extra = shipped_case["ref"]["extra"]
    assert extra["rebuilt_de_same_rows"]
    diff = extra["rebuilt_de_max_diff"]
    assert diff["logfoldchange"] <= 1e-6
    assert max(diff["score"], diff["pval"], diff["pval_adj"]) <= 5e-3
    assert extra["rebuilt_de_rows_differing"] <= 0.15 * extra["de_rows_shipped"]


def test_shipped_evaluated_genes(shipped_case):
    prepared = shipped_case["prepared"]
    assert prepared.evaluated_genes == shipped_case["ref"]["extra"]["evaluated_genes"]
    assert len(prepared.de_filtered()) == shipped_case["ref"]["extra"]["de_rows"]


def test_shipped_spearman_per_condition(shipped_case):
    metrics, _ = evaluate_prediction(shipped_case["prepared"], shipped_case["prediction"], shipped_case["cell_ids"])
    mine = {
        m.params["condition"]: m.value
        for m in metrics
        if m.metric_type == "spearman_correlation_calculation" and m.params["condition"] != "MEAN"
    }
    ref = {m["params"]["condition"]: m["value"] for m in shipped_case["ref"]["metrics"]}
    assert set(ref) == set(mine) == {"JAK2", "STAT1"}
    for cond, expected in ref.items():
        assert mine[cond] == pytest.approx(expected, abs=1e-9), cond
