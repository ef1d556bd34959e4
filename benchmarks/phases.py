"""Run one cellbench command with its phases timed: `python phases.py OUT.json -- COMMAND ARGS...`.

Why: the speed targets compare parts of a task (the neighbour search, Leiden, the silhouette) with
the machine's floor, and the task's JSON only holds its total. This wraps the functions that make
up each task's phases (found by module attribute, as the task modules call them), runs the command
in this process exactly as `cellbench` would, and writes {phase: seconds} plus the process's own
wall time to OUT.json. The wrappers add a perf_counter call per phase; nothing else changes.
A generator phase (the neighbour search yields row blocks) counts only the time spent inside it.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import json
import sys
import time
from pathlib import Path

#: phase name: (module, attribute); the attribute is replaced in that module by a timed wrapper
PHASES: dict[str, tuple[str, str]] = {
    "neighbour_search": ("cellbench.metrics.entropy_per_cell", "knn_blocks"),
    "batch_silhouette": ("cellbench.tasks.integration", "silhouette_batch_values"),
    "graph_search_and_connectivities": ("cellbench.tasks.clustering", "scanpy_connectivities"),
    "graph_search": ("cellbench.neighbors.scanpy_graph", "knn"),
    "igraph_graph": ("cellbench.tasks.clustering", "graph_from_connectivities"),
    "leiden": ("cellbench.tasks.clustering", "leiden"),
    "silhouette": ("cellbench.tasks.embedding", "silhouette_samples"),
    "fold": ("cellbench.tasks.label_prediction", "score_fold"),
}
#: phases timed apart per value of one argument: phase name -> argument (e.g. fold_lr, fold_rf)
PER_ARGUMENT = {"fold": "classifier"}

spent: dict[str, float] = {}


def _add(name: str, seconds: float) -> None:
    spent[name] = spent.get(name, 0.0) + seconds


def timed(name: str, fn, per_argument: str | None = None):
    signature = inspect.signature(fn)

    def label(args, kwargs) -> str:
        if per_argument is None:
            return name
        return f"{name}_{signature.bind(*args, **kwargs).arguments[per_argument]}"

    if inspect.isgeneratorfunction(fn):

        @functools.wraps(fn)
        def gen_wrapper(*args, **kwargs):
            gen, phase = fn(*args, **kwargs), label(args, kwargs)
            while True:
                start = time.perf_counter()
                try:
                    item = next(gen)
                except StopIteration:
                    _add(phase, time.perf_counter() - start)
                    return
                _add(phase, time.perf_counter() - start)
                yield item

        return gen_wrapper

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        start = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            _add(label(args, kwargs), time.perf_counter() - start)

    return wrapper


def install() -> None:
    for name, (module, attribute) in PHASES.items():
        mod = importlib.import_module(module)
        setattr(mod, attribute, timed(name, getattr(mod, attribute), PER_ARGUMENT.get(name)))


def main() -> int:
    start = time.perf_counter()
    out = Path(sys.argv[1])
    if sys.argv[2:3] != ["--"] or len(sys.argv) < 4:
        raise SystemExit("usage: phases.py OUT.json -- COMMAND ARGS...")
    install()
    from cellbench.cli import cli

    code = 0
    try:
        cli.main(args=sys.argv[3:], prog_name="cellbench", standalone_mode=False)
    except SystemExit as exc:  # click's exit on errors
        code = int(exc.code or 0)
    spent["process"] = time.perf_counter() - start
    out.write_text(json.dumps({k: round(v, 3) for k, v in spent.items()}, indent=1))
    return code


if __name__ == "__main__":
    sys.exit(main())
