"""Genetic perturbation expression prediction on the Papalexi THP-1 CRISPR screen (real data).

Cells are filtered as the data README suggests (grna_umi_max >= 5 & grna_umi_frac >= 0.8) and a
handful of conditions is prepared, so the suite stays fast. Predictions here are derived from the
observed data: the oracle is the observed log-normalized expression, the shuffled one the same
rows in a random order.
"""

from __future__ import annotations

import json
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from cellbench.cli import cli
from cellbench.errors import InputError
from cellbench.io.perturbation import read_prepared
from cellbench.metrics.jaccard import jaccard_index
from cellbench.metrics.mean_squared_error import mean_squared_error
from cellbench.metrics.pearson_delta import pearson_delta, undefined_score
from cellbench.metrics.spearman import spearman_correlation
from cellbench.tasks.perturbation import (
    PrepareSettings,
    evaluate_baseline,
    evaluate_prediction,
    filter_de,
    log_normalize,
    match_controls,
    predicted_effect,
    prepare_perturbation,
    sample_evaluated_genes,
)
from perturbation_helpers import reference_task_uns

DATA = Path(__file__).parent / "data" / "papalexi2021_thp1_crispr_lowmoi.h5ad"
QUERY = "grna_umi_max >= 5 and grna_umi_frac >= 0.8"
# strong (IFN-gamma pathway) and weak knock-downs, so both scored and unscored conditions occur
CONDITIONS = ["CAV1", "CD86", "IFNGR1", "IFNGR2", "JAK2", "SMAD4", "STAT1"]


def invoke(args):
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    return result


def strip_timing(path) -> dict:
    data = json.loads(Path(path).read_text())
    data.pop("wall_time_s")
    data.pop("peak_rss_mb")
    return data


@pytest.fixture(scope="module")
def cells():
    a = ad.read_h5ad(DATA)
    return a[(a.obs["grna_umi_max"] >= 5) & (a.obs["grna_umi_frac"] >= 0.8)].copy()


@pytest.fixture(scope="module")
def prepared_path(tmp_path_factory):
    out = tmp_path_factory.mktemp("pert") / "prepared.h5ad"
    args = ["perturbation-prepare", "--input", str(DATA), "--obs-query", QUERY, "--match-key", "bio_rep", "--output", str(out)]
    for c in CONDITIONS:
        args += ["--condition", c]
    res = invoke(args)
    assert res.exit_code == 0, res.output
    return out


@pytest.fixture(scope="module")
def prepared(prepared_path):
    return read_prepared(prepared_path)[0]


@pytest.fixture(scope="module")
def lognorm(cells):
    return log_normalize(cells.X).astype(np.float32).toarray()


@pytest.fixture(scope="module")
def oracle_path(tmp_path_factory, cells, lognorm):
    """The observed expression as a prediction, rows and genes reversed (alignment is by id)."""
    out = tmp_path_factory.mktemp("oracle") / "oracle.h5ad"
    a = ad.AnnData(lognorm, obs=pd.DataFrame(index=cells.obs_names), var=pd.DataFrame(index=cells.var_names))
    a[::-1, ::-1].copy().write_h5ad(out)
    return out


def by_condition(metrics, metric_type, genes=None):
    return {
        r.params["condition"]: r.value
        for r in metrics
        if r.metric_type == metric_type and (genes is None or r.params.get("genes") == genes)
    }


# ------------------------------------------------------------------------------------------ prepare


def test_prepared_contents(prepared, cells):
    s = prepared.settings
    assert list(prepared.conditions) == sorted(CONDITIONS)
    assert s.match_key == "bio_rep" and s.obs_query == QUERY and s.seed == 42
    conds = cells.obs["condition"].astype(str)
    reps = cells.obs["bio_rep"].astype(str)
    cm = prepared.control_map
    for c in prepared.conditions:
        pairs = cm[cm["condition"] == c]
        # every treated cell exactly once, each mapped to a control cell of its own replicate
        assert sorted(pairs["treated"]) == sorted(conds.index[conds == c])
        assert (conds[pairs["control"]] == "ctrl").all()
        assert (reps[pairs["treated"]].to_numpy() == reps[pairs["control"]].to_numpy()).all()
        i = prepared.index_of(c)
        assert prepared.n_treated[i] == len(pairs)
        assert prepared.n_control[i] == pairs["control"].nunique()
    de_f = filter_de(prepared.de)
    assert (de_f["pval_adj"] < 1e-4).all() and (de_f["logfoldchange"].abs() >= 1).all()
    for c in prepared.conditions:
        n_de = int((de_f["condition"] == c).sum())
        genes = prepared.evaluated_genes.get(c, [])
        if int(n_de * 0.5) >= 5:
            assert len(genes) == int(n_de * 0.5) and len(set(genes)) == len(genes)
            assert set(genes) <= set(de_f.loc[de_f["condition"] == c, "gene"])
        else:
            assert genes == []
    # the IFN-gamma receptor/JAK-STAT knock-downs have strong effects; CAV1 and CD86 have none here
    assert {"IFNGR1", "IFNGR2", "JAK2", "STAT1"} <= set(prepared.evaluated_genes)
    assert "CAV1" not in prepared.evaluated_genes
    # truth: observed mean log-normalized expression of the treated cells
    lognorm = log_normalize(cells.X)
    i = prepared.index_of("STAT1")
    rows = cells.obs_names.get_indexer(cm.loc[cm["condition"] == "STAT1", "treated"])
    np.testing.assert_allclose(prepared.treated_mean[i], np.asarray(lognorm[rows].mean(axis=0)).ravel(), rtol=1e-12)


def test_de_follows_the_reference_recipe(prepared, cells):
    """One condition's DE table equals the reference's run_multicondition_dge_analysis recipe."""
    import scanpy as sc

    cond = "IFNGR2"
    cm = prepared.control_map
    ctrl_ids = pd.unique(cm.loc[cm["condition"] == cond, "control"])
    t = cells[cells.obs["condition"] == cond].copy()
    c = cells[ctrl_ids].copy()
    t.obs["comparison_group"] = cond
    c.obs["comparison_group"] = "control"
    merged = ad.concat([t, c], index_unique=None).copy()
    sc.pp.filter_genes(merged, min_cells=10)
    sc.pp.normalize_total(merged, target_sum=1e4)
    sc.pp.log1p(merged)
    merged.obs["comparison_group"] = merged.obs["comparison_group"].astype("category")
    sc.tl.rank_genes_groups(merged, groupby="comparison_group", reference="control", method="wilcoxon", key_added="dge")
    ref = sc.get.rank_genes_groups_df(merged, group=cond, key="dge")
    ours = prepared.de[prepared.de["condition"] == cond].reset_index(drop=True)
    assert list(ours["gene"]) == list(ref["names"])
    np.testing.assert_array_equal(ours["logfoldchange"].to_numpy(), ref["logfoldchanges"].to_numpy())
    np.testing.assert_array_equal(ours["pval_adj"].to_numpy(), ref["pvals_adj"].to_numpy())
    np.testing.assert_array_equal(ours["score"].to_numpy(), ref["scores"].to_numpy())


def test_sample_evaluated_genes_draws_like_the_reference(prepared):
    """The reference's sample_de_genes, verbatim (global seed + np.random.choice), gives the same genes."""

    def reference(de_results, percent, min_genes, seed):
        np.random.seed(seed)
        out = {}
        for target in de_results["condition"].unique():
            names = de_results[de_results["condition"] == target]["gene"].values
            n = int(len(names) * percent)
            if n >= min_genes:
                out[target] = np.random.choice(names, size=n, replace=False).tolist()
        return out

    de_f = filter_de(prepared.de)
    for seed in (42, 7):
        state = np.random.get_state()
        ours = sample_evaluated_genes(de_f, 0.5, 5, seed)
        after = np.random.get_state()
        assert all(np.array_equal(a, b) for a, b in zip(state[1:2], after[1:2]))  # global RNG untouched
        assert ours == reference(de_f, 0.5, 5, seed)
    assert sample_evaluated_genes(de_f, 0.5, 5, 42) == prepared.evaluated_genes


def test_prepare_is_deterministic_and_seeded(cells):
    sub = cells[cells.obs["condition"].isin(["ctrl", "STAT1", "JAK2"])]
    args = (sub.X, sub.var_names, sub.obs_names, sub.obs["condition"])
    a = prepare_perturbation(*args, PrepareSettings(seed=42))
    b = prepare_perturbation(*args, PrepareSettings(seed=42))
    c = prepare_perturbation(*args, PrepareSettings(seed=3))
    pd.testing.assert_frame_equal(a.control_map, b.control_map)
    pd.testing.assert_frame_equal(a.de, b.de)
    assert a.evaluated_genes == b.evaluated_genes
    assert not a.control_map["control"].equals(c.control_map["control"])


def test_match_controls_without_replacement_and_with_fallback(cells):
    conds = cells.obs["condition"].to_numpy()
    table, fallbacks = match_controls(conds, cells.obs_names, "ctrl", seed=1, only=["IFNGR1"])
    assert fallbacks == 0 and table["control"].is_unique  # 1064 treated < 1923 controls: no repeats
    # a batch key under which no control exists in the treated cells' batch falls back to all controls
    batch = np.where(conds == "ctrl", "b_ctrl", "b_treated")
    table, fallbacks = match_controls(conds, cells.obs_names, "ctrl", seed=1, batches=batch, only=["STAT1"])
    assert fallbacks == int((conds == "STAT1").sum())


def test_reference_task_uns(prepared):
    """The uns cz-benchmarks' task reads: filtered DE, strict 1:1 map, evaluated genes, config."""
    uns = reference_task_uns(prepared)
    de_f = filter_de(prepared.de)
    assert list(uns["de_results"].columns) == ["condition", "gene_id", "logfoldchange"]
    assert len(uns["de_results"]) == len(de_f)
    assert uns["target_conditions_dict"] == prepared.evaluated_genes
    assert set(uns["control_cells_map"]) == set(prepared.conditions)
    for cond, mapping in uns["control_cells_map"].items():
        pairs = prepared.control_map[prepared.control_map["condition"] == cond]
        assert mapping == dict(zip(pairs["treated"], pairs["control"]))
        assert all(isinstance(k, str) and isinstance(v, str) for k, v in mapping.items())
    assert uns["config"]["condition_key"] == "condition" and uns["metric_column"] == "logfoldchange"


# ------------------------------------------------------------------------------------------ metrics


def test_metric_functions():
    from scipy.stats import pearsonr, spearmanr

    rng = np.random.default_rng(0)
    a, b = rng.normal(size=30), rng.normal(size=30)
    assert spearman_correlation(a, b) == spearmanr(a, b).statistic
    assert spearman_correlation(a, np.ones(30)) == 0.0  # NaN -> 0, as the reference
    assert mean_squared_error(a, b) == pytest.approx(np.mean((a - b) ** 2), abs=0, rel=1e-15)
    c = rng.normal(size=30)
    assert pearson_delta(a, c, b) == pytest.approx(pearsonr(a - c, b - c).statistic, rel=1e-14)
    assert np.isnan(pearson_delta(a, c, c))  # a constant predicted change: undefined, as scipy says
    assert np.isnan(pearson_delta(a[:1], c[:1], b[:1]))
    assert undefined_score(pearson_delta(a, c, c)) == (0.0, {"raw_value": "NaN"})  # scored 0, NaN kept
    assert undefined_score(0.25) == (0.25, {})
    assert jaccard_index({"x", "y"}, {"y", "z"}) == pytest.approx(1 / 3)
    assert np.isnan(jaccard_index(set(), set()))


def test_predicted_effect_ratio_and_fallback():
    t, c = np.array([2.0, 1.0, 0.5]), np.array([1.0, 1.0, 1.0])
    eff, used = predicted_effect(t, c, "ratio")
    assert used == "ratio"
    np.testing.assert_allclose(eff, np.log((t + 1e-8) / (c + 1e-8)))
    eff, used = predicted_effect(np.array([2.0, 0.0, 0.5]), c, "ratio")
    assert used == "difference"
    np.testing.assert_array_equal(eff, np.array([1.0, -1.0, -0.5]))


# ------------------------------------------------------------------------------------------ evaluation


def test_oracle_shuffled_and_baselines_per_condition(prepared, cells, lognorm):
    oracle, _ = evaluate_prediction(prepared, lognorm, cells.obs_names)
    rng = np.random.default_rng(0)
    shuffles = [evaluate_prediction(prepared, lognorm[rng.permutation(cells.n_obs)], cells.obs_names)[0] for _ in range(10)]
    shuffled = shuffles[0]
    no_change, _ = evaluate_baseline(prepared, "no_change")
    other, _ = evaluate_baseline(prepared, "other_mean")
    scored = sorted(prepared.evaluated_genes)
    runs = [("oracle", oracle), ("shuffled", shuffled), ("no_change", no_change), ("other", other)]

    # Spearman over the 6-8 evaluated genes of a condition: the oracle ranks them almost perfectly;
    # one shuffle can rank 6 genes well by chance (sd ~0.45), so shuffles are averaged
    sp = {k: by_condition(m, "spearman_correlation_calculation") for k, m in runs}
    sp_shuffled = {c: np.mean([by_condition(m, "spearman_correlation_calculation")[c] for m in shuffles]) for c in scored}
    for c in scored:
        assert sp["oracle"][c] >= 0.75, c
        assert abs(sp_shuffled[c]) < 0.45, c
        assert sp["no_change"][c] == 0.0  # a constant effect has no rank: 0, as the reference
        assert sp["other"][c] >= sp["no_change"][c], c
    assert sp["oracle"]["MEAN"] > 0.85
    assert abs(np.mean(list(sp_shuffled.values()))) < 0.2
    # the other IFN-gamma pathway knock-downs share the response, so "other_mean" is a strong
    # baseline, still below the oracle on average
    assert sp["oracle"]["MEAN"] > sp["other"]["MEAN"] > sp["no_change"]["MEAN"]

    for genes in ("all", "top20_de"):
        pdelta = {k: by_condition(m, "pearson_delta", genes) for k, m in runs}
        mse = {k: by_condition(m, "mean_squared_error", genes) for k, m in runs}
        for c in prepared.conditions:
            assert pdelta["oracle"][c] > 0.9999
            assert mse["oracle"][c] < 1e-10
            assert pdelta["no_change"][c] == 0.0
            assert mse["no_change"][c] > mse["oracle"][c]
            assert mse["other"][c] > mse["oracle"][c]
        for c in scored:  # where the knock-down has an effect, the baselines lie in between
            assert pdelta["oracle"][c] > pdelta["other"][c] > pdelta["no_change"][c], (genes, c)
            if genes == "top20_de":  # over all genes the shared response can cost more than it gains (SMAD4)
                assert mse["no_change"][c] > mse["other"][c] > mse["oracle"][c], (genes, c)
        if genes == "all":  # 299 genes: a single shuffle is already close to 0
            assert all(abs(pdelta["shuffled"][c]) < 0.35 for c in prepared.conditions)
            assert abs(pdelta["shuffled"]["MEAN"]) < 0.15

    jac = {k: by_condition(m, "jaccard") for k, m in runs}
    for c in scored:
        assert jac["oracle"][c] >= 0.6
        assert jac["oracle"][c] > jac["other"][c] > jac["no_change"][c] == 0.0, c
        assert jac["oracle"][c] > jac["shuffled"][c]
    assert jac["shuffled"]["MEAN"] < 0.2
    assert jac["oracle"]["CAV1"] is None  # no true DE gene: undefined, not 0


def test_mean_rows(prepared, cells, lognorm):
    metrics, _ = evaluate_prediction(prepared, lognorm, cells.obs_names)
    sp = by_condition(metrics, "spearman_correlation_calculation")
    per = [v for k, v in sp.items() if k != "MEAN"]
    assert sp["MEAN"] == pytest.approx(np.mean(per), rel=1e-15)
    mean_row = next(r for r in metrics if r.metric_type == "spearman_correlation_calculation"
                    and r.params["condition"] == "MEAN")
    assert mean_row.params["n_conditions"] == len(prepared.evaluated_genes)


def test_mean_rows_carry_an_interval_over_conditions(prepared, cells, lognorm):
    """Condition MEAN rows: a bootstrap interval over the conditions, seeded by the prepare seed by
    default; per-condition rows have none; n_boot=0 switches it off without changing a value."""
    metrics, _ = evaluate_prediction(prepared, lognorm, cells.obs_names)
    means = [r for r in metrics if r.params["condition"] == "MEAN"]
    assert means and all(r.ci is None for r in metrics if r.params["condition"] != "MEAN")
    for r in means:
        if r.params["n_conditions"] >= 2:
            assert r.ci.unit == "conditions" and r.ci.n_units == r.params["n_conditions"], r
            assert r.ci.seed == prepared.settings.seed and r.ci.low - 1e-12 <= r.value <= r.ci.high + 1e-12, r
    other, _ = evaluate_prediction(prepared, lognorm, cells.obs_names, seed=7)
    assert [r.value for r in other] == [r.value for r in metrics]
    assert any(a.ci != b.ci for a, b in zip(other, metrics) if a.ci is not None)
    off, _ = evaluate_baseline(prepared, "no_change", n_boot=0)
    assert all(r.ci is None for r in off)
    base, _ = evaluate_baseline(prepared, "no_change")
    assert [r.value for r in base] == [r.value for r in off]
    assert any(r.ci is not None for r in base)


def test_spearman_follows_the_reference_loop(prepared, cells, lognorm):
    """The reference's _run_task arithmetic, transcribed: pairs from the control map, means of the
    evaluated genes' columns in the prediction's dtype, ratio with fallback, spearmanr, NaN -> 0."""
    from scipy.stats import spearmanr

    pred = lognorm.copy()
    zeroed = prepared.evaluated_genes["STAT1"][0]
    pred[:, cells.var_names.get_loc(zeroed)] = 0.0  # a zero mean forces the reference's difference fallback
    metrics, _ = evaluate_prediction(prepared, pred, cells.obs_names)
    ours = {r.params["condition"]: r for r in metrics if r.metric_type == "spearman_correlation_calculation"}
    de_f = filter_de(prepared.de)
    index = pd.Index(cells.obs_names)
    genes = pd.Index(cells.var_names)
    for cond, targets in prepared.evaluated_genes.items():
        cde = de_f[de_f["condition"] == cond].set_index("gene")
        cand = [g for g in targets if g in cde.index]
        true = cde.reindex(cand)["logfoldchange"].values
        pairs = prepared.control_map[prepared.control_map["condition"] == cond]
        tr, ct = index.get_indexer(pairs["treated"]), index.get_indexer(pairs["control"])
        gi = genes.get_indexer(cand)
        tm, cmn = np.mean(pred[np.ix_(tr, gi)], axis=0), np.mean(pred[np.ix_(ct, gi)], axis=0)
        if np.any(tm <= 0) or np.any(cmn <= 0):
            eff, used = tm - cmn, "difference"
        else:
            eff, used = np.log((tm + 1e-8) / (cmn + 1e-8)), "ratio"
        value = spearmanr(true, eff).statistic
        value = 0 if np.isnan(value) else value
        assert ours[cond].value == value
        assert ours[cond].params["effect"] == used
    for cond, targets in prepared.evaluated_genes.items():
        assert ours[cond].params["effect"] == ("difference" if zeroed in targets else "ratio")


def test_undefined_pearson_delta_scores_zero_and_shows_the_nan(prepared, cells, lognorm):
    """no_change predicts a constant change: each Pearson delta is scored 0 with raw_value "NaN" in its
    params; defined rows carry no raw_value, and the MEAN row still averages every condition."""
    no_change, _ = evaluate_baseline(prepared, "no_change", n_boot=0)
    oracle, _ = evaluate_prediction(prepared, lognorm, cells.obs_names, n_boot=0)
    for metrics, undefined in ((no_change, True), (oracle, False)):
        rows = [r for r in metrics if r.metric_type == "pearson_delta"]
        per = [r for r in rows if r.params["condition"] != "MEAN"]
        assert len(per) == 2 * prepared.conditions.size
        for r in per:
            assert (r.params.get("raw_value") == "NaN") is undefined, r
            assert r.value == 0.0 if undefined else r.value > 0.99
        means = [r for r in rows if r.params["condition"] == "MEAN"]
        assert len(means) == 2 and all("raw_value" not in r.params for r in means)
        assert all(r.params["n_conditions"] == prepared.conditions.size for r in means)
    # the report does not split a variant over it
    from cellbench.report.table import canonical_params

    nc = {canonical_params(r.params) for r in no_change if r.metric_type == "pearson_delta"}
    orc = {canonical_params(r.params) for r in oracle if r.metric_type == "pearson_delta"}
    assert nc == orc


def test_sparse_and_dense_predictions_give_the_same_numbers(prepared, cells, lognorm):
    """A float32 prediction stored sparse or dense gives the same bytes in every metric (the gene-wise
    means are float64 sums in one order; scipy's sparse mean moved MSE by up to 1.5e-9)."""
    import scipy.sparse as sp

    treated = cells.obs["condition"].to_numpy() != "ctrl"
    for rows in (slice(None), treated):  # controls from the prediction, then from the dataset
        ids = cells.obs_names[rows]
        dense, _ = evaluate_prediction(prepared, lognorm[rows], ids, n_boot=0)
        sparse, _ = evaluate_prediction(prepared, sp.csr_matrix(lognorm[rows]), ids, n_boot=0)
        assert [(r.metric_type, r.params, r.value) for r in sparse] == [(r.metric_type, r.params, r.value) for r in dense]


def test_prediction_without_control_cells_uses_observed_controls(prepared, cells, lognorm):
    treated = cells.obs["condition"].to_numpy() != "ctrl"
    metrics, info = evaluate_prediction(prepared, lognorm[treated], cells.obs_names[treated])
    assert set(info["control_source"].values()) == {"dataset"}
    assert all(v > 0.9999 for k, v in by_condition(metrics, "pearson_delta", "all").items())


def test_partial_predictions_are_errors(prepared, cells, lognorm):
    ids = np.asarray(cells.obs_names)
    stat1 = np.flatnonzero(cells.obs["condition"].to_numpy() == "STAT1")
    keep = np.ones(cells.n_obs, bool)
    keep[stat1[0]] = False
    with pytest.raises(InputError, match=f"cells of condition 'STAT1' are missing, first '{ids[stat1[0]]}'"):
        evaluate_prediction(prepared, lognorm[keep], ids[keep])
    metrics, _ = evaluate_prediction(prepared, lognorm[keep], ids[keep], conditions=["IFNGR1"])
    assert {r.params["condition"] for r in metrics} == {"IFNGR1", "MEAN"}
    ctrl = prepared.control_map.loc[prepared.control_map["condition"] == "IFNGR1", "control"].iloc[0]
    keep = ids != ctrl
    with pytest.raises(InputError, match="some but not all matched control cells of condition 'IFNGR1'"):
        evaluate_prediction(prepared, lognorm[keep], ids[keep], conditions=["IFNGR1"])
    with pytest.raises(InputError, match="condition 'SPI1'"):
        evaluate_prediction(prepared, lognorm, ids, conditions=["SPI1"])


# ------------------------------------------------------------------------------------------ CLI


def test_cli_oracle_and_alignment(prepared_path, oracle_path, prepared, cells, lognorm, tmp_path):
    out = tmp_path / "r.json"
    res = invoke(["perturbation", "--prepared", str(prepared_path), "--prediction", str(oracle_path), "-o", str(out)])
    assert res.exit_code == 0, res.output
    data = json.loads(out.read_text())
    assert data["task"] == "perturbation" and data["model"] == "oracle"
    assert data["dataset"] == "papalexi2021_thp1_crispr_lowmoi" and data["seed"] == 42
    assert data["params"]["conditions"] == sorted(CONDITIONS)
    assert set(data["params"]["control_source"].values()) == {"prediction"}
    # the reversed rows/genes in the file give exactly the numbers of the aligned matrix
    direct, _ = evaluate_prediction(prepared, lognorm, cells.obs_names)
    from_file = [(m["metric_type"], m["params"], m["value"]) for m in data["metrics"]]
    assert from_file == [(r.metric_type, r.params, r.value) for r in direct]


def test_cli_baselines_and_condition_fanout(prepared_path, tmp_path):
    out = tmp_path / "b.json"
    res = invoke(["perturbation", "--prepared", str(prepared_path), "--baseline", "other_mean",
                  "--condition", "STAT1", "--condition", "JAK2", "-o", str(out)])
    assert res.exit_code == 0, res.output
    data = json.loads(out.read_text())
    assert data["model"] == "other_mean" and data["params"]["baseline"] == "other_mean"
    assert data["params"]["conditions"] == ["STAT1", "JAK2"]
    assert {m["params"]["condition"] for m in data["metrics"]} == {"STAT1", "JAK2", "MEAN"}
    # one condition at a time gives the same per-condition numbers (fan-out is exact)
    out2 = tmp_path / "b2.json"
    invoke(["perturbation", "--prepared", str(prepared_path), "--baseline", "other_mean", "--condition", "JAK2",
            "-o", str(out2)])
    jak2 = [m for m in data["metrics"] if m["params"]["condition"] == "JAK2"]
    assert jak2 == [m for m in json.loads(out2.read_text())["metrics"] if m["params"]["condition"] == "JAK2"]


def test_cli_n_boot_zero_drops_the_intervals(prepared_path, tmp_path):
    outs = {}
    for name, extra in (("on", []), ("off", ["--n-boot", "0"])):
        outs[name] = tmp_path / f"{name}.json"
        res = invoke(["perturbation", "--prepared", str(prepared_path), "--baseline", "no_change", *extra,
                      "-o", str(outs[name])])
        assert res.exit_code == 0, res.output
    on, off = (json.loads(outs[k].read_text())["metrics"] for k in ("on", "off"))
    assert any("ci" in m for m in on) and not any("ci" in m for m in off)
    assert [{k: v for k, v in m.items() if k != "ci"} for m in on] == off


def test_cli_is_deterministic(prepared_path, oracle_path, tmp_path):
    outs = [tmp_path / "a.json", tmp_path / "b.json"]
    for out in outs:
        res = invoke(["perturbation", "--prepared", str(prepared_path), "--prediction", str(oracle_path), "-o", str(out)])
        assert res.exit_code == 0, res.output
    assert strip_timing(outs[0]) == strip_timing(outs[1])
    a, b = (json.dumps(strip_timing(p), sort_keys=True) for p in outs)
    assert a == b


def test_cli_prepare_is_deterministic(tmp_path):
    sums = []
    for name in ("a", "b"):
        out = tmp_path / f"{name}.h5ad"
        res = invoke(["perturbation-prepare", "--input", str(DATA), "--obs-query", QUERY, "--condition", "STAT1",
                      "--output", str(out)])
        assert res.exit_code == 0, res.output
        p, _ = read_prepared(out)
        sums.append((p.control_map.to_json(), p.de.to_json(), p.evaluated_genes, p.treated_mean.tobytes()))
    assert sums[0] == sums[1]


# ------------------------------------------------------------------------------------------ bad input


def error_line(res) -> str:
    assert res.exit_code == 1, res.output
    lines = [line for line in res.output.strip().splitlines() if line.startswith("Error:")]
    assert len(lines) == 1, res.output
    return lines[0]


def test_prepare_no_control_cells(tmp_path):
    res = invoke(["perturbation-prepare", "--input", str(DATA), "--control-name", "NT", "--output", str(tmp_path / "p.h5ad")])
    line = error_line(res)
    assert str(DATA) in line and "no control cells" in line and "'NT'" in line
    assert not (tmp_path / "p.h5ad").exists()


def test_prepare_condition_without_cells(tmp_path):
    res = invoke(["perturbation-prepare", "--input", str(DATA), "--condition", "GATA1", "--output", str(tmp_path / "p.h5ad")])
    line = error_line(res)
    assert str(DATA) in line and "condition 'GATA1' has no cells" in line


def test_prepare_missing_condition_column(tmp_path):
    res = invoke(["perturbation-prepare", "--input", str(DATA), "--condition-key", "perturbation",
                  "--output", str(tmp_path / "p.h5ad")])
    line = error_line(res)
    assert str(DATA) in line and "'perturbation'" in line


def test_evaluate_condition_not_prepared(prepared_path, tmp_path):
    res = invoke(["perturbation", "--prepared", str(prepared_path), "--baseline", "no_change", "--condition", "MYC",
                  "-o", str(tmp_path / "r.json")])
    line = error_line(res)
    assert str(prepared_path) in line and "condition 'MYC'" in line


def test_evaluate_prediction_with_different_genes(prepared_path, cells, lognorm, tmp_path):
    pred = ad.AnnData(lognorm[:, 1:], obs=pd.DataFrame(index=cells.obs_names), var=pd.DataFrame(index=cells.var_names[1:]))
    path = tmp_path / "pred.h5ad"
    pred.write_h5ad(path)
    res = invoke(["perturbation", "--prepared", str(prepared_path), "--prediction", str(path), "-o", str(tmp_path / "r.json")])
    line = error_line(res)
    assert str(path) in line and f"first '{cells.var_names[0]}'" in line and "genes are missing" in line
    assert not (tmp_path / "r.json").exists()


def test_evaluate_needs_prediction_or_baseline(prepared_path, oracle_path, tmp_path):
    res = invoke(["perturbation", "--prepared", str(prepared_path), "-o", str(tmp_path / "r.json")])
    assert res.exit_code == 2 and "exactly one of --prediction or --baseline" in res.output
    res = invoke(["perturbation", "--prepared", str(prepared_path), "--prediction", str(oracle_path),
                  "--baseline", "no_change", "-o", str(tmp_path / "r.json")])
    assert res.exit_code == 2


def test_evaluate_rejects_a_dataset_as_prepared_file(tmp_path):
    res = invoke(["perturbation", "--prepared", str(DATA), "--baseline", "no_change", "-o", str(tmp_path / "r.json")])
    line = error_line(res)
    assert str(DATA) in line and "not a prepared perturbation file" in line


def test_evaluate_seed_must_match(prepared_path, tmp_path):
    res = invoke(["perturbation", "--prepared", str(prepared_path), "--baseline", "no_change", "--seed", "7",
                  "-o", str(tmp_path / "r.json")])
    line = error_line(res)
    assert "prepared with seed 42" in line
