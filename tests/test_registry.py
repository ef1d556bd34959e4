"""The metric and task registries agree with the code, the docs and the pipeline.

A metric added to a task without a `METRICS` entry, a docs/TASKS.md "Metric table" row, or a task
whose columns drift from the pipeline's Groovy tables fails here.
"""

from __future__ import annotations

import ast
import importlib
import re
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import pipeline_support as ps
from cellbench.metrics import METRICS, MetricSpec, metric
from cellbench.metrics.classification import SCORES
from cellbench.schema import MetricResult
from cellbench.tasks.registry import RUN_TASKS, TASKS, task

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "cellbench"
UTILS = ROOT / "subworkflows" / "local" / "utils_cellbench" / "main.nf"
DOCS = ROOT / "docs" / "TASKS.md"

# metric_type= values that are not a literal (as source text; files may move), each with the
# registered names it can take: a new one fails test_every_metric_type_in_the_source_is_registered
# until it is listed here.
DYNAMIC = {
    "name": set(SCORES),  # label prediction, per fold: for name in SCORES
    "prefix + score": set(SCORES) | {f"mean_fold_{s}" for s in SCORES},  # cross-species label
    "key[0]": set(),  # perturbation's mean over conditions copies a per-condition name
}


def _metric_type_values() -> list[tuple[str, ast.expr]]:
    """(file under src/cellbench, value) of every `metric_type=` keyword in a call."""
    found = []
    for path in sorted(SRC.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call):
                found += [(path.relative_to(SRC).as_posix(), kw.value) for kw in node.keywords
                          if kw.arg == "metric_type"]
    return found


def _fstring_names(node: ast.JoinedStr) -> set[str]:
    """The registered names an f-string can produce, each `{...}` taken as any word."""
    pattern = "".join(re.escape(part.value) if isinstance(part, ast.Constant) else r"\w+" for part in node.values)
    return {name for name in METRICS if re.fullmatch(pattern, name)}


def test_every_metric_type_in_the_source_is_registered():
    values = _metric_type_values()
    assert values, "no metric_type= found: has the scan gone stale?"
    dynamic = set()
    for where, value in values:
        if isinstance(value, ast.Constant):
            assert value.value in METRICS, f"{where}: metric_type '{value.value}' is not in METRICS"
        elif isinstance(value, ast.JoinedStr):
            assert _fstring_names(value), f"{where}: {ast.unparse(value)} names no registered metric"
        else:
            dynamic.add((where, ast.unparse(value)))
    unknown = sorted(d for d in dynamic if d[1] not in DYNAMIC)
    assert not unknown, f"computed metric_type {unknown}: register its names and list it in DYNAMIC"
    assert {d[1] for d in dynamic} == set(DYNAMIC), "DYNAMIC lists an expression no longer in src/"
    for names in DYNAMIC.values():
        assert names <= set(METRICS)


def test_merged_label_prediction_metrics_are_registered():
    """The f-string and loop names above, by running the (cheap, pure) functions that make them."""
    from cellbench.tasks.cross_species_label import rows_to_metrics
    from cellbench.tasks.label_prediction import merge_folds

    per_fold = [MetricResult(metric_type=s, value=0.5, params={"classifier": c, "fold": f})
                for c in ("lr", "knn", "rf") for f in range(2) for s in SCORES]
    written = {r.metric_type for r in merge_folds(per_fold, n_boot=0)}
    rows = [{"classifier": c, "fold": f, **dict.fromkeys(SCORES, 0.5)} for c in ("lr", "knn", "rf") for f in range(2)]
    for train, test in (("human", "human"), ("human", "mouse")):
        written |= {r.metric_type for r in rows_to_metrics(rows, train, test, ["lr", "knn", "rf"], n_boot=0)}
    assert written - set(METRICS) == set()
    assert written >= {f"mean_fold_{s}" for s in SCORES} | set(SCORES)


def test_every_metric_module_provides_a_registered_metric():
    provided = {path.rpartition(".")[0] for spec in METRICS.values() for path in (spec.function, *spec.estimators)}
    for path in sorted((SRC / "metrics").glob("*.py")):
        if path.stem.startswith("_") or path.stem == "registry":  # private helpers (_labels, _silhouette_torch)
            continue
        assert f"cellbench.metrics.{path.stem}" in provided, f"{path.name}: no METRICS entry uses it"


def test_every_implementation_loads_and_array_level_ones_are_public():
    import cellbench.metrics as m

    for name, spec in METRICS.items():
        assert spec.name == name
        assert callable(spec.load())
        for path in spec.estimators:
            module, _, attr = path.rpartition(".")
            assert callable(getattr(importlib.import_module(module), attr)), path
        if spec.array_level:
            fix = (f"import {spec.function.rpartition('.')[2]} as {name} in cellbench/metrics/__init__.py and add "
                   f"'{name}' to __all__ (CONTRIBUTING.md, Adding a metric, step 3)")
            assert name in m.__all__, f"{name}: array-level metric not in cellbench.metrics.__all__; {fix}"
            assert getattr(m, name) is spec.load(), f"cellbench.metrics.{name} is not {spec.function}; {fix}"


def test_public_functions_are_documented_numpydoc_style():
    for spec in METRICS.values():
        if spec.array_level:
            doc = spec.load().__doc__ or ""
            for section in ("Parameters\n", "Returns\n", "References\n"):
                assert section in doc, f"{spec.function}: no {section.strip()} section"


def test_metric_lookup():
    assert metric("jaccard").function.endswith("jaccard_index")
    with pytest.raises(KeyError, match="known: .*adjusted_rand_index"):
        metric("no_such_metric")
    assert isinstance(metric("auroc"), MetricSpec)


def test_direction_agrees_with_the_report():
    from cellbench.report import table

    legacy = getattr(table, "LOWER_IS_BETTER", None)
    for name, spec in METRICS.items():
        assert table.higher_is_better(name) == spec.higher_is_better, name
        if legacy is not None:
            assert (legacy.search(name) is None) == spec.higher_is_better, name
    from cellbench.metrics import higher_is_better

    assert higher_is_better("mean_squared_error") is False and higher_is_better("pearson_delta") is True


def _docs_metric_table() -> list[list[str]]:
    section = DOCS.read_text().split("## Metric table\n", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    return [[cell.strip() for cell in row.strip("|").split("|")] for row in rows]


def test_docs_metric_table_lists_every_metric():
    rows = _docs_metric_table()
    assert [r[0].strip("`") for r in rows] == list(METRICS), "docs/TASKS.md ## Metric table: rows != METRICS"
    for name, tasks, direction, impl, what in rows:
        spec = METRICS[name.strip("`")]
        assert tasks == ", ".join(spec.tasks), name
        assert direction == ("yes" if spec.higher_is_better else "no"), name
        assert "cellbench.metrics." + impl.strip("`") == spec.function, name
        assert what == spec.description, name


def test_tasks_and_metrics_agree():
    for name, spec in TASKS.items():
        assert spec.name == name
        assert set(spec.metrics) <= set(METRICS), name
    for name, spec in METRICS.items():
        listed = {t for t, s in TASKS.items() if name in s.metrics}
        assert set(spec.tasks) == listed, (
            f"{name}: METRICS says tasks {sorted(spec.tasks)}, but tasks/registry.py lists it under {sorted(listed)}; "
            "name it in those tasks' TaskSpec.metrics (CONTRIBUTING.md, Adding a metric, step 5)")
    assert task("clustering").metrics == ("adjusted_rand_index", "normalized_mutual_info")
    with pytest.raises(KeyError, match="known: clustering"):
        task("nope")


def test_task_commands_exist():
    from cellbench.cli import COMMANDS

    for spec in TASKS.values():
        assert spec.command in COMMANDS, spec.name
        assert set(spec.pipeline) <= set(COMMANDS), spec.name
        if spec.part_of is not None:
            assert spec.part_of in TASKS


def test_task_columns_agree_with_the_pipeline():
    """Both copies in the pipeline: the columns a samplesheet row must fill (requiredColumns) and the
    obs columns an extract keeps for a task (taskObsColumns); embeddingTasks = per representation."""
    required = ps.groovy_function_value(UTILS, "requiredColumns")
    obs = ps.groovy_function_value(UTILS, "taskObsColumns")
    embedding = ps.groovy_function_value(UTILS, "embeddingTasks")
    sheet_tasks = {name for name, spec in TASKS.items() if spec.part_of is None}
    assert set(required) == sheet_tasks
    assert set(obs) == set(embedding) == {t for t in sheet_tasks if TASKS[t].per_representation}
    for name in sheet_tasks:
        assert list(TASKS[name].required) == required[name], name
        if name in obs:
            assert list(TASKS[name].obs_columns) == obs[name], name


def test_run_tasks_are_those_of_one_dataset():
    """`cellbench run` offers the tasks whose required columns are its --label/--batch/--time-key."""
    assert RUN_TASKS == ("clustering", "embedding", "integration", "label_prediction", "sequential")
    for name in RUN_TASKS:
        assert set(TASKS[name].required) <= {"label_key", "batch_key", "time_key"}, name
    from cellbench.cli.run import command

    tasks_help = next(p.help for p in command.params if p.name == "tasks_csv")
    assert tasks_help == "Comma-separated subset of clustering,embedding,integration,label_prediction,sequential."


def test_importing_the_metrics_stays_cheap():
    code = ("import sys, cellbench.metrics; heavy = {'sklearn', 'scipy', 'anndata', 'scanpy', 'pandas', 'igraph'}; "
            "print(sorted(heavy & set(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
