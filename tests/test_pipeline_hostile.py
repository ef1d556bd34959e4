"""Hostile samplesheet values and seeds against a real `nextflow run` (the cases of .ci/e2e/hostile.py).

Each case (a value full of shell syntax in a column the schemas restrict, a seed outside
0..4294967295) must stop the run before any task, with one error line naming the sheet, row and
column or the parameter, and nothing it was given may run. Needs Nextflow: `nextflow` on the PATH,
or the jars that `.ci/nextflow/setup-nextflow.sh` caches (CI's .ci/run installs them before
.ci/nextflow-e2e.sh; run that script once to enable this test). Without either, it is skipped.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("e2e_hostile", ROOT / ".ci" / "e2e" / "hostile.py")
hostile = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(hostile)


@pytest.fixture(scope="module")
def nextflow():
    found = hostile.nextflow_command(install=False)
    if found is None:
        pytest.skip("Nextflow is not available: no `nextflow` on PATH, and no jar cache of "
                    ".ci/nextflow/setup-nextflow.sh (run it once; it needs java and Maven Central)")
    return found


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(hostile.CASES))
def test_hostile_input_stops_the_run_before_any_task(case, nextflow, tmp_path):
    problems = hostile.run_case(case, tmp_path / case, nextflow)
    assert not problems, f"{case}: " + "; ".join(problems)
