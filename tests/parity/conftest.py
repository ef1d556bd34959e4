"""Fixtures of the parity suite: the reference's environment and its answers.

Parity tests run only when asked for (`pytest -m parity`, or CELLBENCH_PARITY=1): they need PyPI
once, to build `.parity-venv/` (cz-benchmarks 0.15.1 and its stack, jax included). Progress goes
to stderr (run with -s to watch a first build); the build and reference timings are printed at the
end of the session.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))

import parity_harness
import parity_venv

_TIMES: dict = {}


def _asked_for(config) -> bool:
    return os.environ.get("CELLBENCH_PARITY") == "1" or "parity" in (config.getoption("markexpr") or "")


def pytest_collection_modifyitems(config, items):
    if _asked_for(config):
        return
    skip = pytest.mark.skip(reason="parity suite: run with `pytest -m parity` (builds .parity-venv from PyPI once)")
    for item in items:
        if "parity" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def parity_env():
    """(python of .parity-venv, its build record); builds it on first use."""
    had = parity_venv.info() is not None
    try:
        record = parity_venv.build()
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as exc:  # no network, pip, timeout
        if os.environ.get("CELLBENCH_PARITY_SKIP_UNAVAILABLE") == "1":
            pytest.skip(f"reference environment unavailable: {exc}")
        pytest.fail(f"could not build {parity_venv.VENV} with {parity_venv.REFERENCE}: {exc}", pytrace=False)
    _TIMES["venv"] = ("reused" if had else "built", record.get("build_seconds"), record.get("pinned_to_cellbench"))
    return parity_venv.python_path(), record


@pytest.fixture(scope="session")
def reference(parity_env):
    """{job id: answer} from cz-benchmarks (cached), plus the job specs under "_jobs"."""
    python, record = parity_env
    answers, jobs = parity_harness.run_reference(python, record, parity_venv.VENV)
    return {"answers": answers, "jobs": jobs}


@pytest.fixture(scope="session")
def ref_answer(reference):
    def get(job_id: str) -> dict:
        return reference["answers"][job_id]

    return get


@pytest.fixture(scope="session")
def ref_job(reference):
    def get(job_id: str) -> dict:
        return reference["jobs"][job_id]

    return get


def pytest_terminal_summary(terminalreporter):
    if not _TIMES and not parity_harness.RUNS:
        return
    tr = terminalreporter
    tr.section("parity timings")
    if "venv" in _TIMES:
        state, seconds, pinned = _TIMES["venv"]
        tr.write_line(f".parity-venv {state}; its build took {seconds} s (libraries pinned to cellbench's: {pinned})")
    for t in parity_harness.RUNS:
        tr.write_line(f"reference runner: {len(t['jobs_run'])} of {len(t['job_seconds'])} job(s) run now, "
                      f"in {t['runner_seconds']} s (the rest from the cache)")
        for job, sec in sorted(t["job_seconds"].items()):
            tr.write_line(f"  {job}: {sec} s in the reference")
