"""Label prediction vs cz-benchmarks 0.15.1: all 20 results, exact to 1e-9 (TASKS.md, < 8192 cells)."""

from __future__ import annotations

import json

import anndata as ad
import numpy as np
import pytest
from click.testing import CliRunner
from parity_harness import BARON_H, PBMC, cb_values, values

from cellbench.cli import cli
from cellbench.tasks.label_prediction import run_label_prediction

pytestmark = pytest.mark.parity
TOL = 1e-9


def assert_same(ref_answer: dict, got) -> None:
    ref = values(ref_answer)
    mine = cb_values(got) if not isinstance(got, dict) else got
    assert len(ref) == 20
    assert list(mine) == list(ref)  # same metrics, same params, same order
    for key, expected in ref.items():
        assert mine[key] == pytest.approx(expected, abs=TOL), key


def test_pbmc68k_x_pca(ref_answer):
    adata = ad.read_h5ad(PBMC)
    got = run_label_prediction(adata.obsm["X_pca"], adata.obs["bulk_labels"].astype(str).to_numpy())
    assert_same(ref_answer("pbmc_label_prediction"), got)


def test_baron_human_pca_baseline(ref_answer, ref_job):
    X = np.load(ref_job("baron_pca")["output"])  # the reference's own PCA baseline, as both sides' input
    labels = ad.read_h5ad(BARON_H).obs["cell_ontology_class"].astype(str).to_numpy()
    assert_same(ref_answer("baron_label_prediction"), run_label_prediction(X, labels))


def test_baron_human_raw_expression_baseline_via_cli(ref_answer, tmp_path):
    """The raw-expression baseline: cellbench keeps the sparse counts (rf), the reference densifies."""
    out = tmp_path / "raw.json"
    r = CliRunner().invoke(cli, ["-q", "label-prediction", "--input", str(BARON_H), "--label-key",
                                 "cell_ontology_class", "--output", str(out), "--threads", "2"])
    assert r.exit_code == 0, r.output
    metrics = json.loads(out.read_text())["metrics"]
    got = {(m["metric_type"], tuple(sorted(m["params"].items()))): m["value"] for m in metrics}
    assert_same(ref_answer("baron_label_prediction_raw"), got)
