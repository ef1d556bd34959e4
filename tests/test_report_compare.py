"""Paired model comparisons against hand-computed cases."""

import math

import pytest
from click.testing import CliRunner

from cellbench.cli import cli
from cellbench.errors import InputError
from cellbench.report.compare import COMPARISON_COLUMNS, compare, compare_pair, default_pairs
from cellbench.report.table import aggregate, find_result_files
from cellbench.report.tablefile import read_table, write_table
from cellbench.stats import bootstrap_ci
from report_helpers import metric, write

# silhouette per dataset: A beats pca by 0.1 .. 0.5 on five datasets; B ties A on d1, loses elsewhere
A = [0.5, 0.6, 0.7, 0.8, 0.9]
PCA = [0.4, 0.4, 0.4, 0.4, 0.4]
B = [0.5, 0.55, 0.65, 0.75, 0.85]


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cmp")
    for i in range(5):
        for model, vals in (("A", A), ("B", B), ("pca", PCA)):
            write(folder, f"{model}_{i}", task="embedding", dataset=f"d{i}", model=model, seed=42,
                  metrics=[metric("silhouette_score", vals[i]), metric("mean_squared_error", 1 - vals[i])])
    return aggregate(find_result_files([folder]), baselines=["pca"])


def _row(df, **where):
    sel = df
    for k, v in where.items():
        sel = sel[sel[k] == v]
    assert len(sel) == 1, where
    return sel.iloc[0]


def test_default_pairs():
    assert default_pairs(["b", "pca", "a"], {"pca"}) == [("a", "b", "models"), ("a", "pca", "vs_baseline"),
                                                         ("b", "pca", "vs_baseline")]
    assert default_pairs(["no_change", "other_mean"], {"no_change", "other_mean"}) == [
        ("no_change", "other_mean", "models")]


def test_model_vs_baseline_hand_computed(table):
    comp = compare(table, baselines=["pca"], n_boot=2000, seed=1)
    assert list(comp.columns) == COMPARISON_COLUMNS
    r = _row(comp, model_a="A", model_b="pca", metric="silhouette_score")
    assert r["kind"] == "vs_baseline" and r["unit"] == "dataset"
    assert (r["n"], r["wins"], r["ties"], r["losses"]) == (5, 5, 0, 0)
    assert r["mean_a"] == pytest.approx(0.7) and r["mean_b"] == pytest.approx(0.4)
    assert r["mean_diff"] == pytest.approx(0.3)
    assert r["wilcoxon_p"] == pytest.approx(0.0625)  # 5 positive differences: 2 / 2^5
    # the CI is the bootstrap of the five differences with the same seed
    iv = bootstrap_ci([a - p for a, p in zip(A, PCA)], n_boot=2000, seed=1)
    assert (r["diff_ci_low"], r["diff_ci_high"]) == (iv.low, iv.high)
    assert 0.1 <= r["diff_ci_low"] < 0.3 < r["diff_ci_high"] <= 0.5
    assert r["units"] == "d0;d1;d2;d3;d4"


def test_lower_is_better_flips_wins(table):
    comp = compare(table, baselines=["pca"], n_boot=100)
    r = _row(comp, model_a="A", model_b="pca", metric="mean_squared_error")
    assert not r["higher_is_better"]
    assert (r["wins"], r["losses"]) == (5, 0)  # A's error is lower everywhere
    assert r["mean_diff"] == pytest.approx(-0.3)


def test_ties_and_losses(table):
    comp = compare(table, model_a="B", model_b="A", baselines=["pca"], n_boot=100)
    assert set(comp["model_a"]) == {"B"} and set(comp["model_b"]) == {"A"}
    r = _row(comp, metric="silhouette_score")
    assert (r["wins"], r["ties"], r["losses"]) == (0, 1, 4)
    assert r["mean_diff"] == pytest.approx(-0.04)
    # zero differences are dropped: four equal negative differences -> exact p = 2 / 2^4
    assert r["wilcoxon_p"] == pytest.approx(0.125)


def test_bh_adjustment_over_rows(table):
    comp = compare(table, baselines=["pca"], n_boot=100)
    p = comp["wilcoxon_p"].to_numpy()
    assert (comp["wilcoxon_p_bh"].to_numpy() >= p - 1e-15).all()


def test_single_dataset_has_no_interval_or_test():
    r = compare_pair([0.7], [0.4], higher_is_better=True, tie_tolerance=0, n_boot=100, level=0.95, seed=1)
    assert (r["n"], r["wins"]) == (1, 1)
    assert math.isnan(r["diff_ci_low"])
    assert math.isnan(r["wilcoxon_p"])  # one difference is no test


def test_comparison_is_deterministic_for_a_seed(table):
    a = compare(table, baselines=["pca"], n_boot=500, seed=3)
    b = compare(table, baselines=["pca"], n_boot=500, seed=3)
    assert a.equals(b)
    # five units: the 95 % ends are mostly the extreme differences; the 50 % ones move with the seed
    c = compare(table, baselines=["pca"], n_boot=500, seed=3, level=0.5)
    d = compare(table, baselines=["pca"], n_boot=500, seed=4, level=0.5)
    assert not (c["diff_ci_low"].equals(d["diff_ci_low"]) and c["diff_ci_high"].equals(d["diff_ci_high"]))


def test_conditions_are_pooled_into_units(tmp_path):
    # two datasets x two conditions; MEAN rows stay a metric of their own
    for ds in ("k562", "thp1"):
        for model, shift in (("gears", 0.2), ("no_change", 0.0)):
            ms = [metric("spearman_correlation_calculation", 0.1 * i + shift, condition=c)
                  for i, c in enumerate(("A", "B"))]
            ms.append(metric("spearman_correlation_calculation", 0.05 + shift, condition="MEAN", n_conditions=2))
            write(tmp_path, f"{ds}_{model}", task="perturbation", dataset=ds, model=model, seed=42, metrics=ms)
    table = aggregate(find_result_files([tmp_path]))
    comp = compare(table, baselines=["no_change"], n_boot=100)
    pooled = _row(comp, variant="")
    assert pooled["n"] == 4 and pooled["units"] == "k562|condition=A;k562|condition=B;thp1|condition=A;thp1|condition=B"
    assert pooled["mean_diff"] == pytest.approx(0.2) and pooled["wins"] == 4
    mean_row = _row(comp, variant="condition=MEAN")
    assert mean_row["n"] == 2
    unpooled = compare(table, baselines=["no_change"], n_boot=100, pool=())
    assert set(unpooled["n"]) == {2}
    assert len(unpooled) == 3


def test_seed_units(tmp_path):
    for seed, (a, b) in zip((1, 2, 3), ((0.5, 0.4), (0.6, 0.4), (0.7, 0.8))):
        write(tmp_path, f"a{seed}", task="clustering", dataset="d", model="a", seed=seed,
              metrics=[metric("adjusted_rand_index", a)])
        write(tmp_path, f"b{seed}", task="clustering", dataset="d", model="b", seed=seed,
              metrics=[metric("adjusted_rand_index", b)])
    table = aggregate(find_result_files([tmp_path]))
    by_ds = compare(table, n_boot=10)
    assert by_ds["n"].tolist() == [1]
    by_seed = compare(table, unit="seed", n_boot=10)
    r = by_seed.iloc[0]
    assert (r["n"], r["wins"], r["losses"]) == (3, 2, 1) and r["units"] == "d@1;d@2;d@3"
    assert r["mean_diff"] == pytest.approx((0.1 + 0.2 - 0.1) / 3)


def test_unknown_model_is_an_input_error(table):
    with pytest.raises(InputError, match="model 'nope' is not in the table"):
        compare(table, model_a="nope")


def test_cli_compare(table, tmp_path):
    tsv, _ = write_table(table, tmp_path / "aggregate")
    out = tmp_path / "comparison.tsv"
    res = CliRunner().invoke(cli, ["compare", "--table", str(tsv), "--output", str(out), "--baselines", "pca",
                                   "--n-boot", "200"])
    assert res.exit_code == 0, res.output
    text = out.read_text().splitlines()
    assert text[0].split("\t") == COMPARISON_COLUMNS
    assert len(text) == 1 + 3 * 2  # 3 pairs x 2 metrics
    res = CliRunner().invoke(cli, ["compare", "--table", str(tsv), "--output", str(out), "--model-a", "A",
                                   "--model-b", "B", "--baselines", "pca"])
    assert res.exit_code == 0 and len(out.read_text().splitlines()) == 1 + 2
    assert "Example: cellbench compare" in CliRunner().invoke(cli, ["compare", "--help"]).output
    assert read_table(tsv).shape == table.shape
