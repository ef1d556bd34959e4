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
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cellbench.errors import InputError

log = logging.getLogger(__name__)

#: Representations that are baselines, not models (configurable on every report command).
DEFAULT_BASELINES = ("pca", "raw_expression", "no_change", "other_mean")

#: Metrics whose name matches this are better when lower (errors, distances); all others higher.
LOWER_IS_BETTER = re.compile(r"(^|_)(mse|mae|rmse|loss|error|distance|divergence)(_|$)")

#: Per-fold tasks and the merged task whose mean_fold_<metric> rows they are the folds of.
FOLD_TASKS = {"label_prediction_fold": "label_prediction"}
MEAN_FOLD_PREFIX = "mean_fold_"

#: Metric params that are not part of the variant: interval fields (in case a task stores them there)
#: and bookkeeping that can differ between models of the same variant (perturbation's `effect`
#: fallback, gene / condition counts, an undefined Pearson delta's `raw_value`). They stay in the
#: result files.
NON_VARIANT_PARAMS = frozenset(
    {"ci_low", "ci_high", "ci_level", "n_boot", "ci_method", "seed", "effect", "n_genes", "n_conditions",
     "raw_value"}
)

COLUMNS = [
    "task", "dataset", "model", "baseline", "metric", "variant", "higher_is_better",
    "n", "n_missing", "mean", "sd", "sem", "min", "max",
    "ci_low", "ci_high", "ci_level", "ci_method", "n_boot",
    "seeds", "values", "params",
]  # fmt: skip
KEY = ["task", "dataset", "model", "metric", "params"]
STRING_COLUMNS = ["task", "dataset", "model", "metric", "variant", "ci_method", "seeds", "values", "params"]
BOOL_COLUMNS = ["baseline", "higher_is_better"]
INT_COLUMNS = ["n", "n_missing", "n_boot"]
FLOAT_COLUMNS = ["mean", "sd", "sem", "min", "max", "ci_low", "ci_high", "ci_level"]
# Skipped when scanning folders: what `cellbench report` itself writes.
_OWN_OUTPUT = re.compile(r"(_mqc\.json$|^multiqc_)")


def higher_is_better(metric: str) -> bool:
    return LOWER_IS_BETTER.search(metric) is None


def canonical_params(params: dict) -> str:
    """Stable JSON of the variant-defining params (sorted keys, no whitespace)."""
    clean = {k: v for k, v in params.items() if k not in NON_VARIANT_PARAMS}
    return json.dumps(clean, sort_keys=True, separators=(",", ":"), default=str)


def variant_label(params: dict) -> str:
    """`key=value` pairs in sorted key order; strings bare, everything else as JSON ("" when none)."""
    parts = []
    for k in sorted(params):
        if k in NON_VARIANT_PARAMS:
            continue
        v = params[k]
        parts.append(f"{k}={v if isinstance(v, str) else json.dumps(v, sort_keys=True, default=str)}")
    return ",".join(parts)


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


def collect(files: Sequence[Path]) -> tuple[dict[tuple, _Cell], dict[tuple, _Cell]]:
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

    from cellbench.stats import summarize

    files = [Path(f) for f in files]
    if not files:
        raise InputError("no result files given (pass result JSON files or folders holding them)")
    rows, folds = collect(files)
    merged = {(k[0], k[1], k[2]) for k in rows if k[0] in FOLD_TASKS.values()}
    baselines = set(baselines)
    records = []
    for key in sorted(rows):
        task, dataset, model, metric, pj = key
        if task in FOLD_TASKS and (FOLD_TASKS[task], dataset, model) in merged:
            continue
        cell = rows[key]
        by_seed = sorted(cell.values, key=lambda v: v.seed)
        s = summarize([v.value for v in by_seed])
        lo, hi, lvl, method, nb = _interval(key, cell, folds, n_boot=n_boot, level=level, seed=seed)
        records.append(
            {
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
        )
    df = pd.DataFrame.from_records(records, columns=COLUMNS)
    return normalize_table(df)


def _to_float(v) -> float:
    if v is None or (isinstance(v, str) and v.strip() in ("", "NA", "NaN", "nan")):
        return float("nan")
    try:
        return float(v)
    except (TypeError, ValueError):
        return float("nan")


def normalize_table(df):
    """Column order, dtypes and the deterministic row order of an aggregate table."""

    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        raise InputError(f"aggregate table lacks column(s) {', '.join(missing)}")
    df = df[COLUMNS].copy()
    for c in STRING_COLUMNS:
        df[c] = df[c].fillna("").astype(str)
    for c in BOOL_COLUMNS:
        df[c] = df[c].map(lambda v: str(v).strip().lower() in ("true", "1")).astype(bool)
    for c in INT_COLUMNS:
        df[c] = df[c].map(_to_float).astype("float64").astype("Int64")
    for c in FLOAT_COLUMNS:
        # Python's float() parses the shortest repr back to the same double (pandas' parser may not)
        df[c] = df[c].map(_to_float).astype("float64")
    df = df.sort_values(["task", "dataset", "metric", "variant", "params", "baseline", "model"], kind="stable")
    return df.reset_index(drop=True)


def write_table(df, prefix: str | os.PathLike) -> tuple[Path, Path]:
    """PREFIX.tsv (floats as shortest round-trip repr, missing as NA) and PREFIX.parquet, atomically."""
    from cellbench.io.atomic import atomic_path, write_text

    prefix = str(prefix)
    tsv, parquet = Path(prefix + ".tsv"), Path(prefix + ".parquet")
    write_text(tsv, table_to_tsv(df))
    with atomic_path(parquet) as tmp:
        df.to_parquet(tmp, index=False)
    return tsv, parquet


def table_to_tsv(df) -> str:
    def cell(v) -> str:
        if v is None:
            return "NA"
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, float):
            return "NA" if math.isnan(v) else repr(v)
        try:
            import pandas as pd

            if pd.isna(v):
                return "NA"
        except (TypeError, ValueError):
            pass
        text = str(v)
        if "\t" in text or "\n" in text:
            text = text.replace("\t", " ").replace("\n", " ")
        return text

    lines = ["\t".join(df.columns)]
    for row in df.itertuples(index=False, name=None):
        lines.append("\t".join(cell(v.item() if hasattr(v, "item") else v) for v in row))
    return "\n".join(lines) + "\n"


def _is_number(text: str, integer: bool = False) -> bool:
    try:
        value = float(text)
    except ValueError:
        return False
    return value.is_integer() if integer else True


def _bad_cell(column: str, text: str) -> str | None:
    """Why `text` (as written by table_to_tsv) cannot be a value of `column`; None when it can."""
    missing = text in ("", "NA")
    if column in BOOL_COLUMNS:
        return None if text.lower() in ("true", "false", "1", "0") else "not true/false"
    if column in INT_COLUMNS:
        return None if missing or _is_number(text, integer=True) else "not an integer"
    if column in FLOAT_COLUMNS:
        return None if missing or _is_number(text) else "not a number"
    if column == "seeds":
        return None if text == "" or all(_is_number(s, integer=True) for s in text.split(",")) else "not seeds"
    if column == "values":
        return None if text == "" or all(v == "NA" or _is_number(v) for v in text.split(",")) else "not numbers"
    if column == "params":
        try:
            return None if isinstance(json.loads(text), dict) else "not a JSON object"
        except ValueError:
            return "not JSON (cut short?)"
    return None


def _read_tsv(path: Path):
    """The TSV's cells as strings, after checking its shape: the columns, every row complete, the types.

    A table cut mid-row (a full disk, a killed copy) has a short last row or a cut `params` JSON
    (the last column); either is an InputError naming the file and the row.
    """
    import pandas as pd

    try:
        lines = path.read_text(encoding="utf-8").split("\n")
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not an aggregate table (not UTF-8 text: {exc.reason})") from None
    if lines and lines[-1] == "":
        lines.pop()
    header = lines[0].rstrip("\r").split("\t") if lines else []
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        raise InputError(f"{path}: not an aggregate table (no column {missing[0]})")
    if len(set(header)) != len(header):
        raise InputError(f"{path}: not an aggregate table (a column name is repeated)")
    where = {c: header.index(c) for c in COLUMNS}
    rows = []
    for row, line in enumerate(lines[1:], 1):
        cells = line.rstrip("\r").split("\t")
        if len(cells) != len(header):
            raise InputError(f"{path}: row {row} (line {row + 1}) has {len(cells)} of the header's {len(header)} "
                             "columns (a cut or broken table)")
        for c, i in where.items():
            why = _bad_cell(c, cells[i])
            if why:
                raise InputError(f"{path}: row {row} (line {row + 1}), column {c}: '{cells[i][:40]}' is {why}")
        rows.append(cells)
    df = pd.DataFrame(rows, columns=header, dtype=object)
    for c in df.columns:
        if c not in STRING_COLUMNS:
            df[c] = df[c].replace({"NA": None, "": None})
    return df


def _check_parquet(df, path: Path) -> None:
    """Typed columns must hold their type (a parquet file is written whole or not read at all)."""
    import pandas as pd

    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        raise InputError(f"{path}: not an aggregate table (no column {missing[0]})")
    for c in INT_COLUMNS + FLOAT_COLUMNS + BOOL_COLUMNS:
        if not (pd.api.types.is_numeric_dtype(df[c]) or pd.api.types.is_bool_dtype(df[c]) or df[c].isna().all()):
            raise InputError(f"{path}: column {c} holds {df[c].dtype}, not numbers")
    for row, text in enumerate(df["params"], 1):
        if _bad_cell("params", str(text)):
            raise InputError(f"{path}: row {row}, column params: not a JSON object")


def read_table(path: str | os.PathLike):
    """An aggregate table from .tsv or .parquet (a wrong, cut or mistyped file is a one-line InputError)."""
    import pandas as pd

    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: aggregate table not found")
    if path.suffix != ".parquet":
        return normalize_table(_read_tsv(path))
    try:
        df = pd.read_parquet(path)
    except Exception as exc:  # noqa: BLE001 - pyarrow raises many types for a bad file
        raise InputError(f"{path}: not an aggregate table ({type(exc).__name__}: {exc})".splitlines()[0]) from None
    _check_parquet(df, path)
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
        df = read_table(paths[0])
        df["baseline"] = df["model"].isin(set(baselines))
        return df, 0
    files = find_result_files(paths, exclude=exclude)
    if not files:
        raise InputError(f"{', '.join(map(str, paths))}: no result JSON files found")
    return aggregate(files, baselines=baselines, n_boot=n_boot, level=level, seed=seed), len(files)
