"""The aggregate table: every result JSON gathered into one tidy row per task x dataset x model x
metric x variant, with the mean, standard deviation and count over seeds and a confidence interval.

Columns (docs/report.md says more):
  task, dataset, model, baseline, metric, variant, higher_is_better, n, n_missing, mean, sd, sem,
  min, max, ci_low, ci_high, ci_level, ci_method, n_boot, seeds, values, params

`variant` is the metric's params as `key=value` pairs in sorted key order (`classifier=lr`);
`params` is the same as canonical JSON (what rows are grouped by). The CI comes from, in order:
  bootstrap_<unit>  intervals the task stored with the metric (`MetricResult.ci`, e.g. per cell);
                    over several seeds the endpoints are averaged (the same cells are resampled);
  bootstrap_folds   a percentile bootstrap over the label_prediction_fold results behind a
                    label_prediction row (folds resampled whole, within each seed);
  t_seeds           Student-t interval of the mean over seeds (n >= 2 values that are not all equal;
                    seed-to-seed spread only);
  none              one value, or the same value from every seed, and nothing to resample.

The columns and their types are in columns.py, writing and reading the table in tablefile.py, the
variant (params) helpers in variants.py.
"""

from __future__ import annotations

import logging
import math
import os
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cellbench.errors import InputError
from cellbench.report.columns import COLUMNS, normalize_table
from cellbench.report.tablefile import mark_baselines, read_table
from cellbench.report.variants import canonical_params, variant_label

log = logging.getLogger(__name__)

#: Representations that are baselines, not models (configurable on every report command).
DEFAULT_BASELINES = ("pca", "raw_expression", "no_change", "other_mean")

#: Metrics outside the registry (results of other tools, renamed metrics) whose name matches this are
#: better when lower (errors, distances); all other unregistered metrics higher.
LOWER_IS_BETTER = re.compile(r"(^|_)(mse|mae|rmse|loss|error|distance|divergence)(_|$)")

#: Per-fold tasks and the merged task whose mean_fold_<metric> rows they are the folds of.
FOLD_TASKS = {"label_prediction_fold": "label_prediction"}
MEAN_FOLD_PREFIX = "mean_fold_"

# Skipped when scanning folders: what `cellbench report` itself writes.
_OWN_OUTPUT = re.compile(r"(_mqc\.json$|^multiqc_)")


def higher_is_better(metric: str) -> bool:
    """The direction the metric registry states; a name it does not hold is judged by LOWER_IS_BETTER."""
    from cellbench.metrics.registry import METRICS

    spec = METRICS.get(metric)
    if spec is not None:
        return spec.higher_is_better
    return LOWER_IS_BETTER.search(metric) is None


def parse_baselines(text: str | Sequence[str] | None) -> tuple[str, ...]:
    """A comma-separated list (or a sequence) of baseline names; None gives the defaults."""
    if text is None:
        return DEFAULT_BASELINES
    if isinstance(text, str):
        text = text.split(",")
    return tuple(sorted({t.strip() for t in text if t.strip()}))


# ----------------------------------------------------------------------------------------------
# Finding and reading result files


def find_result_files(paths: Iterable[str | os.PathLike], exclude: Iterable[str | os.PathLike] = ()) -> list[Path]:
    """Result files named directly, plus every *.json under the folders named (recursively).

    Folders skip hidden files and what `cellbench report` writes (*_mqc.json, multiqc_*), and any
    path under `exclude`; a file named directly is always read. Sorted, each file once.
    """
    excluded = [Path(e).resolve() for e in exclude]
    found: dict[Path, Path] = {}
    for p in paths:
        p = Path(p)
        if p.is_dir():
            for f in sorted(p.rglob("*.json")):
                rel = f.relative_to(p)
                if any(part.startswith(".") or _OWN_OUTPUT.search(part) for part in rel.parts):
                    continue
                r = f.resolve()
                if any(r == e or e in r.parents for e in excluded):
                    continue
                found.setdefault(r, f)
        elif p.exists():
            found.setdefault(p.resolve(), p)
        else:
            raise InputError(f"{p}: no such result file or folder")
    return [found[k] for k in sorted(found, key=str)]


@dataclass
class _Value:
    value: float | None
    seed: int
    file: Path
    ci: object | None = None  # schema.ConfidenceInterval


@dataclass
class _Cell:
    """All seeds of one task x dataset x model x metric x params."""

    values: list[_Value] = field(default_factory=list)
    params: dict = field(default_factory=dict)


def collect(files: Sequence[Path]) -> tuple[dict[tuple, _Cell], dict[tuple, list]]:
    """Read results into (rows, fold rows) keyed by (task, dataset, model, metric, params JSON).

    Fold rows (FOLD_TASKS) are listed as (classifier, fold, value) under (merged task, dataset, model,
    metric) as well.
    The same unit twice (same key and seed) in two files is an error naming both files.
    """
    from cellbench.io.results import read_result

    rows: dict[tuple, _Cell] = defaultdict(_Cell)
    folds: dict[tuple, list] = defaultdict(list)
    seen: dict[tuple, Path] = {}
    for path in files:
        res = read_result(path)
        for m in res.metrics:
            pj = canonical_params(m.params)
            unit = (res.task, res.dataset, res.model, m.metric_type, pj, res.seed)
            if unit in seen:
                raise InputError(
                    f"{path}: duplicate result (task {res.task}, dataset {res.dataset}, model {res.model}, "
                    f"metric {m.metric_type} [{variant_label(m.params)}], seed {res.seed}) also in {seen[unit]}"
                )
            seen[unit] = path
            if res.task in FOLD_TASKS:
                clf = m.params.get("classifier", res.params.get("classifier"))
                fold = m.params.get("fold", res.params.get("fold"))
                if clf is not None and fold is not None:
                    key = (FOLD_TASKS[res.task], res.dataset, res.model, m.metric_type)
                    folds[key].append((str(clf), str(fold), _Value(m.value, res.seed, path)))
            cell = rows[(res.task, res.dataset, res.model, m.metric_type, pj)]
            cell.values.append(_Value(m.value, res.seed, path, m.ci))
            cell.params = dict(m.params)
    return rows, folds


# ----------------------------------------------------------------------------------------------
# Intervals


def _fold_ci(key, cell: _Cell, folds: dict, *, n_boot: int, level: float, seed: int):
    """Bootstrap of a mean_fold_* row over its fold results (None when they are not all there)."""
    import numpy as np

    from cellbench.stats import bootstrap_ci

    task, dataset, model, metric, _ = key
    if not metric.startswith(MEAN_FOLD_PREFIX):
        return None
    base = metric[len(MEAN_FOLD_PREFIX):]
    clf = cell.params.get("classifier")
    if clf is None or set(cell.params) - {"classifier"}:
        return None
    clf = str(clf)
    if clf.startswith("MEAN(") and clf.endswith(")"):
        wanted = set(clf[5:-1].split(","))
    else:
        wanted = {clf}
    seeds = sorted({v.seed for v in cell.values if v.value is not None})
    vals, strata, clusters = [], [], []
    for c, fold, v in folds.get((task, dataset, model, base), ()):
        if c in wanted and v.seed in seeds and v.value is not None:
            vals.append(v.value)
            strata.append(v.seed)
            clusters.append(fold)
    if not vals or sorted(set(strata)) != seeds:
        return None
    iv = bootstrap_ci(vals, n_boot=n_boot, level=level, seed=seed, strata=strata, clusters=clusters)
    mean_of_merged = float(np.mean([v.value for v in cell.values if v.value is not None]))
    if not math.isclose(iv.estimate, mean_of_merged, rel_tol=1e-9, abs_tol=1e-12):
        log.warning(
            "%s %s %s %s [classifier=%s]: fold results average %.6g but the merged result says %.6g; "
            "fold interval not used",
            task, dataset, model, metric, clf, iv.estimate, mean_of_merged,
        )
        return None
    return iv


def _interval(key, cell: _Cell, folds, *, n_boot, level, seed) -> tuple[float, float, float, str, int | None]:
    """(ci_low, ci_high, ci_level, ci_method, n_boot) of one row; see the module docstring."""
    from cellbench.stats import t_interval

    nan = float("nan")
    present = [v for v in cell.values if v.value is not None]
    if present and all(v.ci is not None for v in present):
        cis = [v.ci for v in present]
        lows = [c.low for c in cis]
        highs = [c.high for c in cis]
        units = sorted({c.unit for c in cis})
        boots = sorted({c.n_boot for c in cis})
        lvl = sorted({c.level for c in cis})
        return (
            sum(lows) / len(lows),
            sum(highs) / len(highs),
            lvl[0] if len(lvl) == 1 else nan,
            "bootstrap_" + "+".join(units),
            boots[0] if len(boots) == 1 else None,
        )
    if folds and n_boot > 0:
        iv = _fold_ci(key, cell, folds, n_boot=n_boot, level=level, seed=seed)
        if iv is not None:
            return iv.low, iv.high, level, "bootstrap_folds", n_boot
    if len(present) >= 2 and len({v.value for v in present}) > 1:
        lo, hi = t_interval([v.value for v in present], level)
        return lo, hi, level, "t_seeds", None
    # one value, or every seed gave the same value (the metric does not depend on the seed): a
    # zero-width interval would claim a certainty the seeds cannot show
    return nan, nan, nan, "none", None


# ----------------------------------------------------------------------------------------------
# The table


def _fmt(x: float) -> str:
    return repr(float(x))


def _record(key, cell: _Cell, folds, *, baselines: set, n_boot: int, level: float, seed: int) -> dict:
    """One row of the aggregate table: the seeds' summary and the interval of `cell`."""
    from cellbench.stats import summarize

    task, dataset, model, metric, pj = key
    by_seed = sorted(cell.values, key=lambda v: v.seed)
    s = summarize([v.value for v in by_seed])
    lo, hi, lvl, method, nb = _interval(key, cell, folds, n_boot=n_boot, level=level, seed=seed)
    return {
        "task": task,
        "dataset": dataset,
        "model": model,
        "baseline": model in baselines,
        "metric": metric,
        "variant": variant_label(cell.params),
        "higher_is_better": higher_is_better(metric),
        "n": s.n,
        "n_missing": sum(v.value is None for v in by_seed),
        "mean": s.mean,
        "sd": s.sd,
        "sem": s.sem,
        "min": s.min,
        "max": s.max,
        "ci_low": lo,
        "ci_high": hi,
        "ci_level": lvl,
        "ci_method": method,
        "n_boot": nb,
        "seeds": ",".join(str(v.seed) for v in by_seed),
        "values": ",".join("NA" if v.value is None else _fmt(v.value) for v in by_seed),
        "params": pj,
    }


def aggregate(
    files: Sequence[str | os.PathLike],
    *,
    baselines: Sequence[str] = DEFAULT_BASELINES,
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int = 42,
):
    """The aggregate table (pandas DataFrame, COLUMNS, deterministic row order) of result files.

    Fold results (label_prediction_fold) that belong to a merged label_prediction row are used for
    its interval and not listed themselves; those with no merged row are listed as they are.
    """
    import pandas as pd

    files = [Path(f) for f in files]
    if not files:
        raise InputError("no result files given (pass result JSON files or folders holding them)")
    rows, folds = collect(files)
    merged = {(k[0], k[1], k[2]) for k in rows if k[0] in FOLD_TASKS.values()}
    baselines = set(baselines)
    records = []
    for key in sorted(rows):
        task, dataset, model, _, _ = key
        if task in FOLD_TASKS and (FOLD_TASKS[task], dataset, model) in merged:
            continue
        records.append(_record(key, rows[key], folds, baselines=baselines, n_boot=n_boot, level=level, seed=seed))
    df = pd.DataFrame.from_records(records, columns=COLUMNS)
    return normalize_table(df)


def load_table_or_results(
    paths: Sequence[str | os.PathLike],
    *,
    baselines: Sequence[str] = DEFAULT_BASELINES,
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int = 42,
    exclude: Sequence[str | os.PathLike] = (),
):
    """One aggregate table (.tsv / .parquet) as it is, or the aggregate of result files and folders."""
    if len(paths) == 1 and Path(paths[0]).suffix in (".tsv", ".parquet") and Path(paths[0]).is_file():
        return mark_baselines(read_table(paths[0]), baselines), 0
    files = find_result_files(paths, exclude=exclude)
    if not files:
        raise InputError(f"{', '.join(map(str, paths))}: no result JSON files found")
    return aggregate(files, baselines=baselines, n_boot=n_boot, level=level, seed=seed), len(files)
