#!/usr/bin/env python3
"""Scale-out cost of the pipeline: tasks, and bytes staged per task, over 26 tissues x 3 models.

    .venv/bin/python benchmarks/scale_out_stub.py [--before DIR] [--out benchmarks/results/scale_out.md]
    .venv/bin/python benchmarks/scale_out_stub.py --measure TRACE      # bytes per task of any finished run

Builds a datasets samplesheet of the 26 Tabula Sapiens v2 tissues of the dataset catalog and a models
samplesheet of 3 models per tissue, over tiny stand-in files (100-cell subsets of the bundled
pbmc68k_reduced, counts as X, `cell_type`; seeded random float32 embeddings of each model's real width),
runs `nextflow run <pipeline> -stub` on them (no container, nothing is computed: the stubs run), and
reads the run's tasks (`nextflow log`): tasks per process, and for each task the files staged into its
work directory (every symlink there, resolved, sized). `--before DIR` runs a second checkout too (e.g. `git worktree add
/tmp/base HEAD`), for the same table before a change.

Stand-ins are tiny and a stub writes empty outputs (an extract of 0 bytes), so their bytes only show
which files each task stages. The estimate for the real
tissues sizes each staged file by what it holds, with the assumptions printed under the table (cells
per tissue, non-zeros per cell, matrices per file, embedding widths): a tissue .h5ad, an embedding file,
the PCA baseline, an extract (its representation and a few obs columns), a folds TSV, small files.

`--measure TRACE` prints the measured bytes per task of any run whose trace has the `workdir` column
(e.g. .ci/nextflow-e2e.sh's runs), without running anything.
"""

from __future__ import annotations

import argparse
import csv
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODELS = {"scgpt": 512, "uce": 1280, "transcriptformer": 2048}  # stand-in models: embedding width
CELLS_PER_STANDIN = 100

# The real tissues, for the estimate (every figure an assumption, printed with the table)
ASSUME = {
    # CZI's data card of the Tabula Sapiens v2 benchmarking set: "over 500,000 cells representing 27
    # tissues"; each of the catalog's 26 at that mean
    "cells": 500_000 // 27,
    "nnz_per_cell": 2_500,  # genes detected per cell (10x 3' v3, typical)
    "matrices": 2,  # a CELLxGENE-schema file: normalized X + raw counts, CSR, float32 + int32 index
    "obs_bytes_per_cell": 300,  # ~30 obs columns (categorical codes) and the cell id
    "pca_dims": 50,  # cellbench baseline: 50 PCs, float32
    "small_file": 10_000,  # a result JSON, a config, a table: at most tens of KB
}


# ----------------------------------------------------------------------------------------------- inputs


def tissues(catalog: Path) -> list[str]:
    with open(catalog, newline="") as fh:
        return [r["dataset"] for r in csv.DictReader(fh) if r["dataset"].startswith("tsv2_")]


def write_standins(work: Path, catalog: Path, n_tissues: int) -> tuple[Path, Path]:
    """The stand-in files and the two samplesheets; returns (datasets.csv, models.csv)."""
    import anndata as ad
    import numpy as np
    import pandas as pd

    names = tissues(catalog)
    if len(names) != 26:
        sys.exit(f"{catalog}: {len(names)} tsv2_ tissues, expected 26")
    names = names[:n_tissues]
    pbmc = ad.read_h5ad(ROOT / "tests" / "data" / "pbmc68k_reduced.h5ad")
    rng = np.random.default_rng(0)
    (work / "datasets").mkdir(parents=True, exist_ok=True)
    ds_rows, model_rows = [], []
    for i, tissue in enumerate(names):
        cells = rng.choice(pbmc.n_obs, CELLS_PER_STANDIN, replace=False)
        obs = pd.DataFrame({"cell_type": pbmc.obs["bulk_labels"].to_numpy()[cells]},
                           index=[f"{tissue}_{c}" for c in cells])
        sub = ad.AnnData(X=pbmc.layers["counts"][cells], obs=obs, var=pd.DataFrame(index=pbmc.var_names))
        sub.write_h5ad(work / "datasets" / f"{tissue}.h5ad")
        ds_rows.append({"dataset": tissue, "h5ad": f"datasets/{tissue}.h5ad"})
        for model, dims in MODELS.items():
            (work / "embeddings" / model).mkdir(parents=True, exist_ok=True)
            emb = ad.AnnData(obs=pd.DataFrame(index=obs.index))
            emb.obsm["X_emb"] = rng.standard_normal((CELLS_PER_STANDIN, dims)).astype(np.float32)
            emb.write_h5ad(work / "embeddings" / model / f"{tissue}.h5ad")
            model_rows.append({"model": model, "dataset": tissue, "embedding": f"embeddings/{model}/{tissue}.h5ad",
                               "obsm_key": "X_emb"})
    datasets, models = work / "datasets.csv", work / "models.csv"
    pd.DataFrame(ds_rows).to_csv(datasets, index=False)
    pd.DataFrame(model_rows).to_csv(models, index=False)
    return datasets, models


# ----------------------------------------------------------------------------------------------- run


def nextflow() -> str:
    """`nextflow` from PATH, else the offline one of .ci/nextflow/setup-nextflow.sh."""
    found = shutil.which("nextflow")
    if found:
        return found
    out = subprocess.run(["bash", str(ROOT / ".ci" / "nextflow" / "setup-nextflow.sh")], check=True,
                         capture_output=True, text=True).stdout
    m = re.search(r'export PATH="?([^:"]+)', out)
    if not m:
        sys.exit(f"setup-nextflow.sh printed no PATH line: {out!r}")
    return str(Path(m.group(1)) / "nextflow")


STUB_CONFIG = """
// benchmarks/scale_out_stub.py: stubs are trivial, so run many at once; the trace needs workdir. The
// `versions` outputs still run `cellbench --version` (a Python start-up per task, most of a stub
// task's time): a shell function answers instead (nothing here reads the versions)
executor { cpus = 16; memory = '1 TB' }
process.beforeScript = 'cellbench() { echo "cellbench, version stub"; }; multiqc() { echo "multiqc, version stub"; }; export -f cellbench multiqc'
// no per-task metrics (they cost more than a stub task): the tasks are listed by `nextflow log` instead
trace.enabled    = false
report.enabled   = false
timeline.enabled = false
dag.enabled      = false
"""


def revision(checkout: Path) -> str:
    """The checkout's commit, `-dirty` with uncommitted changes (`git describe`), or `?` outside git."""
    res = subprocess.run(["git", "-C", str(checkout), "describe", "--always", "--dirty"], capture_output=True,
                         text=True, check=False)
    return res.stdout.strip() or "?"


def run_stub(pipeline: Path, work: Path, datasets: Path, models: Path) -> tuple[Path, float]:
    """`nextflow run PIPELINE -stub` over the samplesheets; returns (trace, wall seconds)."""
    work.mkdir(parents=True, exist_ok=True)
    (work / "stub.config").write_text(STUB_CONFIG)
    trace = work / "trace.txt"
    cmd = [nextflow(), "-log", str(work / "nextflow.log"), "run", str(pipeline), "-stub",
           "-c", str(work / "stub.config"), "--input", str(datasets), "--models", str(models),
           "--outdir", str(work / "out"), "-w", str(work / "work")]
    env = dict(os.environ, NXF_ANSI_LOG="false", NXF_DISABLE_CHECK_LATEST="true",
               PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    print(f"scale_out_stub: {' '.join(cmd)}", file=sys.stderr)
    start = time.time()
    with open(work / "stdout.txt", "w") as fh:
        rc = subprocess.run(cmd, check=False, cwd=work, env=env, stdout=fh, stderr=subprocess.STDOUT).returncode
    if rc != 0:
        sys.exit(f"nextflow exited {rc}; see {work / 'stdout.txt'}")
    wall = time.time() - start
    # the run's tasks as a trace file (tab-separated, with a header), from Nextflow's own history
    fields = ["process", "status", "workdir"]
    listed = subprocess.run([nextflow(), "log", "last", "-f", ",".join(fields)], cwd=work, env=env, check=True,
                            capture_output=True, text=True).stdout
    trace.write_text("\t".join(fields) + "\n" + listed)
    return trace, wall


# ----------------------------------------------------------------------------------------------- measure


@dataclass
class Task:
    process: str  # short name, e.g. CELLBENCH_LABEL_FOLD
    workdir: Path
    staged: list[tuple[str, str, int]] = field(default_factory=list)  # (kind, detail, bytes)


def read_trace(trace: Path) -> list[dict]:
    with open(trace, newline="") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    if rows and "workdir" not in rows[0]:
        sys.exit(f"{trace}: no workdir column (trace.fields must include it)")
    return [r for r in rows if r["status"] in ("COMPLETED", "CACHED")]


def staged_files(workdir: Path):
    """The inputs Nextflow staged into a work directory: its symlinks (in staging folders too), resolved."""
    for dirpath, dirnames, filenames in os.walk(workdir):
        for name in filenames + dirnames:
            p = Path(dirpath) / name
            if p.is_symlink() and not name.startswith(".command"):
                yield p, p.resolve()


KINDS = ["dataset", "embedding", "pca", "extract", "folds", "prepared", "small"]  # display order
PRODUCED = {"CELLBENCH_BASELINE": "pca", "CELLBENCH_LABEL_SPLIT": "folds", "CELLBENCH_PERTURBATION_PREPARE": "prepared"}


def classify(source: Path, producers: dict[Path, str], standins: Path | None) -> tuple[str, str]:
    """(kind, detail) of a staged file: what it holds, for the estimate."""
    if standins is not None and source.is_relative_to(standins / "datasets"):
        return "dataset", source.stem
    if standins is not None and source.is_relative_to(standins / "embeddings"):
        return "embedding", source.parent.name
    producer = producers.get(source.parent)
    if producer == "CELLBENCH_EXTRACT":
        return "extract", source.name.removesuffix(".extract.h5ad").rsplit("__", 1)[-1]
    if producer in PRODUCED:
        return PRODUCED[producer], ""
    if producer is None and source.suffix == ".h5ad":
        return "dataset", source.stem
    return "small", source.name


def measure(trace: Path, standins: Path | None = None) -> list[Task]:
    rows = read_trace(trace)
    producers = {Path(r["workdir"]).resolve(): r["process"].split(":")[-1] for r in rows}
    tasks = []
    for r in rows:
        task = Task(r["process"].split(":")[-1], Path(r["workdir"]))
        for _link, source in staged_files(task.workdir):
            if source.is_file():
                task.staged.append((*classify(source, producers, standins), source.stat().st_size))
        tasks.append(task)
    return tasks


# ----------------------------------------------------------------------------------------------- estimate


def real_bytes(kind: str, detail: str) -> int:
    """Bytes of a staged file for a real tissue (ASSUME)."""
    a = ASSUME
    counts = a["nnz_per_cell"] * 8  # one CSR matrix: float32 value + int32 column index per non-zero
    width = {**MODELS, "pca": a["pca_dims"]}
    per_cell = {
        "dataset": a["matrices"] * counts + a["obs_bytes_per_cell"],
        "embedding": width.get(detail, 0) * 4 + 40,
        "pca": a["pca_dims"] * 4 + 40,
        "extract": (counts if detail == "raw_expression" else width.get(detail, 0) * 4) + 50,
        "folds": 45,
    }
    if kind in per_cell:
        return a["cells"] * per_cell[kind]
    return a["small_file"]


# ----------------------------------------------------------------------------------------------- report


def human(n: float) -> str:
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n:.0f} B"


def staged_summary(tasks: list[Task]) -> str:
    """What the tasks of a process stage, e.g. 'dataset + embedding (78), dataset (26)'."""
    combos = defaultdict(int)
    for t in tasks:
        kinds = sorted({k for k, _, _ in t.staged}, key=KINDS.index)
        n_small = sum(k == "small" for k, _, _ in t.staged)
        combos[" + ".join(k if k != "small" else f"{n_small} small" for k in kinds) or "-"] += 1
    if len(combos) == 1:
        return next(iter(combos))
    return ", ".join(f"{c} ({n})" for c, n in sorted(combos.items(), key=lambda x: (-x[1], x[0])))


def table(tasks: list[Task], estimate: bool) -> tuple[str, dict]:
    by_process = defaultdict(list)
    for t in tasks:
        by_process[t.process].append(t)
    head = f"| process | tasks | stages (per task) | {'stand-ins' if estimate else 'measured'}: bytes/task (mean) |"
    rule = "|---|---:|---|---:|"
    if estimate:
        head += " real tissues: bytes/task (est.) | real tissues: all its tasks (est.) |"
        rule += "---:|---:|"
    lines = [head, rule]
    total = {"tasks": 0, "standin": 0, "real": 0, "whole_dataset_tasks": 0, "real_whole": 0}
    for process in sorted(by_process, key=lambda p: (-len(by_process[p]), p)):
        group = by_process[process]
        standin = [sum(b for _, _, b in t.staged) for t in group]
        real = [sum(real_bytes(k, d) for k, d, _ in t.staged) for t in group]
        row = f"| {process} | {len(group)} | {staged_summary(group)} | {human(statistics.mean(standin))} |"
        if estimate:
            row += f" {human(statistics.mean(real))} | {human(sum(real))} |"
        lines.append(row)
        total["tasks"] += len(group)
        total["standin"] += sum(standin)
        total["real"] += sum(real)
        whole = [t for t in group if any(k == "dataset" for k, _, _ in t.staged)]
        total["whole_dataset_tasks"] += len(whole)
        total["real_whole"] += sum(real_bytes(k, d) for t in whole for k, d, _ in t.staged if k == "dataset")
    row = f"| **all** | **{total['tasks']}** | | {human(total['standin'] / max(total['tasks'], 1))} |"
    if estimate:
        row += f" {human(total['real'] / max(total['tasks'], 1))} | **{human(total['real'])}** |"
    lines.append(row)
    return "\n".join(lines), total


def per_representation() -> str:
    """A task scoring one representation of a real tissue, by representation: what it stages before
    (the tissue, and the representation's own file) and after (the extract); folds TSV not counted."""
    reps = [*MODELS, "pca", "raw_expression"]
    own = {**{m: [("embedding", m)] for m in MODELS}, "pca": [("pca", "")], "raw_expression": []}
    lines = ["| representation | before: tissue .h5ad + its file | after: its extract | ratio |", "|---|---:|---:|---:|"]
    for rep in reps:
        before = real_bytes("dataset", "") + sum(real_bytes(k, d) for k, d in own[rep])
        after = real_bytes("extract", rep)
        lines.append(f"| {rep} | {human(before)} | {human(after)} | {before / after:.0f}x |")
    return "\n".join(lines)


def assumptions() -> str:
    a = ASSUME
    counts = a["nnz_per_cell"] * 8
    tissue = a["cells"] * (a["matrices"] * counts + a["obs_bytes_per_cell"])
    widths = ", ".join(f"{m} {d}" for m, d in MODELS.items())
    return "\n".join([
        (f"- {a['cells']:,} cells per tissue (the CZI data card of the Tabula Sapiens v2 benchmarking set: over "
         "500,000 cells in 27 tissues; their mean). Bytes scale linearly with cells."),
        (f"- tissue .h5ad: {a['matrices']} sparse matrices (normalized X and raw counts, CSR float32 + int32 index) "
         f"x {a['nnz_per_cell']:,} non-zeros per cell + {a['obs_bytes_per_cell']} B of obs per cell = {human(tissue)}; "
         "the largest tissues are several times that."),
        (f"- embedding file and extract of a model: float32 x its width ({widths}); PCA baseline {a['pca_dims']} "
         "float32 PCs; an extract adds the cell ids and its obs columns (~50 B per cell)."),
        (f"- raw_expression extract: the counts matrix alone ({human(a['cells'] * (counts + 50))}), staged into each "
         "of its 15 fold tasks: label prediction on raw expression needs every gene of every cell."),
        f"- folds TSV 45 B per cell; any other staged file (result JSON, table, config) {human(a['small_file'])}.",
    ])


def report(runs: dict[str, tuple[list[Task], float]], estimate: bool) -> str:
    out = []
    totals = {}
    for name, (tasks, wall) in runs.items():
        text, total = table(tasks, estimate)
        totals[name] = total
        out += [f"### {name}", ""] + ([f"`-stub` run: {total['tasks']} tasks in {wall:.0f} s.", ""] if wall else [])
        out += [text, ""]
    if estimate and len(runs) == 2:
        (a, ta), (b, tb) = totals.items()
        out += ["### Summary (real tissues, estimated)", "",
                f"| | {a} | {b} |", "|---|---:|---:|",
                f"| tasks | {ta['tasks']} | {tb['tasks']} |",
                f"| bytes staged, all tasks | {human(ta['real'])} | {human(tb['real'])} |",
                f"| tasks that stage a whole tissue .h5ad | {ta['whole_dataset_tasks']} | {tb['whole_dataset_tasks']} |",
                f"| bytes of tissue .h5ad staged | {human(ta['real_whole'])} | {human(tb['real_whole'])} |", ""]
    if estimate:
        out += ["### One task of one representation (real tissue, estimated)", "",
                ("A task scoring one representation (clustering, embedding: the models and pca; each of the "
                 "15 label-fold tasks: the models and raw_expression) stages:"), "",
                per_representation(), "", "Assumptions of the estimate:", "", assumptions(), ""]
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pipeline", type=Path, default=ROOT, help="checkout to run (default: this one)")
    ap.add_argument("--before", type=Path, help="a second checkout to run the same way (the table before a change)")
    ap.add_argument("--work", type=Path, help="work folder (default: a new one under /tmp, removed unless --keep)")
    ap.add_argument("--keep", action="store_true", help="keep the work folder")
    ap.add_argument("--out", type=Path, help="write the tables (markdown) here too")
    ap.add_argument("--measure", type=Path, metavar="TRACE", help="only measure the tasks of this trace")
    ap.add_argument("--tissues", type=int, default=26, help="the first N tissues only (a quick try)")
    a = ap.parse_args()

    if a.measure:
        print(report({str(a.measure): (measure(a.measure), 0.0)}, estimate=False))
        return
    import tempfile

    work = a.work or Path(tempfile.mkdtemp(prefix="cellbench-scale-out."))
    try:
        standins = (work / "standins").resolve()
        datasets, models = write_standins(standins, a.pipeline / "assets" / "datasets_catalog.csv", a.tissues)
        checkouts = {"before": a.before, "after": a.pipeline} if a.before else {"this checkout": a.pipeline}
        runs = {}
        for name, pipeline in checkouts.items():
            trace, wall = run_stub(pipeline.resolve(), work / name.replace(" ", "_"), datasets, models)
            runs[f"{name} ({pipeline} at {revision(pipeline)})"] = (measure(trace, standins), wall)
        command = "benchmarks/scale_out_stub.py" + (f" --before {a.before}" if a.before else "")
        text = (f"# Scale-out cost: {a.tissues} tissues x {len(MODELS)} models, staged bytes per task\n\n"
                f"Written by `{command}` on {time.strftime('%Y-%m-%d')} (docs/pipeline.md, \"Scale-out cost\"). "
                f"{a.tissues} Tabula Sapiens v2 tissues of the catalog x {len(MODELS)} models ({', '.join(MODELS)}), "
                "the catalog's tasks (clustering, embedding, label prediction), --seeds 42, the default baselines "
                f"(pca, raw_expression); stand-ins of {CELLS_PER_STANDIN} cells, `nextflow run -stub`.\n\n"
                + report(runs, estimate=True))
        print(text)
        if a.out:
            a.out.write_text(text)
    finally:
        if not a.keep and a.work is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
