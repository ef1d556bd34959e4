"""`cellbench report`: every section, no empty plot, on hand-made results and on the demo run's results."""

import base64
import io
import json
import re
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from cellbench.cli import cli
from cellbench.errors import InputError
from cellbench.report import multiqc as mq
from cellbench.report.build import build_report
from cellbench.report.summary import headline, ranks, scaled_scores
from cellbench.report.table import DEFAULT_BASELINES, aggregate, find_result_files
from report_helpers import metric, write, write_label_folds

DEMO = Path(__file__).parent / "data" / "report_demo"
HAS_MULTIQC = mq.multiqc_command() is not None


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """Two datasets: embedding + clustering (3 seeds), label prediction folds, perturbation conditions."""
    folder = tmp_path_factory.mktemp("results")
    for ds, shift in (("pbmc", 0.0), ("pancreas", 0.05)):
        for model, off in (("X_a", 0.2), ("X_b", 0.1), ("pca", 0.0)):
            for seed in (42, 43, 44):
                write(folder, f"emb_{ds}_{model}_{seed}", task="embedding", dataset=ds, model=model, seed=seed,
                      metrics=[metric("silhouette_score", 0.4 + off + shift)])
                write(folder, f"clu_{ds}_{model}_{seed}", task="clustering", dataset=ds, model=model, seed=seed,
                      metrics=[metric("adjusted_rand_index", 0.3 + off + 0.01 * (seed - 43)),
                               metric("normalized_mutual_info", 0.5 + off + shift)])
    write_label_folds(folder)
    for model, off in (("gears", 0.3), ("no_change", 0.0), ("other_mean", 0.1)):
        ms = [metric("spearman_correlation_calculation", off + 0.05 * i, condition=c, effect="ratio")
              for i, c in enumerate("ABCD")]
        ms += [metric("mean_squared_error", 1 - off + 0.01 * i, condition=c, genes="all") for i, c in enumerate("ABCD")]
        write(folder, f"pert_{model}", task="perturbation", dataset="papalexi", model=model, seed=42, metrics=ms)
    return folder


def _png_is_drawn(data: bytes) -> bool:
    import matplotlib.image as mpimg

    img = mpimg.imread(io.BytesIO(data), format="png")
    flat = img[..., :3].reshape(-1, 3)
    return flat.std() > 0.02 and len(np.unique((flat * 255).astype(int), axis=0)) > 20


def _check_report(rep, head):
    names = {f.name for f in rep.figures}
    datasets = sorted(set(head["dataset"]))
    assert names == {"heatmap", "ranking"} | {f"bars_{d}" for d in datasets}
    for fig in rep.figures:
        assert fig.png.stat().st_size > 5000 and fig.svg.stat().st_size > 5000
        assert _png_is_drawn(fig.png.read_bytes()), fig.name
        assert fig.n_marks > 0, fig.name
    by_name = {f.name: f for f in rep.figures}
    for d in datasets:  # one bar per headline row with a value
        assert by_name[f"bars_{d}"].n_marks == int(np.isfinite(head.loc[head["dataset"] == d, "mean"]).sum())
    mqc_ids = set()
    for f in rep.mqc_files:
        text = f.read_text()
        mqc_ids.add(json.loads(text)["id"] if f.suffix == ".json" else json.loads(text[4:text.index("-->")])["id"])
    assert set(mq.SECTION_ORDER) <= mqc_ids


def test_report_without_multiqc(results, tmp_path):
    rep = build_report([results], tmp_path / "report", baselines=DEFAULT_BASELINES, n_boot=200,
                       n_boot_compare=500, multiqc=False)
    table = aggregate(find_result_files([results]), n_boot=200)
    head = headline(table, n_boot=200)
    _check_report(rep, head)
    assert rep.html is None and "--no-multiqc" in rep.multiqc_note
    # headline rows: MEAN classifier only, perturbation conditions averaged with a bootstrap CI
    lp = head[head["task"] == "label_prediction"]
    assert set(lp["label"]) == {"mean_fold_accuracy"}
    pert = head[(head["task"] == "perturbation") & (head["model"] == "gears")]
    assert set(pert["label"]) == {"spearman_correlation_calculation", "mean_squared_error [genes=all]"}
    sp = pert[pert["metric"] == "spearman_correlation_calculation"].iloc[0]
    assert sp["mean"] == pytest.approx(0.3 + 0.075) and sp["n"] == 4 and sp["ci_method"] == "bootstrap_variants"
    # the comparison section carries only headline metrics, the TSV all of them
    comp = json.loads((rep.outdir / "cellbench_comparison_mqc.json").read_text())
    assert not any("classifier=lr" in k for k in comp["data"])
    assert "classifier=lr" in rep.comparison.read_text()


def test_scaled_scores_and_ranks_by_hand(results):
    head = headline(aggregate(find_result_files([results]), n_boot=0), n_boot=0)
    sc = scaled_scores(head)
    emb = sc[(sc["task"] == "embedding") & (sc["dataset"] == "pbmc")].set_index("model")["scaled"]
    # silhouettes 0.6, 0.5, 0.4 -> 1, 0.5, 0
    assert emb["X_a"] == pytest.approx(1) and emb["X_b"] == pytest.approx(0.5) and emb["pca"] == pytest.approx(0)
    mse = sc[(sc["task"] == "perturbation") & (sc["metric"] == "mean_squared_error")].set_index("model")["scaled"]
    assert mse["gears"] == pytest.approx(1) and mse["no_change"] == pytest.approx(0)  # lower error is better
    rk = ranks(head)
    clu = rk[rk["task"] == "clustering"].set_index("model")
    assert clu.loc["X_a", "mean_rank"] == 1 and clu.loc["pca", "mean_rank"] == 3
    assert clu.loc["X_a", "n_datasets"] == 2 and clu.loc["pca", "baseline"]


def test_figure_data_without_drawing(results):
    """What the figures show is decided in frames.py: rows, order, labels, bar positions."""
    from cellbench.report.frames import bars_data, heatmap_data, rank_panels

    head = headline(aggregate(find_result_files([results]), n_boot=0), n_boot=0)
    hm = heatmap_data(head)
    assert hm.models[-3:] == ["no_change", "other_mean", "pca"] and hm.n_models == len(hm.models) - 3
    assert hm.ylabels[-1] == "pca (baseline)" and hm.baseline[-1]
    assert [t for _, _, t in hm.task_groups] == sorted(set(head["task"]))
    assert hm.task_groups[-1][1] == len(hm.xlabels) == hm.scaled.shape[1]
    assert any(x.endswith("(↓ better)") and x.startswith("mean_squared_error") for x in hm.xlabels)
    assert "over datasets" in hm.title  # pbmc and pancreas

    panels = rank_panels(ranks(head))
    clu = next(p for p in panels if p.task == "clustering")
    assert list(clu.rows["model"]) == ["pca", "X_b", "X_a"]  # worst first: drawn bottom to top
    assert clu.title == "clustering (2 datasets)" and clu.n_models == 3

    bars = bars_data(head, "pbmc", level=0.9)
    emb = next(p for p in bars.panels if p.task == "embedding")
    assert [s.model for s in emb.series] == ["X_a", "X_b", "pca"] and emb.width == pytest.approx(0.8 / 3)
    assert emb.series[0].xs == [pytest.approx(-0.4 + 0.8 / 6)] and emb.series[0].ys == [pytest.approx(0.6)]
    assert emb.from_zero and bars.legend == ["X_a", "X_b", "pca"]
    assert bars.title.startswith("pbmc: mean over seeds; error bars = 90% CI")


@pytest.mark.skipif(not HAS_MULTIQC, reason="multiqc is not installed")
def test_report_with_multiqc_has_every_section(results, tmp_path):
    rep = build_report([results], tmp_path / "report", baselines=DEFAULT_BASELINES, n_boot=100,
                       n_boot_compare=200, multiqc=True)
    _check_multiqc_html(rep)


def _check_multiqc_html(rep):
    html = rep.html.read_text()
    for sid in mq.SECTION_ORDER:
        assert f'id="{sid}' in html, sid
    images = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)
    assert len(images) == len(rep.figures)
    for data in images:
        assert _png_is_drawn(base64.b64decode(data))
    assert "pip install multiqc" not in rep.multiqc_note


def test_report_from_a_table_and_without_multiqc_installed(results, tmp_path, monkeypatch):
    first = build_report([results], tmp_path / "a", baselines=DEFAULT_BASELINES, n_boot=50, n_boot_compare=50,
                         multiqc=False)
    monkeypatch.setattr(mq, "multiqc_command", lambda: None)
    rep = build_report([first.table], tmp_path / "b", baselines=DEFAULT_BASELINES, n_boot=50, n_boot_compare=50)
    assert rep.html is None and "pip install multiqc" in rep.multiqc_note
    assert rep.table.read_bytes() == first.table.read_bytes()
    with pytest.raises(InputError, match="pip install multiqc"):
        build_report([first.table], tmp_path / "c", baselines=DEFAULT_BASELINES, n_boot=50, multiqc=True)


def test_report_outdir_inside_the_results_folder(results, tmp_path):
    """Re-running into a folder under the results does not read the report's own files."""
    import shutil

    shutil.copytree(results, tmp_path / "res")
    out = tmp_path / "res" / "report"
    for _ in range(2):
        build_report([tmp_path / "res"], out, baselines=DEFAULT_BASELINES, n_boot=20, n_boot_compare=20,
                     multiqc=False)


def test_cli_report_help_and_run(results, tmp_path):
    runner = CliRunner()
    assert "Example: cellbench report" in runner.invoke(cli, ["report", "--help"]).output
    res = runner.invoke(cli, ["report", "--results", str(results), "--outdir", str(tmp_path / "r"), "--no-multiqc",
                              "--n-boot", "50", "--compare-n-boot", "50", "--seed", "7"])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "r" / "plots" / "heatmap.svg").exists()
    assert (tmp_path / "r" / "multiqc_config.yaml").exists()
    cfg = json.loads((tmp_path / "r" / "multiqc_config.yaml").read_text())
    assert cfg["no_version_check"] is True


# --- the demo run (real results of the task commands, tests/data/report_demo) -------------------


def test_demo_results_are_real_and_complete():
    files = find_result_files([DEMO])
    assert len(files) >= 20
    table = aggregate(files)
    assert {"X_pca", "X_umap", "pca"} <= set(table["model"])
    assert len(set(table["seeds"])) >= 1 and all(len(s.split(",")) >= 3 for s in table["seeds"])


def test_demo_report_has_every_section_and_no_empty_plot(tmp_path):
    """The MultiQC part runs where multiqc is installed (it is in the dev environment)."""
    rep = build_report([DEMO], tmp_path / "report", baselines=DEFAULT_BASELINES, multiqc=None)
    table = aggregate(find_result_files([DEMO]))
    head = headline(table)
    _check_report(rep, head)
    # every task of the demo is in the heatmap, the ranking and the dataset's bars
    assert rep.figures[0].n_marks == int(np.isfinite(head["mean"]).sum())  # one dataset: one cell per row
    assert set(ranks(head)["task"]) == {"clustering", "embedding", "integration", "label_prediction"}
    # label prediction intervals come from the fold results of the demo
    lp = table[table["task"] == "label_prediction"]
    assert (lp["ci_method"] == "bootstrap_folds").all()
    if HAS_MULTIQC:
        _check_multiqc_html(rep)
