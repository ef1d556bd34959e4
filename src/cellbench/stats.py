"""Statistics shared by tasks and the report: bootstrap intervals, seed summaries, paired tests.

Everything here is deterministic for a given seed (numpy `default_rng(seed)`, never the global RNG),
so the same inputs give the same interval on every machine.

The bootstrap is the percentile bootstrap of a mean: resample the units with replacement, recompute
the statistic, take the `(1 - level) / 2` and `(1 + level) / 2` quantiles (numpy's default linear
interpolation) of the `n_boot` replicates. Optional *strata* are resampled separately and the
statistic is the mean of the stratum means (e.g. batch silhouette: mean over label groups; seeds of a
fold bootstrap); optional *clusters* are resampled whole (e.g. the rows of one CV fold across
classifiers, which share their training data).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import pairwise

import numpy as np

from cellbench.threads import blas_threads

DEFAULT_N_BOOT = 1000
DEFAULT_LEVEL = 0.95
# Resample this many values per block at most, so a million cells never needs n_boot x n integers at once.
_BLOCK_ELEMENTS = 1 << 22


@dataclass(frozen=True)
class Interval:
    """A point estimate with its bootstrap interval."""

    estimate: float
    low: float
    high: float
    n_boot: int
    level: float
    n_units: int


def _units(values: np.ndarray, strata, clusters):
    """Per stratum: (sum of values per unit, count of values per unit)."""
    n = values.shape[0]
    strata = np.zeros(n, dtype=np.int64) if strata is None else np.asarray(strata)
    if clusters is None:
        clusters = np.arange(n)
    clusters = np.asarray(clusters)
    if strata.shape[0] != n or clusters.shape[0] != n:
        raise ValueError("values, strata and clusters must have the same length")
    out = []
    for s in sorted(set(strata.tolist()), key=repr):
        in_s = strata == s
        _, inverse = np.unique(clusters[in_s], return_inverse=True)
        sums = np.bincount(inverse, weights=values[in_s])
        counts = np.bincount(inverse).astype(np.float64)
        out.append((sums, counts))
    return out


def bootstrap_ci(
    values: Sequence[float] | np.ndarray,
    *,
    n_boot: int = DEFAULT_N_BOOT,
    level: float = DEFAULT_LEVEL,
    seed: int = 42,
    strata: Sequence | np.ndarray | None = None,
    clusters: Sequence | np.ndarray | None = None,
    transform: Callable[[np.ndarray], np.ndarray] | None = None,
) -> Interval:
    """Percentile bootstrap interval of mean-over-strata(mean of values in the stratum).

    values: one number per cell (or fold, or condition); must be finite.
    strata: optional group of each value; each group is resampled on its own, keeping its size, and the
        statistic is the unweighted mean of group means (scib's batch silhouette averages over labels).
    clusters: optional unit of each value within its stratum; units are resampled whole.
    transform: vectorised function applied to the statistic and to every replicate, for metrics that
        are a monotone or smooth function of a mean (e.g. sequential alignment's 1 - D / B).
    """
    x = np.asarray(values, dtype=np.float64).ravel()
    if x.size == 0:
        raise ValueError("bootstrap_ci needs at least one value")
    if not np.all(np.isfinite(x)):
        raise ValueError("bootstrap_ci needs finite values (drop undefined ones first)")
    if not 0 < level < 1:
        raise ValueError("level must be in (0, 1)")
    if n_boot < 1:
        raise ValueError("n_boot must be >= 1")
    units = _units(x, strata, clusters)
    point = np.mean([s.sum() / c.sum() for s, c in units])
    reps = _replicates(units, n_boot, np.random.default_rng(seed))
    if transform is not None:
        point = float(np.asarray(transform(np.asarray([point])))[0])
        reps = np.asarray(transform(reps), dtype=np.float64)
    alpha = (1.0 - level) / 2.0
    low, high = np.quantile(reps, [alpha, 1.0 - alpha])
    n_units = int(sum(len(s) for s, _ in units))
    return Interval(float(point), float(low), float(high), int(n_boot), float(level), n_units)


def _replicates(units: list, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """The n_boot bootstrap replicates of mean-over-strata(mean per stratum).

    The draws come from `rng` in one fixed order (blocks of replicates, each stratum in turn) on the
    calling thread. Each draw's gather-and-sum (`_resampled_means`: most of the time at a million
    cells) is split by replicates over `threads.blas_threads()` threads while the next one is drawn,
    and added to its block in stratum order. A replicate's arithmetic never depends on the split, so
    the interval is the same bits at any thread count.
    """
    from concurrent.futures import ThreadPoolExecutor

    reps = np.empty(n_boot, dtype=np.float64)
    largest = max(len(s) for s, _ in units)
    block = max(1, _BLOCK_ELEMENTS // largest)
    workers = blas_threads() if n_boot * largest >= _BLOCK_ELEMENTS else 1
    units = [(sums, counts, bool(np.all(counts == 1))) for sums, counts in units]

    def add(pending):  # one stratum's means into its block; the block's replicates after its last stratum
        acc, parts, done = pending
        for (a, b), future in parts:
            acc[a:b] += future.result()
        if done is not None:
            reps[done : done + acc.size] = acc / len(units)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        pending = None  # the last stratum drawn, still being summed: one draw held besides the next
        for start in range(0, n_boot, block):
            size = min(block, n_boot - start)
            acc = np.zeros(size)
            cuts = np.linspace(0, size, min(workers, size) + 1).astype(int)
            for s, unit in enumerate(units):
                draw = rng.integers(0, len(unit[0]), size=(size, len(unit[0])))
                parts = [((a, b), pool.submit(_resampled_means, unit, draw[a:b])) for a, b in pairwise(cuts)]
                if pending is not None:
                    add(pending)
                pending = (acc, parts, start if s == len(units) - 1 else None)
        add(pending)
    return reps


def _resampled_means(unit: tuple, rows: np.ndarray) -> np.ndarray:
    """One stratum's mean in each resample (a row of drawn units): drawn unit sums over drawn counts;
    with one value per unit (cells) the counts add up to the stratum's size exactly, so no second gather."""
    sums, counts, ones = unit
    return sums[rows].sum(axis=1) / (len(sums) if ones else counts[rows].sum(axis=1))


def metric_ci(
    values: Sequence[float] | np.ndarray,
    *,
    seed: int,
    n_boot: int = DEFAULT_N_BOOT,
    level: float = DEFAULT_LEVEL,
    unit: str = "cells",
    strata=None,
    clusters=None,
    transform=None,
):
    """The `MetricResult.ci` of a metric that is a mean of per-cell (per-fold) values.

    Task code: `MetricResult(metric_type=..., value=v, params=p, ci=metric_ci(per_cell, seed=seed))`.
    Returns None when n_boot is 0 (interval switched off) or there are fewer than two finite values.
    """
    from cellbench.schema import ConfidenceInterval

    x = np.asarray(values, dtype=np.float64).ravel()
    keep = np.isfinite(x)
    if n_boot <= 0 or keep.sum() < 2:
        return None
    strata = None if strata is None else np.asarray(strata)[keep]
    clusters = None if clusters is None else np.asarray(clusters)[keep]
    iv = bootstrap_ci(
        x[keep], n_boot=n_boot, level=level, seed=seed, strata=strata, clusters=clusters, transform=transform
    )
    return ConfidenceInterval(
        low=iv.low, high=iv.high, level=level, n_boot=n_boot, seed=seed, unit=unit, n_units=iv.n_units
    )


@dataclass(frozen=True)
class Summary:
    """Mean, sample standard deviation (ddof 1, as cz-benchmarks' aggregate_results) and count."""

    n: int
    mean: float
    sd: float
    sem: float
    min: float
    max: float


def summarize(values: Sequence[float | None]) -> Summary:
    """Summary of the finite values; sd and sem are NaN below two values, everything NaN at zero.

    Python's `statistics` (exact rational arithmetic), as cz-benchmarks' `aggregate_results`: the
    same numbers as the reference, and equal values give an sd of exactly 0.
    """
    import statistics

    x = [float(v) for v in values if v is not None and math.isfinite(v)]
    n = len(x)
    if n == 0:
        nan = float("nan")
        return Summary(0, nan, nan, nan, nan, nan)
    mean = statistics.mean(x)
    sd = statistics.stdev(x, xbar=mean) if n > 1 else float("nan")
    sem = sd / math.sqrt(n) if n > 1 else float("nan")
    return Summary(n, float(mean), float(sd), float(sem), min(x), max(x))


def t_interval(values: Sequence[float], level: float = DEFAULT_LEVEL) -> tuple[float, float]:
    """Student-t interval of the mean: mean +- t_{(1+level)/2, n-1} sd / sqrt(n); NaN below two values."""
    from scipy import stats as st

    s = summarize(values)
    if s.n < 2:
        return float("nan"), float("nan")
    half = float(st.t.ppf((1.0 + level) / 2.0, s.n - 1)) * s.sem
    return s.mean - half, s.mean + half


def wilcoxon_p(differences: Sequence[float]) -> float:
    """Two-sided Wilcoxon signed-rank p-value of paired differences (scipy, zero_method 'wilcox').

    Zero differences are dropped (ties between models carry no sign); with no non-zero difference
    the p-value is 1. scipy uses the exact distribution for up to 50 differences without ties.
    """
    from scipy import stats as st

    d = np.asarray(differences, dtype=np.float64)
    d = d[np.isfinite(d)]
    if d.size == 0:
        return float("nan")
    if not np.any(d != 0):
        return 1.0
    return float(st.wilcoxon(d[d != 0], zero_method="wilcox", alternative="two-sided").pvalue)


def bh_adjust(pvalues: Sequence[float]) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (step-up, monotone, capped at 1); NaN stays NaN."""
    p = np.asarray(pvalues, dtype=np.float64)
    out = np.full(p.shape, np.nan)
    ok = np.flatnonzero(np.isfinite(p))
    if ok.size == 0:
        return out
    order = ok[np.argsort(p[ok], kind="stable")]
    m = ok.size
    scaled = p[order] * m / np.arange(1, m + 1)
    scaled = np.minimum.accumulate(scaled[::-1])[::-1]
    out[order] = np.minimum(scaled, 1.0)
    return out
