"""The aggregate table: hand-computed summaries, interval sources, determinism, errors, CLI."""

import json
import math
import shutil

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from cellbench.cli import cli
from cellbench.errors import InputError
from cellbench.report.columns import COLUMNS
from cellbench.report.table import aggregate, find_result_files
from cellbench.report.tablefile import read_table, write_table
from cellbench.report.variants import canonical_params, row_params, variant_label
from cellbench.stats import bootstrap_ci
from report_helpers import FOLDS, metric, write, write_label_folds


def _row(df, **where):
    sel = df
    for k, v in where.items():
        sel = sel[sel[k] == v]
    assert len(sel) == 1, f"{len(sel)} rows for {where}"
    return sel.iloc[0]


@pytest.fixture
def seeds_folder(tmp_path):
    """Embedding silhouette of two models over three seeds, and a clustering ARI with a missing value."""
    for seed, a, p in [(42, 0.5, 0.4), (43, 0.6, 0.4), (44, 0.7, 0.4)]:
        write(tmp_path, f"emb_a_{seed}", task="embedding", dataset="pbmc", model="X_a", seed=seed,
              metrics=[metric("silhouette_score", a)])
        write(tmp_path, f"emb_p_{seed}", task="embedding", dataset="pbmc", model="pca", seed=seed,
              metrics=[metric("silhouette_score", p)])
    write(tmp_path, "clu_42", task="clustering", dataset="pbmc", model="X_a", seed=42,
          metrics=[metric("adjusted_rand_index", 0.25)])
    write(tmp_path, "clu_43", task="clustering", dataset="pbmc", model="X_a", seed=43,
          metrics=[metric("adjusted_rand_index", None)])
    return tmp_path


def test_mean_sd_n_and_t_interval_over_seeds(seeds_folder):
    df = aggregate(find_result_files([seeds_folder]))
    assert list(df.columns) == COLUMNS
    r = _row(df, task="embedding", model="X_a")
    assert (r["n"], r["n_missing"]) == (3, 0)
    assert r["mean"] == pytest.approx(0.6) and r["sd"] == pytest.approx(0.1)
    assert r["sem"] == pytest.approx(0.1 / math.sqrt(3))
    assert (r["min"], r["max"]) == (0.5, 0.7)
    p = 0.975
    half = (2 * p - 1) / math.sqrt(2 * p * (1 - p)) * 0.1 / math.sqrt(3)  # t(0.975, df 2) closed form
    assert r["ci_method"] == "t_seeds"
    assert r["ci_low"] == pytest.approx(0.6 - half) and r["ci_high"] == pytest.approx(0.6 + half)
    assert r["seeds"] == "42,43,44" and r["values"] == "0.5,0.6,0.7"
    assert not r["baseline"] and _row(df, task="embedding", model="pca")["baseline"]
    base = _row(df, task="embedding", model="pca")
    # the same value from every seed: sd 0 and no (zero-width) interval
    assert base["sd"] == 0.0 and base["ci_method"] == "none" and math.isnan(base["ci_low"])
    clu = _row(df, task="clustering")
    assert (clu["n"], clu["n_missing"], clu["mean"], clu["ci_method"]) == (1, 1, 0.25, "none")
    assert math.isnan(clu["sd"]) and math.isnan(clu["ci_low"])
    assert clu["values"] == "0.25,NA"


def test_row_order_and_files_do_not_depend_on_input_order(seeds_folder, tmp_path_factory):
    files = find_result_files([seeds_folder])
    a = aggregate(files)
    b = aggregate(list(reversed(files)))
    pd.testing.assert_frame_equal(a, b)
    out = tmp_path_factory.mktemp("out")
    write_table(a, out / "one")
    write_table(b, out / "two")
    assert (out / "one.tsv").read_bytes() == (out / "two.tsv").read_bytes()
    assert (out / "one.parquet").read_bytes() == (out / "two.parquet").read_bytes()


def test_tsv_and_parquet_read_back_identically(seeds_folder, tmp_path):
    df = aggregate(find_result_files([seeds_folder]))
    tsv, parquet = write_table(df, tmp_path / "agg" / "aggregate")
    pd.testing.assert_frame_equal(read_table(tsv), df)
    pd.testing.assert_frame_equal(read_table(parquet), df)
    header = tsv.read_text().splitlines()[0].split("\t")
    assert header == COLUMNS


def test_variant_labels_and_bookkeeping_params():
    assert variant_label({}) == ""
    assert variant_label({"classifier": "lr"}) == "classifier=lr"
    assert variant_label({"train_species": "human", "test_species": "mouse"}) == "test_species=mouse,train_species=human"
    assert variant_label({"fold": 3, "classifier": "rf"}) == "classifier=rf,fold=3"
    # counts and the effect fallback are bookkeeping, not the variant
    assert variant_label({"condition": "IFNGR1", "effect": "ratio", "n_genes": 12}) == "condition=IFNGR1"


def test_row_params_reads_back_canonical_params():
    params = {"condition": "A", "fold": 3, "effect": "ratio"}
    assert row_params(canonical_params(params)) == {"condition": "A", "fold": 3}
    assert row_params("") == {} and row_params("{}") == {}


def test_perturbation_variants_pair_across_models_despite_bookkeeping(tmp_path):
    write(tmp_path, "p1", task="perturbation", dataset="papalexi", model="scgenept", seed=42,
          metrics=[metric("mean_squared_error", 0.5, condition="A", genes="all", n_genes=10),
                   metric("spearman_correlation_calculation", 0.3, condition="A", effect="ratio", n_genes=7)])
    write(tmp_path, "p2", task="perturbation", dataset="papalexi", model="no_change", seed=42,
          metrics=[metric("mean_squared_error", 0.75, condition="A", genes="all", n_genes=10),
                   metric("spearman_correlation_calculation", 0.0, condition="A", effect="difference", n_genes=7)])
    df = aggregate(find_result_files([tmp_path]))
    spear = df[df["metric"] == "spearman_correlation_calculation"]
    assert set(spear["variant"]) == {"condition=A"} and len(spear) == 2
    mse = df[df["metric"] == "mean_squared_error"]
    assert not mse["higher_is_better"].any() and spear["higher_is_better"].all()
    assert _row(df, model="no_change", metric="mean_squared_error")["baseline"]


def test_task_time_intervals_are_used_and_averaged_over_seeds(tmp_path):
    write(tmp_path, "s42", task="integration", dataset="pbmc", model="X_a", seed=42,
          metrics=[metric("entropy_per_cell", 0.5, ci=(0.4, 0.6))])
    write(tmp_path, "s43", task="integration", dataset="pbmc", model="X_a", seed=43,
          metrics=[metric("entropy_per_cell", 0.7, ci=(0.5, 0.9))])
    r = _row(aggregate(find_result_files([tmp_path])), metric="entropy_per_cell")
    assert r["ci_method"] == "bootstrap_cells" and r["n_boot"] == 1000 and r["ci_level"] == 0.95
    assert r["ci_low"] == pytest.approx(0.45) and r["ci_high"] == pytest.approx(0.75)
    assert r["mean"] == pytest.approx(0.6)


def test_fold_bootstrap_for_merged_label_prediction(tmp_path):
    write_label_folds(tmp_path)
    df = aggregate(find_result_files([tmp_path]), n_boot=500, seed=9)
    # the per-fold rows feed the intervals and are not rows themselves
    assert set(df["task"]) == {"label_prediction"}
    assert len(df) == 2 * 3  # 2 models x (MEAN, lr, knn)
    r = _row(df, model="X_a", variant="classifier=MEAN(knn,lr)")
    assert r["ci_method"] == "bootstrap_folds" and r["n_boot"] == 500
    # the same bootstrap by hand: strata = seeds, clusters = folds, both classifiers of a fold together
    vals, strata, clusters = [], [], []
    for seed, by_clf in FOLDS["X_a"].items():
        for fold_vals in by_clf.values():
            for fold, v in enumerate(fold_vals):
                vals.append(v)
                strata.append(seed)
                clusters.append(str(fold))
    iv = bootstrap_ci(vals, n_boot=500, seed=9, strata=strata, clusters=clusters)
    assert (r["ci_low"], r["ci_high"]) == (iv.low, iv.high)
    assert r["mean"] == pytest.approx(iv.estimate)
    lr = _row(df, model="X_a", variant="classifier=lr")
    # lr per seed: 0.8, 0.85 -> mean 0.825
    assert lr["mean"] == pytest.approx(0.825) and lr["ci_low"] <= 0.825 <= lr["ci_high"]
    assert lr["ci_method"] == "bootstrap_folds"
    # deterministic for the seed, different for another
    again = aggregate(find_result_files([tmp_path]), n_boot=500, seed=9)
    pd.testing.assert_frame_equal(df, again)
    other = _row(aggregate(find_result_files([tmp_path]), n_boot=500, seed=10), model="X_a",
                 variant="classifier=MEAN(knn,lr)")
    assert (other["ci_low"], other["ci_high"]) != (r["ci_low"], r["ci_high"])


def test_unmerged_folds_are_listed_and_inconsistent_folds_are_not_used(tmp_path):
    write_label_folds(tmp_path, merged=False)
    df = aggregate(find_result_files([tmp_path]))
    assert set(df["task"]) == {"label_prediction_fold"}
    assert "classifier=knn,fold=0" in set(df["variant"])
    # a merged value that disagrees with its folds: the fold interval is not trusted
    write(tmp_path, "merged_wrong", task="label_prediction", dataset="pbmc", model="X_a", seed=42,
          metrics=[metric("mean_fold_accuracy", 0.99, classifier="lr")])
    df = aggregate(find_result_files([tmp_path]))
    r = _row(df, task="label_prediction", model="X_a")
    assert r["ci_method"] == "none"


def test_duplicate_units_name_both_files(tmp_path):
    a = write(tmp_path, "a", task="embedding", dataset="pbmc", model="X_a", seed=42, metrics=[metric("s", 0.5)])
    (tmp_path / "sub").mkdir()
    shutil.copy(a, tmp_path / "sub" / "b.json")
    with pytest.raises(InputError, match=r"b\.json: duplicate result .*also in .*a\.json"):
        aggregate(find_result_files([tmp_path]))
    # the same file named twice (folder and file) is read once
    assert len(find_result_files([tmp_path / "sub", tmp_path / "sub" / "b.json"])) == 1


def test_foreign_and_broken_json_name_the_file(tmp_path):
    write(tmp_path, "ok", task="embedding", dataset="pbmc", model="X_a", seed=42, metrics=[metric("s", 0.5)])
    (tmp_path / "foreign.json").write_text(json.dumps({"samples": [1, 2]}))
    with pytest.raises(InputError, match=r"foreign\.json: not a cellbench result"):
        aggregate(find_result_files([tmp_path]))
    (tmp_path / "foreign.json").write_text("{not json")
    with pytest.raises(InputError, match=r"foreign\.json: not a JSON file"):
        aggregate(find_result_files([tmp_path]))
    with pytest.raises(InputError, match="no such result file"):
        find_result_files([tmp_path / "missing"])


def test_report_outputs_in_a_results_folder_are_skipped(tmp_path):
    write(tmp_path, "ok", task="embedding", dataset="pbmc", model="X_a", seed=42, metrics=[metric("s", 0.5)])
    (tmp_path / "cellbench_results_mqc.json").write_text("{}")
    (tmp_path / "multiqc_report_data").mkdir()
    (tmp_path / "multiqc_report_data" / "multiqc_data.json").write_text("{}")
    (tmp_path / "report").mkdir()
    (tmp_path / "report" / "x.json").write_text("{}")
    files = find_result_files([tmp_path], exclude=[tmp_path / "report"])
    assert [f.name for f in files] == ["ok.json"]


def test_read_table_rejects_other_tables(tmp_path):
    bad = tmp_path / "bad.tsv"
    bad.write_text("a\tb\n1\t2\n")
    with pytest.raises(InputError, match=r"bad\.tsv: not an aggregate table"):
        read_table(bad)


def test_cli_aggregate(seeds_folder, tmp_path_factory):
    out = tmp_path_factory.mktemp("agg")
    runner = CliRunner()
    res = runner.invoke(cli, ["aggregate", "--output-prefix", str(out / "aggregate"), str(seeds_folder),
                              "--baselines", "pca,X_a"])
    assert res.exit_code == 0, res.output
    df = read_table(out / "aggregate.tsv")
    assert df["baseline"][df["model"] == "X_a"].all()
    assert (out / "aggregate.parquet").exists()
    (seeds_folder / "zz.json").write_text("[]")
    res = runner.invoke(cli, ["aggregate", "-o", str(out / "x"), str(seeds_folder)])
    assert res.exit_code == 1
    assert "zz.json" in res.output and len(res.output.strip().splitlines()) == 1
    helptext = runner.invoke(cli, ["aggregate", "--help"]).output
    assert "Example: cellbench aggregate" in helptext


def test_values_survive_the_tsv_exactly(tmp_path):
    v = 0.1 + 0.2  # 0.30000000000000004
    write(tmp_path, "x", task="embedding", dataset="d", model="m", seed=1, metrics=[metric("s", v)])
    df = aggregate(find_result_files([tmp_path]))
    tsv, _ = write_table(df, tmp_path / "t")
    assert read_table(tsv)["mean"][0] == v
    assert np.isnan(read_table(tsv)["sd"][0])
