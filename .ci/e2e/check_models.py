"""Assertions of .ci/nextflow-e2e.sh's `models` group on what a -profile test_models run left (standard library only).

    check_models.py results OUTDIR --models SHEET --datasets SHEET [--skip MODEL ...]
    check_models.py failure RUNDIR --model M --dataset D --process NAME --exit N --says TEXT [--outdir OUTDIR]

results: for every runner row of the models sheet (harmony, scvi, container) there is a result per task of
its dataset (the datasets sheet's `tasks`, seed(s) from the file names), and each result's
`model_provenance` names that runner, the model, the dataset and the seed (a container's: its image and
command); the checked embedding is under prepared/models/; harmony's entropy_per_cell beats the PCA
baseline's on the same dataset (integration).
failure: the run of a broken model ended with its task failed (trace: that process, tag `<dataset>:<model>`,
exit N), a one-line error naming the model and the dataset (the `Error:` line of the task's stderr for
cellbench, or Nextflow's error line for a model container, whose last stderr line says TEXT), and no result
of that model.

Prints what it checked to stderr; exit 1 with the list of problems.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
from pathlib import Path

# the e2e checks' shared reporting and trace reading (this script runs from .ci/e2e, so check is importable)
from check import finish, info, read_trace

RUNNERS = ("harmony", "scvi", "container")
RESULT = re.compile(r"^(?P<dataset>.+?)__(?P<model>.+?)__(?P<task>[a-z_]+?)__s(?P<seed>\d+)\.json$")


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="") as fh:
        return [{k: (v or "").strip() for k, v in row.items()} for row in csv.DictReader(fh)]


def results_of(outdir: Path) -> dict[tuple[str, str], list[tuple[Path, dict]]]:
    """(dataset, model) -> [(file, parsed name)] of every result JSON under OUTDIR/results."""
    out: dict[tuple[str, str], list[tuple[Path, dict]]] = {}
    for f in sorted((outdir / "results").glob("*.json")):
        m = RESULT.match(f.name)
        if m:
            out.setdefault((m["dataset"], m["model"]), []).append((f, m.groupdict()))
    return out


def metric(result: dict, name: str) -> float | None:
    for m in result.get("metrics", []):
        if m.get("metric_type") == name:
            return float(m["value"])
    return None


def check_provenance(row: dict, path: Path, seed: int, failures: list[str]) -> None:
    r = json.loads(path.read_text())
    prov = r.get("model_provenance")
    if not isinstance(prov, dict):
        failures.append(f"{path.name}: model_provenance is {prov!r}, not a record")
        return
    want = {"runner": row["runner"], "model": row["model"], "dataset": row["dataset"]}
    if row["runner"] == "container":
        want["image"] = row["image"]
    for key, value in want.items():
        if str(prov.get(key)) != value:
            failures.append(f"{path.name}: model_provenance.{key} = {prov.get(key)!r}, expected {value!r}")
    if str(prov.get("seed")) != str(seed):
        failures.append(f"{path.name}: model_provenance.seed = {prov.get('seed')!r}, the run's first seed is {seed}")
    if row["runner"] == "container" and (prov.get("params") or {}).get("command") != row["command"]:
        failures.append(f"{path.name}: model_provenance.params.command = {(prov.get('params') or {}).get('command')!r}")
    if row["runner"] in ("harmony", "scvi") and not prov.get("runner_version"):
        failures.append(f"{path.name}: model_provenance.runner_version is empty")


def harmony_beats_pca(outdir: Path, row: dict, seed: int, failures: list[str]) -> None:
    ds = row["dataset"]
    files = {m: outdir / "results" / f"{ds}__{m}__integration__s{seed}.json" for m in (row["model"], "pca")}
    if not all(f.exists() for f in files.values()):
        failures.append(f"{ds}: no integration results of both {row['model']} and pca: {[str(f) for f in files.values()]}")
        return
    h, p = (metric(json.loads(f.read_text()), "entropy_per_cell") for f in files.values())
    info(f"{ds}: entropy_per_cell {row['model']} {h} vs pca {p}")
    if h is None or p is None or not h > p:
        failures.append(f"{ds}: harmony's entropy_per_cell ({h}) does not beat the PCA baseline's ({p})")


def cmd_results(a: argparse.Namespace) -> None:
    failures: list[str] = []
    tasks = {r["dataset"]: [t for t in r.get("tasks", "").split(";") if t] for r in read_csv(a.datasets)}
    found = results_of(a.outdir)
    rows = [r for r in read_csv(a.models) if r.get("runner") and r["model"] not in (a.skip or [])]
    if not rows:
        failures.append(f"{a.models}: no runner row to check")
    runners_seen = set()
    for row in rows:
        key = (row["dataset"], row["model"])
        files = found.get(key, [])
        got_tasks = {p["task"] for _, p in files}
        missing = [t for t in tasks.get(row["dataset"], []) if t not in got_tasks]
        if not files or missing:
            failures.append(f"{row['model']} ({row['runner']}) on {row['dataset']}: no result for {missing or 'any task'}")
            continue
        seed = min(int(p["seed"]) for _, p in files)  # the representation is computed with the first seed
        for f, _ in files:
            check_provenance(row, f, seed, failures)
        prepared = list((a.outdir / "prepared").rglob(f"*{row['model']}*.h5ad"))
        if not prepared:
            failures.append(f"{row['model']} on {row['dataset']}: no checked embedding under {a.outdir}/prepared/")
        if row["runner"] == "harmony":
            harmony_beats_pca(a.outdir, row, seed, failures)
        runners_seen.add(row["runner"])
        info(f"{row['model']} ({row['runner']}) on {row['dataset']}: {len(files)} result(s), provenance checked")
    finish(f"model results of {len(rows)} runner row(s) ({', '.join(sorted(runners_seen))})", failures)


def cmd_failure(a: argparse.Namespace) -> None:
    failures: list[str] = []
    tag = f"{a.dataset}:{a.model}"
    stdout = (a.rundir / "stdout.txt").read_text(errors="replace") if (a.rundir / "stdout.txt").exists() else ""
    rows = [r for r in read_trace(a.rundir / "trace.txt") if r.get("tag") == tag and a.process in r.get("process", "")]
    failed = [r for r in rows if r.get("exit") == str(a.exit)]
    if not failed:
        failures.append(f"trace: no {a.process} task with tag {tag!r} that exited {a.exit} "
                        f"(tasks with that tag: {[(r.get('process'), r.get('status'), r.get('exit')) for r in rows]})")
    # the one line naming the model and the dataset
    if a.process.endswith("MODEL_CONTAINER"):
        lines = [ln for ln in stdout.splitlines() if a.model in ln and a.dataset in ln and "rror" in ln]
        if not lines:
            failures.append(f"no error line in the run's output naming {a.model!r} and {a.dataset!r}")
        else:
            info(f"error line: {lines[0].strip()}")
        if a.says not in stdout:
            failures.append(f"the model's last stderr line ({a.says!r}) is not in the run's output")
    for r in failed[:1]:
        err = Path(r.get("workdir", "")) / ".command.err"
        text = err.read_text(errors="replace") if err.exists() else ""
        if a.process.endswith("MODEL_CHECK"):
            errors = [ln for ln in text.splitlines() if ln.startswith("Error:")]
            if len(errors) != 1 or a.model not in errors[0] or a.dataset not in errors[0] or a.says not in errors[0]:
                failures.append(f"{err}: expected one 'Error:' line naming {a.model!r}, {a.dataset!r} and "
                                f"saying {a.says!r}, got {errors}")
            else:
                info(f"error line: {errors[0]}")
            if "Traceback" in text:
                failures.append(f"{err}: a traceback")
        elif text.strip() and a.says not in text.strip().splitlines()[-1]:
            failures.append(f"{err}: last stderr line {text.strip().splitlines()[-1]!r} does not say {a.says!r}")
    if a.outdir:
        leaked = [f.name for f in (a.outdir / "results").glob(f"*__{a.model}__*.json")]
        if leaked:
            failures.append(f"results of the broken model {a.model}: {leaked}")
    finish(f"broken model {a.model} on {a.dataset}: {a.process} exit {a.exit}, one error line", failures)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("results")
    r.add_argument("outdir", type=Path)
    r.add_argument("--models", type=Path, required=True)
    r.add_argument("--datasets", type=Path, required=True)
    r.add_argument("--skip", action="append", help="a model row not run (said loudly by the caller)")
    f = sub.add_parser("failure")
    f.add_argument("rundir", type=Path)
    f.add_argument("--model", required=True)
    f.add_argument("--dataset", required=True)
    f.add_argument("--process", required=True)
    f.add_argument("--exit", type=int, required=True)
    f.add_argument("--says", required=True)
    f.add_argument("--outdir", type=Path)
    a = ap.parse_args()
    {"results": cmd_results, "failure": cmd_failure}[a.cmd](a)


if __name__ == "__main__":
    main()
