"""Writing and reading result JSON files (schema in cellbench.schema), deterministically and atomically."""

from __future__ import annotations

import hashlib
import json
import os
import resource
import sys
import time
from pathlib import Path

from cellbench.errors import InputError
from cellbench.io.atomic import write_text
from cellbench.outcome import TaskOutcome
from cellbench.schema import SCHEMA_VERSION, InputFile, MetricResult, TaskResult, schema_major

# Libraries whose versions can change a number; recorded in every result.
KEY_DEPENDENCIES = ("numpy", "scipy", "scikit-learn", "anndata", "scanpy", "igraph", "leidenalg", "pandas")


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def input_file(role: str, path: str | os.PathLike) -> InputFile:
    return InputFile(role=role, name=Path(path).name, sha256=sha256_file(path))


def versions() -> dict[str, str]:
    """Versions from package metadata (no imports, so this costs nothing at start-up)."""
    from cellbench import __version__
    from cellbench.versions import package_versions

    return {"cellbench": __version__, "python": ".".join(map(str, sys.version_info[:3])),
            **package_versions(KEY_DEPENDENCIES)}


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


class Stopwatch:
    """Wall time since creation; started when a command starts, read when its result is written."""

    def __init__(self):
        self.start = time.perf_counter()

    def elapsed(self) -> float:
        return round(time.perf_counter() - self.start, 3)


def dump_result(result: TaskResult) -> str:
    """Stable JSON text: sorted keys, fixed indentation, floats as Python's shortest repr."""
    return json.dumps(result.model_dump(mode="json"), sort_keys=True, indent=2, allow_nan=False) + "\n"


def write_result(result: TaskResult, path: str | os.PathLike) -> None:
    write_text(path, dump_result(result))


def make_result(
    *,
    task: str,
    dataset: str,
    model: str,
    seed: int,
    params: dict,
    metrics: list[MetricResult],
    inputs: list[InputFile],
    n_cells: int | None,
    stopwatch: Stopwatch | None,
    model_provenance: dict | None = None,
    device: str = "cpu",
) -> TaskResult:
    """The result record; `device` (`cellbench.device`'s name) is recorded in `versions` unless it is
    the numpy path, so CPU results stay byte-identical to those of a cellbench without the GPU path."""
    from cellbench.device import describe

    recorded = versions()
    if (where := describe(device)) is not None:
        recorded["device"] = where
    return TaskResult(
        task=task,
        dataset=dataset,
        model=model,
        seed=seed,
        params=params,
        metrics=metrics,
        inputs=inputs,
        n_cells=n_cells,
        versions=recorded,
        wall_time_s=stopwatch.elapsed() if stopwatch else None,
        peak_rss_mb=round(peak_rss_mb(), 1),
        model_provenance=model_provenance,
    )


def write_task_result(
    output: str | os.PathLike,
    outcome: TaskOutcome,
    *,
    task: str,
    dataset: str,
    model: str,
    seed: int,
    inputs: list[InputFile],
    stopwatch: Stopwatch | None,
    model_provenance: dict | None = None,
    device: str = "cpu",
) -> TaskResult:
    """Write one task's result file from its outcome (metrics, params as run, cells scored), the
    representation's model record (`model_provenance`, null when None) and the device the products ran
    on (`make_result`); return it."""
    result = make_result(
        task=task,
        dataset=dataset,
        model=model,
        seed=seed,
        params=outcome.params,
        metrics=outcome.metrics,
        inputs=inputs,
        n_cells=outcome.n_cells,
        stopwatch=stopwatch,
        model_provenance=model_provenance,
        device=device,
    )
    write_result(result, output)
    return result


def read_result(path: str | os.PathLike) -> TaskResult:
    """Read one result file; a file that is not a valid result is a one-line InputError."""
    from pydantic import ValidationError

    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise InputError(f"{path}: result file not found") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: not a JSON file ({exc})") from None
    check_schema_version(data, path)
    try:
        return TaskResult.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(map(str, first["loc"]))
        raise InputError(f"{path}: not a cellbench result ({where}: {first['msg']})") from None


def check_schema_version(data, path: Path) -> None:
    """A result of another MAJOR schema version (or none) is refused, not read as if it were ours."""
    if not isinstance(data, dict):
        raise InputError(f"{path}: not a cellbench result (a JSON {type(data).__name__}, not an object)")
    version = data.get("schema_version")
    ours = schema_major(SCHEMA_VERSION)
    if schema_major(version) != ours:
        found = "no schema_version" if version is None else f"schema_version {json.dumps(version)[:40]}"
        raise InputError(f"{path}: not a cellbench result of schema {ours}.x ({found})")
