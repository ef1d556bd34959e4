"""cellbench.stats: bootstrap intervals, seed summaries and paired tests against hand-computed cases."""

import math

import numpy as np
import pytest

from cellbench import stats
from cellbench.schema import ConfidenceInterval, MetricResult


def test_summarize_hand_computed():
    s = stats.summarize([1.0, 2.0, None, 3.0, 4.0, float("nan")])
    assert s.n == 4
    assert s.mean == 2.5
    assert s.sd == pytest.approx(math.sqrt(5 / 3), abs=1e-15)  # sum of squares 5, n - 1 = 3
    assert s.sem == pytest.approx(math.sqrt(5 / 3) / 2, abs=1e-15)
    assert (s.min, s.max) == (1.0, 4.0)
    one = stats.summarize([0.7])
    assert one.n == 1 and one.mean == 0.7 and math.isnan(one.sd)
    assert stats.summarize([]).n == 0


def test_t_interval_hand_computed():
    # mean 2, sd 1, n 3: half width = t(0.975, df 2) / sqrt(3); with 2 degrees of freedom the
    # t quantile has the closed form (2p - 1) / sqrt(2 p (1 - p))
    lo, hi = stats.t_interval([1.0, 2.0, 3.0])
    p = 0.975
    half = (2 * p - 1) / math.sqrt(2 * p * (1 - p)) / math.sqrt(3)
    assert lo == pytest.approx(2 - half, abs=1e-12) and hi == pytest.approx(2 + half, abs=1e-12)
    assert all(math.isnan(v) for v in stats.t_interval([1.0]))


def test_bootstrap_constant_values_give_a_point_interval():
    iv = stats.bootstrap_ci([0.3] * 7, n_boot=200, seed=1)
    assert iv.estimate == pytest.approx(0.3) and iv.low == pytest.approx(0.3) and iv.high == pytest.approx(0.3)
    assert (iv.n_boot, iv.n_units, iv.level) == (200, 7, 0.95)


def test_bootstrap_two_values_covers_the_extremes():
    # resample means of [0, 1] are 0, 0.5, 1 with probabilities 1/4, 1/2, 1/4: the 2.5 % and 97.5 %
    # quantiles are the extremes, the 40 % / 60 % ones the middle value
    iv = stats.bootstrap_ci([0.0, 1.0], n_boot=4000, seed=7)
    assert (iv.estimate, iv.low, iv.high) == (0.5, 0.0, 1.0)
    mid = stats.bootstrap_ci([0.0, 1.0], n_boot=4000, seed=7, level=0.2)
    assert (mid.low, mid.high) == (0.5, 0.5)


def test_bootstrap_strata_is_mean_of_group_means():
    # groups a = [1, 1, 1], b = [3]: mean of group means 2 (overall mean would be 1.5); every group is
    # constant, so every resample gives 2
    iv = stats.bootstrap_ci([1.0, 1.0, 1.0, 3.0], strata=["a", "a", "a", "b"], n_boot=300, seed=3)
    assert (iv.estimate, iv.low, iv.high) == (2.0, 2.0, 2.0)


def test_bootstrap_clusters_are_resampled_whole():
    # cluster A = [0, 0], B = [1, 1, 1, 1]: resamples AA -> 0, AB / BA -> 4/6, BB -> 1 (1/4, 1/2, 1/4)
    values = [0.0, 0.0, 1.0, 1.0, 1.0, 1.0]
    clusters = ["A", "A", "B", "B", "B", "B"]
    iv = stats.bootstrap_ci(values, clusters=clusters, n_boot=4000, seed=5, level=0.4)
    assert iv.estimate == pytest.approx(4 / 6)
    assert iv.low == pytest.approx(4 / 6) and iv.high == pytest.approx(4 / 6)
    wide = stats.bootstrap_ci(values, clusters=clusters, n_boot=4000, seed=5)
    assert (wide.low, wide.high) == (0.0, 1.0)


def test_bootstrap_transform_applies_to_estimate_and_ends():
    x = np.linspace(-0.5, 0.5, 11)
    plain = stats.bootstrap_ci(x, n_boot=500, seed=2)
    scaled = stats.bootstrap_ci(x, n_boot=500, seed=2, transform=lambda m: (m + 1) / 2)
    assert scaled.estimate == pytest.approx((plain.estimate + 1) / 2)
    assert scaled.low == pytest.approx((plain.low + 1) / 2) and scaled.high == pytest.approx((plain.high + 1) / 2)


def test_bootstrap_is_deterministic_for_a_seed_and_changes_with_it():
    x = np.random.default_rng(0).normal(size=300)
    a = stats.bootstrap_ci(x, n_boot=400, seed=11)
    b = stats.bootstrap_ci(x, n_boot=400, seed=11)
    c = stats.bootstrap_ci(x, n_boot=400, seed=12)
    assert a == b
    assert (a.low, a.high) != (c.low, c.high)
    assert a.low < a.estimate < a.high


def test_bootstrap_blocks_do_not_change_the_result(monkeypatch):
    x = np.random.default_rng(1).random(500)
    whole = stats.bootstrap_ci(x, n_boot=300, seed=4)
    monkeypatch.setattr(stats, "_BLOCK_ELEMENTS", 2000)  # 4 resamples per block
    assert stats.bootstrap_ci(x, n_boot=300, seed=4) == whole


def _sequential_replicates(x, strata, clusters, n_boot, seed, block_elements):
    """The bootstrap's definition, one block and one stratum at a time on one thread."""
    units = stats._units(np.asarray(x, float), strata, clusters)
    rng = np.random.default_rng(seed)
    block = max(1, block_elements // max(len(s) for s, _ in units))
    reps = []
    for start in range(0, n_boot, block):
        size = min(block, n_boot - start)
        acc = np.zeros(size)
        for sums, counts in units:
            draw = rng.integers(0, len(sums), size=(size, len(sums)))
            ones = bool(np.all(counts == 1))
            acc += sums[draw].sum(axis=1) / (len(sums) if ones else counts[draw].sum(axis=1))
        reps.append(acc / len(units))
    return np.concatenate(reps)


@pytest.mark.parametrize("grouping", ["none", "strata", "clusters", "both"])
def test_bootstrap_same_bits_at_any_thread_count(monkeypatch, grouping):
    # the resamples' gather-and-sum runs on the BLAS threads (several blocks, several strata in
    # flight here): every replicate, and so the interval, must be the sequential definition's bits
    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng(2)
    x = rng.random(3000)
    strata = rng.integers(0, 4, x.size) if grouping in ("strata", "both") else None
    clusters = rng.integers(0, 1000, x.size) if grouping in ("clusters", "both") else None
    monkeypatch.setattr(stats, "_BLOCK_ELEMENTS", 40_000)  # 13+ resamples per block, many blocks
    want = _sequential_replicates(x, strata, clusters, 250, 9, 40_000)
    alpha = 0.025
    for threads in (1, 2, 3):
        with threadpool_limits(limits=threads, user_api="blas"):
            got = stats.bootstrap_ci(x, n_boot=250, seed=9, strata=strata, clusters=clusters)
            reps = stats._replicates(stats._units(x, strata, clusters), 250, np.random.default_rng(9))
        assert np.array_equal(reps, want)
        assert (got.low, got.high) == tuple(np.quantile(want, [alpha, 1 - alpha]))


def test_bootstrap_rejects_bad_input():
    with pytest.raises(ValueError):
        stats.bootstrap_ci([])
    with pytest.raises(ValueError):
        stats.bootstrap_ci([1.0, float("nan")])
    with pytest.raises(ValueError):
        stats.bootstrap_ci([1.0, 2.0], level=1.0)


def test_metric_ci_for_task_code():
    per_cell = np.random.default_rng(2).random(50)
    ci = stats.metric_ci(per_cell, seed=42, n_boot=200)
    assert isinstance(ci, ConfidenceInterval)
    assert (ci.n_boot, ci.seed, ci.unit, ci.n_units, ci.level) == (200, 42, "cells", 50, 0.95)
    assert ci.low < per_cell.mean() < ci.high
    assert stats.metric_ci(per_cell, seed=42, n_boot=200) == ci
    assert stats.metric_ci(per_cell, seed=42, n_boot=0) is None
    assert stats.metric_ci([0.5], seed=42) is None
    # NaN cells are left out, not an error
    with_nan = np.append(per_cell, np.nan)
    assert stats.metric_ci(with_nan, seed=42, n_boot=200) == ci
    m = MetricResult(metric_type="silhouette_score", value=0.5, ci=ci)
    assert m.model_dump(mode="json")["ci"]["n_boot"] == 200
    assert "ci" not in MetricResult(metric_type="x", value=1.0).model_dump(mode="json")


def test_wilcoxon_exact_hand_computed():
    # n = 5, all differences positive: P = 2 / 2^5
    assert stats.wilcoxon_p([0.1, 0.2, 0.3, 0.4, 0.5]) == pytest.approx(0.0625)
    # ranks 1..4 positive, 5 negative: W- = 5; P(W <= 5) = 10/32 -> two-sided 0.625
    assert stats.wilcoxon_p([1, 2, 3, 4, -5]) == pytest.approx(0.625)
    # zeros are dropped: the same as the four non-zero differences (2 / 2^4)
    assert stats.wilcoxon_p([0.0, 1, 2, 3, 4]) == pytest.approx(0.125)
    assert stats.wilcoxon_p([0.0, 0.0]) == 1.0
    assert math.isnan(stats.wilcoxon_p([]))


def test_bh_adjust_hand_computed():
    out = stats.bh_adjust([0.01, 0.04, 0.03, float("nan")])
    # m = 3: 0.01*3/1 = 0.03, 0.03*3/2 = 0.045, 0.04*3/3 = 0.04 -> monotone: 0.03, 0.04, 0.04
    assert out[:3] == pytest.approx([0.03, 0.04, 0.04])
    assert math.isnan(out[3])
    assert stats.bh_adjust([0.9, 0.8])[0] == 0.9
