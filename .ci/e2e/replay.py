"""Replay the pipeline's `-profile test` plan without Nextflow and collect its result JSONs.

    .venv/bin/python .ci/e2e/replay.py OUTDIR [--param name=value ...]

Uses tests/test_pipeline_plan.py's run_plan (the same plan, command lines rendered from the modules'
script blocks, run in this process) and copies every result JSON to OUTDIR/results/, the aggregate
table to OUTDIR/aggregate/. Work folders go under OUTDIR/work.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("outdir", type=Path)
    ap.add_argument(
        "--param",
        action="append",
        default=[],
        help="name=value, as --name value on the nextflow command line",
    )
    a = ap.parse_args()
    overrides = dict(p.split("=", 1) for p in a.param)

    import test_pipeline_plan as plan  # needs tests/ on sys.path (above) and pytest importable

    out = a.outdir.resolve()
    work = out / "work"
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    t0 = time.time()
    runner, results, outputs = plan.run_plan(work, overrides=overrides)
    (out / "results").mkdir(exist_ok=True)
    for p in results:
        shutil.copy2(p, out / "results" / p.name)
    (out / "aggregate").mkdir(exist_ok=True)
    for p in outputs["table"].get("tsv", []):
        shutil.copy2(p, out / "aggregate" / p.name)
    print(
        f"replay: {len(runner.log)} tasks, {len(results)} result JSONs in {time.time() - t0:.0f} s -> {out / 'results'}",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
