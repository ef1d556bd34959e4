"""Task-time bootstrap intervals (`MetricResult.ci`): present, around the value, seeded, switchable,
and computed from the same per-cell values as the metric without changing the metric's value."""

from __future__ import annotations

import json
from pathlib import Path

import anndata as ad
import numpy as np
import pytest
from click.testing import CliRunner

from cellbench.cli import cli
from cellbench.metrics.entropy_per_cell import entropy_per_cell
from cellbench.metrics.sequential_alignment import sequential_alignment
from cellbench.metrics.silhouette_batch import silhouette_batch
from cellbench.metrics.silhouette_label import silhouette_label
from cellbench.report.table import aggregate, find_result_files
from cellbench.schema import MetricResult
from cellbench.tasks.embedding import embedding_metrics
from cellbench.tasks.integration import integration_metrics
from cellbench.tasks.perturbation import mean_over_conditions
from cellbench.tasks.sequential import sequential_metrics, time_values

DATA = Path(__file__).parent / "data"
PBMC = DATA / "pbmc68k_reduced.h5ad"
HSMM = DATA / "hsmm_myoblast_timecourse.h5ad"
DEMO = DATA / "report_demo"

# task -> (dataset, options); the sequential task scores HSMM's expression matrix (X) itself
TASKS = {
    "embedding": (PBMC, ["--obsm-key", "X_pca", "--label-key", "bulk_labels"]),
    "integration": (PBMC, ["--obsm-key", "X_pca", "--label-key", "bulk_labels", "--batch-key", "phase"]),
    "sequential": (HSMM, ["--time-key", "Hours"]),
}
RUNS = {"a": ["--seed", "42"], "b": ["--seed", "42"], "other_seed": ["--seed", "7"], "off": ["--n-boot", "0"]}


def invoke(*args):
    return CliRunner().invoke(cli, ["-q", *map(str, args)])


def read(path) -> dict:
    return json.loads(Path(path).read_text())


def stable(path) -> str:
    data = read(path)
    data.pop("wall_time_s")
    data.pop("peak_rss_mb")
    return json.dumps(data, sort_keys=True)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    out = tmp_path_factory.mktemp("ci")
    for task, (path, options) in TASKS.items():
        for name, extra in RUNS.items():
            r = invoke(task, "--input", path, *options, *extra, "--output", out / f"{task}_{name}.json")
            assert r.exit_code == 0, r.output
    return out


@pytest.mark.parametrize("task", sorted(TASKS))
def test_interval_present_and_contains_the_value(runs, task):
    res = read(runs / f"{task}_a.json")
    n_cells = res["n_cells"]
    for m in res["metrics"]:
        ci = m["ci"]
        assert ci["low"] <= m["value"] <= ci["high"], m
        assert ci["low"] < ci["high"], m  # real per-cell spread, not a degenerate interval
        assert 0 <= ci["low"] and ci["high"] <= 1, m  # every metric here is on [0, 1]
        assert ci["n_boot"] == 1000 and ci["seed"] == 42 and ci["level"] == 0.95
        assert ci["unit"] == "cells" and ci["method"] == "percentile_bootstrap"
        assert 2 <= ci["n_units"] <= n_cells  # batch silhouette: the cells of the scored label groups


@pytest.mark.parametrize("task", sorted(TASKS))
def test_interval_is_seeded(runs, task):
    assert stable(runs / f"{task}_a.json") == stable(runs / f"{task}_b.json")
    same, other = read(runs / f"{task}_a.json"), read(runs / f"{task}_other_seed.json")
    for m, o in zip(same["metrics"], other["metrics"]):
        assert m["value"] == o["value"] or m["metric_type"] == "sequential_alignment"  # B is seeded
        assert o["ci"]["seed"] == 7 and (m["ci"]["low"], m["ci"]["high"]) != (o["ci"]["low"], o["ci"]["high"])


@pytest.mark.parametrize("task", sorted(TASKS))
def test_n_boot_zero_leaves_the_reference_shape(runs, task):
    on, off = read(runs / f"{task}_a.json"), read(runs / f"{task}_off.json")
    assert all(set(m) == {"metric_type", "value", "params"} for m in off["metrics"])
    assert [(m["metric_type"], m["value"], m["params"]) for m in on["metrics"]] == \
        [(m["metric_type"], m["value"], m["params"]) for m in off["metrics"]]


def test_task_values_are_the_metric_functions_values():
    """The intervals come from the same per-cell values; the values stay bit-for-bit what they were."""
    pbmc = ad.read_h5ad(PBMC)
    X = pbmc.obsm["X_pca"]
    labels = pbmc.obs["bulk_labels"].astype(str).to_numpy()
    batch = pbmc.obs["phase"].astype(str).to_numpy()
    sil = next(m for m in embedding_metrics(X, labels, seed=3) if m.metric_type == "silhouette_score")
    assert sil.value == silhouette_label(X, labels)
    ent, bsil = integration_metrics(X, labels, batch, seed=3)
    assert ent.value == entropy_per_cell(X, batch) and bsil.value == silhouette_batch(X, labels, batch)
    # strata: the batch silhouette interval resamples within label groups
    assert bsil.ci.n_units <= len(labels) and ent.ci.n_units == len(labels)

    hsmm = ad.read_h5ad(HSMM)
    Xh = np.asarray(hsmm.X.toarray() if hasattr(hsmm.X, "toarray") else hsmm.X, dtype=np.float64)
    t = time_values(hsmm.obs["Hours"])
    sil_t, align = sequential_metrics(Xh, t, seed=5)
    assert sil_t.value == silhouette_label(Xh, t)
    assert align.value == sequential_alignment(Xh, t, k=15, normalize=True, seed=5)
    adaptive = sequential_metrics(Xh, t, k=10, adaptive_k=True, seed=5, n_boot=0)[1]
    assert adaptive.value == sequential_alignment(Xh, t, k=10, adaptive_k=True, seed=5) and adaptive.ci is None


def test_mean_over_conditions_interval_ignores_scoring_order():
    rows = [MetricResult(metric_type="pearson_delta", value=v, params={"condition": c, "genes": "all"})
            for c, v in (("A", 0.1), ("B", 0.5), ("C", 0.3), ("D", None))]
    forward = mean_over_conditions(rows, seed=1)[0]
    backward = mean_over_conditions(rows[::-1], seed=1)[0]
    assert forward.params == {"condition": "MEAN", "genes": "all", "n_conditions": 3}
    assert forward.ci == backward.ci and forward.ci.unit == "conditions" and forward.ci.n_units == 3
    assert forward.ci.low <= forward.value <= forward.ci.high
    assert mean_over_conditions(rows, seed=2)[0].ci != forward.ci
    assert mean_over_conditions(rows, seed=1, n_boot=0)[0].ci is None
    assert mean_over_conditions(rows[:1], seed=1)[0].ci is None  # one condition: nothing to resample


def test_report_uses_the_task_time_intervals():
    """The demo results carry per-cell / per-fold intervals; the aggregate table takes them as they are."""
    table = aggregate(find_result_files([DEMO]))
    by_task = {t: set(table.loc[table["task"] == t, "ci_method"]) for t in set(table["task"])}
    assert by_task["embedding"] == {"bootstrap_cells"}
    assert by_task["integration"] == {"bootstrap_cells"}
    assert by_task["label_prediction"] == {"bootstrap_folds"}
    assert by_task["clustering"] <= {"t_seeds", "none"}  # ARI / NMI: no per-cell decomposition
    emb = table[table["task"] == "embedding"]
    assert (emb["ci_low"] <= emb["mean"]).all() and (emb["mean"] <= emb["ci_high"]).all()
    assert (emb["n_boot"] == 1000).all()


def test_run_passes_n_boot_to_the_tasks(tmp_path):
    for n_boot, present in (("0", False), ("200", True)):
        out = tmp_path / n_boot
        r = invoke("run", "--input", PBMC, "--label-key", "bulk_labels", "--obsm-key", "X_pca", "--tasks", "embedding",
                   "--no-baselines", "--no-report", "--n-boot", n_boot, "--outdir", out)
        assert r.exit_code == 0, r.output
        metrics = read(next((out / "results").glob("*__embedding__*.json")))["metrics"]
        metric = next(m for m in metrics if m["metric_type"] == "silhouette_score")
        assert ("ci" in metric) == present and (not present or metric["ci"]["n_boot"] == 200)
