"""Hostile inputs against a real `nextflow run`: each must stop the run before any task, in one line.

    python .ci/e2e/hostile.py WORKDIR [CASE ...]        (standard library only; nextflow on PATH, or
                                                      its jar cache from .ci/nextflow/setup-nextflow.sh)

A case is a samplesheet value full of shell syntax (`$(touch pwned)`, backticks, and `;`, `&&`, `|`
without a space) in a column the schemas restrict, or a seed out of 0..4294967295. For each, `nextflow run . -profile test`
must exit non-zero, print one error line naming the sheet, row and column (or the parameter), start no
task (no work folder of a task, no trace row) and leave no `pwned*` file anywhere under its folder.
Prints one line per case to stdout, `NAME<TAB>SECONDS<TAB>ok|FAILED<TAB>detail`; exit 1 if any failed.
.ci/nextflow-e2e.sh runs this (a row per case in its summary) and tests/test_pipeline_hostile.py
runs the same cases under pytest.
"""

from __future__ import annotations

import csv
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data"

# the dataset row every case starts from (pbmc68k_reduced of the test profile, absolute path)
ROW = {"dataset": "pbmc68k_reduced", "h5ad": str(DATA / "pbmc68k_reduced.h5ad"), "organism": "human",
       "tasks": "clustering;integration", "label_key": "bulk_labels", "batch_key": "phase", "counts_layer": "counts"}
MODEL = {"model": "X_pca", "dataset": "pbmc68k_reduced", "obsm_key": "X_pca"}

# name: (dataset row changes, model row changes, extra arguments, what the error line must name)
CASES = {
    "label_key_subst": ({"label_key": "$(touch pwned)"}, {}, [], ["datasets.csv row 2", "column 'label_key'"]),
    "label_key_backticks": ({"label_key": "`touch pwned`"}, {}, [], ["datasets.csv row 2", "column 'label_key'"]),
    # without spaces or `$` (bash's brace expansion makes `{touch,pwned}` the command `touch pwned`)
    "label_key_semicolon": ({"label_key": "bulk_labels;{touch,pwned}"}, {}, [],
                            ["datasets.csv row 2", "column 'label_key'"]),
    "batch_key_and": ({"batch_key": "phase&&{touch,pwned}"}, {}, [], ["datasets.csv row 2", "column 'batch_key'"]),
    "obsm_key_pipe": ({}, {"obsm_key": "X_pca|{touch,pwned}"}, [], ["models.csv row 2", "column 'obsm_key'"]),
    "h5ad_subst": ({"h5ad": "$(touch pwned).h5ad"}, {}, [], ["datasets.csv row 2", "column 'h5ad'"]),
    "seed_negative": ({}, {}, ["--seeds", "-1"], ["--seeds", "0 to 4294967295"]),
    "seed_too_large": ({}, {}, ["--seeds", "42,4294967296"], ["--seeds", "0 to 4294967295"]),
    # a parameter that reaches three command lines (conf/modules.config quotes it; the schema's pattern first)
    "metrics_device_quote": ({}, {}, ["--metrics_device", "cuda';{touch,pwned};'"],
                             ["--metrics_device", "cpu, cuda, cuda:N or torch-cpu"]),
}


def nextflow_command(install: bool = True) -> str | None:
    """`nextflow` from PATH, else the launcher of .ci/nextflow/setup-nextflow.sh: with install, whatever
    that script does (it resolves the jars from Maven Central once); without, only if its jars are cached."""
    found = shutil.which("nextflow")
    if found:
        return found
    if shutil.which("java") is None:
        return None
    pom = (ROOT / ".ci" / "nextflow" / "pom.xml").read_text()
    version = re.search(r"<nextflow.version>(.*?)</nextflow.version>", pom).group(1)
    jar = Path.home() / ".cache" / "cellbench-nextflow" / version / "lib" / f"nextflow-{version}.jar"
    if not install and not jar.exists():
        return None
    res = subprocess.run(["bash", str(ROOT / ".ci" / "nextflow" / "setup-nextflow.sh")], capture_output=True,
                         text=True, check=False)
    m = re.search(r'export PATH="?([^:"]+)', res.stdout)
    return str(Path(m.group(1)) / "nextflow") if res.returncode == 0 and m else None


def write_sheet(path: Path, row: dict) -> Path:
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(row))
        w.writeheader()
        w.writerow(row)
    return path


def run_case(name: str, folder: Path, nextflow: str) -> list[str]:
    """Run one case in its own folder (the launch directory); the problems found, none when it passed."""
    dataset_change, model_change, args, names = CASES[name]
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    datasets = write_sheet(folder / "datasets.csv", {**ROW, **dataset_change})
    models = write_sheet(folder / "models.csv", {**MODEL, **model_change})
    cmd = [nextflow, "run", str(ROOT), "-profile", "test", "--input", str(datasets), "--models", str(models),
           "--outdir", str(folder / "out"), "-w", str(folder / "work"), "-with-trace", str(folder / "trace.txt"),
           *args]
    env = dict(os.environ, NXF_ANSI_LOG="false", NXF_DISABLE_CHECK_LATEST="true")
    res = subprocess.run(cmd, cwd=folder, env=env, capture_output=True, text=True, check=False, timeout=300)
    out = res.stdout + res.stderr
    (folder / "output.txt").write_text(out)
    problems = []
    if res.returncode == 0:
        problems.append("nextflow exited 0")
    lines = [line for line in out.splitlines() if all(n in line for n in names)]
    if len(lines) != 1:
        problems.append(f"{len(lines)} output lines name {names} (one expected)")
    if re.search(r"Exception|^\s+at [\w.$]+\(", out, re.MULTILINE):
        problems.append("a stack trace in the output")
    pwned = sorted(str(p.relative_to(folder)) for p in folder.rglob("pwned*"))
    if pwned or list(ROOT.glob("pwned*")):
        problems.append(f"the value was run by a shell: {pwned or 'pwned in ' + str(ROOT)}")
    tasks = [p for p in (folder / "work").glob("??/*") if p.is_dir()] if (folder / "work").is_dir() else []
    if tasks:
        problems.append(f"{len(tasks)} task(s) started, e.g. {tasks[0]}")
    trace = folder / "trace.txt"
    if trace.exists() and len(trace.read_text().splitlines()) > 1:
        problems.append(f"{trace} has task rows")
    if problems:
        problems.append("last output lines: " + " | ".join(out.strip().splitlines()[-3:]))
    return problems


def main() -> None:
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    work = Path(sys.argv[1]).resolve()
    names = sys.argv[2:] or list(CASES)
    nextflow = nextflow_command()
    if nextflow is None:
        sys.exit("hostile.py: no nextflow (and .ci/nextflow/setup-nextflow.sh did not provide one)")
    failed = False
    for name in names:
        start = time.time()
        problems = run_case(name, work / name, nextflow)
        failed |= bool(problems)
        status = "FAILED" if problems else "ok"
        print(f"{name}\t{time.time() - start:.0f}\t{status}\t{'; '.join(problems)}", flush=True)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
