"""`cellbench run`: the whole small benchmark in one process gives the unit commands' results."""

import json

from click.testing import CliRunner

from cellbench.cli import cli

PBMC = "tests/data/pbmc68k_reduced.h5ad"


def test_run_writes_the_unit_results_and_summary(tmp_path):
    out = tmp_path / "demo"
    args = ["run", "--input", PBMC, "--label-key", "bulk_labels", "--batch-key", "phase", "--obsm-key", "X_pca",
            "--counts-layer", "counts", "--tasks", "clustering,embedding,integration", "--no-report",
            "--outdir", str(out)]
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 0, res.output
    # the PCA baseline is scored beside the given representation
    for task in ("clustering", "embedding", "integration"):
        for model in ("X_pca", "pca"):
            assert (out / "results" / f"pbmc68k_reduced__{model}__{task}__s42.json").exists()
    assert (out / "prepared" / "baselines" / "pbmc68k_reduced.pca.h5ad").exists()
    clustering = json.loads((out / "results/pbmc68k_reduced__X_pca__clustering__s42.json").read_text())
    ari = {m["metric_type"]: m["value"] for m in clustering["metrics"]}["adjusted_rand_index"]
    assert abs(ari - 0.4283151035913065) < 1e-9
    assert "silhouette_score" in res.stdout and "X_pca" in res.stdout


def test_run_same_bytes_as_the_unit_command(tmp_path):
    out = tmp_path / "demo"
    runner = CliRunner()
    res = runner.invoke(cli, ["run", "--input", PBMC, "--label-key", "bulk_labels", "--obsm-key", "X_pca",
                              "--tasks", "embedding", "--no-baselines", "--no-report", "--outdir", str(out)])
    assert res.exit_code == 0, res.output
    single = tmp_path / "single.json"
    res = runner.invoke(cli, ["embedding", "--input", PBMC, "--obsm-key", "X_pca", "--label-key", "bulk_labels",
                              "--output", str(single)])
    assert res.exit_code == 0, res.output

    def stable(path):
        data = json.loads(path.read_text())
        data.pop("wall_time_s"), data.pop("peak_rss_mb")
        return data

    assert stable(out / "results/pbmc68k_reduced__X_pca__embedding__s42.json") == stable(single)


def test_run_scores_label_prediction_on_raw_expression_not_on_the_pca(tmp_path):
    """As the pipeline does (TASKS.md: the label prediction baseline is the raw expression)."""
    out = tmp_path / "demo"
    res = CliRunner().invoke(cli, ["run", "--input", PBMC, "--label-key", "bulk_labels", "--obsm-key", "X_umap",
                                   "--counts-layer", "counts", "--tasks", "label_prediction", "--no-report",
                                   "--n-boot", "0", "--outdir", str(out)])
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in (out / "results").iterdir()) == [
        "pbmc68k_reduced__X_umap__label_prediction__s42.json",
        "pbmc68k_reduced__raw_expression__label_prediction__s42.json",
    ]


def test_run_rejects_a_task_without_its_columns(tmp_path):
    res = CliRunner().invoke(cli, ["run", "--input", PBMC, "--label-key", "bulk_labels", "--obsm-key", "X_pca",
                                   "--tasks", "sequential", "--outdir", str(tmp_path / "x")])
    assert res.exit_code != 0
    assert "sequential" in res.output
    assert not (tmp_path / "x" / "results").exists()
