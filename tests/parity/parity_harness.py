"""What the parity suite asks the reference to compute, running it, and caching its answers.

All reference work of a session runs in ONE subprocess of `.parity-venv/bin/python
reference_runner.py` (its imports, jax included, take seconds). Each job's answer is cached under
`.parity-venv/reference-cache/` keyed by the job, the runner's source, the data files' hashes and
the reference environment's package versions, so re-runs only redo what changed; set
CELLBENCH_PARITY_FRESH=1 to ignore the cache.

Inputs are kept small (the whole reference side takes about a minute and a half on 2 cores):
- pbmc68k_reduced (700 cells): obsm X_pca, labels bulk_labels, batch phase; the PCA baseline of
  its counts layer;
- Baron human pancreas (2142 cells): the reference's PCA baseline of its counts is the
  representation; labels cell_ontology_class, batch donor; plus the raw-expression label
  prediction baseline on the counts themselves;
- HSMM myoblast time course (271 cells): PCA baseline of its FPKM, time labels time_hours;
- Baron human + mouse (4028 cells): a joint PCA baseline of both species' counts (one-to-one
  ortholog genes, same column order), split back per species;
- Papalexi 2021 (20729 cells, the one real dataset above 8192 cells, where the reference's kNN
  graph turns approximate): PCA baseline of its counts, clustered against gene_target.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
DATA = REPO / "tests" / "data"
RUNNER = HERE / "reference_runner.py"

PBMC = DATA / "pbmc68k_reduced.h5ad"
BARON_H = DATA / "baron2016_pancreas_human.h5ad"
BARON_M = DATA / "baron2016_pancreas_mouse.h5ad"
HSMM = DATA / "hsmm_myoblast_timecourse.h5ad"
PAPALEXI = DATA / "papalexi2021_thp1_crispr_lowmoi.h5ad"
N_BARON_H = 2142  # rows of the human cells in the joint human + mouse PCA

# classes with >= 10 cells in both Baron species: the reference's cross-species label prediction
# crashes unless every test set holds exactly the training classes (its AUROC), see README.md
BARON_SHARED = [
    "endothelial cell",
    "macrophage",
    "pancreatic A cell",
    "pancreatic D cell",
    "pancreatic PP cell",
    "pancreatic ductal cell",
    "pancreatic stellate cell",
    "type B pancreatic cell",
]

RUNNER_TIMEOUT_S = int(os.environ.get("CELLBENCH_PARITY_TIMEOUT", "1200"))

# The reference runs with its BLAS and OpenMP pools on one thread. Its answers otherwise follow the
# machine's thread count: arpack's PCA baseline moved by up to 8.7e-3 between 1 and 2 BLAS threads
# (HSMM), more than the sparse-vs-dense rounding the PCA tolerance is there for, and its entropy uses
# a multi-threaded HNSW whose graph depends on the threads. cellbench gives the same bytes at any
# thread count (tests/test_thread_invariance.py) and runs under the machine's default threads here.
REFERENCE_ENV = {
    "JAX_PLATFORMS": "cpu",
    "PYTHONWARNINGS": "ignore",
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
}


def _sha(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def cache_dir(venv: Path) -> Path:
    d = venv / "reference-cache"
    d.mkdir(parents=True, exist_ok=True)
    return d


def job_specs(cache: Path) -> list[dict]:
    """Every reference job, in run order (PCA baselines first: later jobs read their .npy)."""
    s = str

    def lab(path, col, **kw):
        return {"h5ad": s(path), "obs": col, **kw}

    pca = {
        "pbmc_pca": {"task": "pca_baseline", "rep": {"h5ad": s(PBMC), "layer": "counts"}},
        "baron_pca": {"task": "pca_baseline", "rep": {"h5ad": s(BARON_H)}},
        "hsmm_pca": {"task": "pca_baseline", "rep": {"h5ad": s(HSMM)}},
        "baron_joint_pca": {"task": "pca_baseline", "rep": {"concat": [{"h5ad": s(BARON_H)}, {"h5ad": s(BARON_M)}]}},
        "papalexi_pca": {"task": "pca_baseline", "rep": {"h5ad": s(PAPALEXI)}},
    }
    jobs: list[dict] = []
    npy: dict[str, str] = {}
    for name, job in pca.items():
        key = _key({"id": name, **job})
        npy[name] = s(cache / f"{name}-{key[:16]}.npy")
        jobs.append({"id": name, **job, "output": npy[name]})

    pbmc_rep = {"h5ad": s(PBMC), "obsm": "X_pca"}
    pbmc_lab = lab(PBMC, "bulk_labels")
    baron_rep = {"npy": npy["baron_pca"]}
    baron_lab = lab(BARON_H, "cell_ontology_class")
    shared_h = {"obs": "cell_ontology_class", "values": BARON_SHARED}
    jobs += [
        {"id": "pbmc_label_prediction", "task": "label_prediction", "rep": pbmc_rep, "labels": pbmc_lab},
        {"id": "pbmc_clustering", "task": "clustering", "rep": pbmc_rep, "labels": pbmc_lab},
        {"id": "pbmc_embedding", "task": "embedding", "rep": pbmc_rep, "labels": pbmc_lab},
        {"id": "pbmc_integration", "task": "integration", "rep": pbmc_rep, "labels": pbmc_lab,
         "batch": lab(PBMC, "phase")},
        {"id": "baron_label_prediction", "task": "label_prediction", "rep": baron_rep, "labels": baron_lab},
        {"id": "baron_label_prediction_raw", "task": "label_prediction", "rep": {"h5ad": s(BARON_H)},
         "labels": baron_lab, "baseline": True},
        {"id": "baron_clustering", "task": "clustering", "rep": baron_rep, "labels": baron_lab},
        {"id": "baron_embedding", "task": "embedding", "rep": baron_rep, "labels": baron_lab},
        {"id": "baron_integration", "task": "integration", "rep": baron_rep, "labels": baron_lab,
         "batch": lab(BARON_H, "donor")},
        {"id": "papalexi_clustering", "task": "clustering", "rep": {"npy": npy["papalexi_pca"]},
         "labels": lab(PAPALEXI, "gene_target")},
        {"id": "hsmm_sequential", "task": "sequential", "rep": {"npy": npy["hsmm_pca"]},
         "labels": lab(HSMM, "time_hours"), "k": 15, "baseline_repeats": 20},
        {"id": "baron_cross_species_integration", "task": "cross_species_integration",
         "reps": [{"npy": npy["baron_joint_pca"], "rows": [0, N_BARON_H]},
                  {"npy": npy["baron_joint_pca"], "rows": [N_BARON_H, None]}],
         "labels": [lab(BARON_H, "cell_ontology_class"), lab(BARON_M, "cell_ontology_class")],
         "organisms": ["HUMAN", "MOUSE"]},
        {"id": "baron_cross_species_label_prediction", "task": "cross_species_label_prediction",
         "reps": [{"npy": npy["baron_joint_pca"], "rows": [0, N_BARON_H], "keep": {"h5ad": s(BARON_H), **shared_h}},
                  {"npy": npy["baron_joint_pca"], "rows": [N_BARON_H, None],
                   "keep": {"h5ad": s(BARON_M), **shared_h}}],
         "labels": [lab(BARON_H, "cell_ontology_class", keep={"h5ad": s(BARON_H), **shared_h}),
                    lab(BARON_M, "cell_ontology_class", keep={"h5ad": s(BARON_M), **shared_h})],
         "organisms": ["HUMAN", "MOUSE"], "aggregation": "none"},
    ]
    return jobs


_ENV_KEY: dict = {}
RUNS: list[dict] = []  # timing of every run_jobs call in this session (printed by conftest)


def _key(job: dict) -> str:
    """Hash of everything a job's answer depends on."""
    # input files by content (an .npy this suite writes is named by its own key already)
    files = sorted({v for v in _strings(job) if v.startswith("/") and not v.endswith(".npy") and Path(v).is_file()})
    payload = {
        "job": job,
        "runner": _sha(RUNNER),
        "files": {f: _sha(Path(f)) for f in files},
        "env": _ENV_KEY.get("packages"),
        "threads": {k: v for k, v in REFERENCE_ENV.items() if k.endswith("_THREADS")},
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def _strings(obj):
    if isinstance(obj, str):
        yield obj
    elif isinstance(obj, dict):
        for v in obj.values():
            yield from _strings(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _strings(v)


def run_jobs(python: Path, venv_record: dict, venv: Path, jobs: list[dict]) -> tuple[dict, dict]:
    """Answers of the given jobs, from the cache or from one runner process; plus timing info."""
    _ENV_KEY["packages"] = venv_record.get("packages")
    cache = cache_dir(venv)
    fresh = os.environ.get("CELLBENCH_PARITY_FRESH") == "1"
    answers: dict[str, dict] = {}
    todo = []
    for job in jobs:
        path = cache / f"{job['id']}-{_key(job)[:16]}.json"
        done = path.exists() and (job["task"] != "pca_baseline" or Path(job["output"]).exists())
        if done and not fresh:
            answers[job["id"]] = json.loads(path.read_text())
        else:
            todo.append((job, path))
    timing = {"jobs_run": [j["id"] for j, _ in todo], "runner_seconds": 0.0}
    if todo:
        spec = cache / f"jobs-{os.getpid()}.json"
        spec.write_text(json.dumps({"jobs": [j for j, _ in todo]}, indent=1))
        print(f"[parity] running {len(todo)} reference job(s) with {python}", file=sys.stderr, flush=True)
        start = time.monotonic()
        env = {**os.environ, **REFERENCE_ENV}
        proc = subprocess.run(
            [str(python), str(RUNNER), str(spec)],
            check=False,
            stdout=subprocess.PIPE,
            stderr=sys.stderr,
            text=True,
            timeout=RUNNER_TIMEOUT_S,
            env=env,
            cwd=str(cache),
        )
        timing["runner_seconds"] = round(time.monotonic() - start, 1)
        if proc.returncode != 0:
            raise RuntimeError(f"reference runner failed (exit {proc.returncode}); its stderr is above")
        out = json.loads(proc.stdout)
        for job, path in todo:
            path.write_text(json.dumps(out[job["id"]], sort_keys=True))
            answers[job["id"]] = out[job["id"]]
    timing["job_seconds"] = {k: v.get("seconds") for k, v in answers.items()}
    RUNS.append(timing)
    return answers, timing


def run_reference(python: Path, venv_record: dict, venv: Path) -> tuple[dict, dict]:
    """Answers of every job of `job_specs`, the jobs by id, and timing info under "_timing"."""
    _ENV_KEY["packages"] = venv_record.get("packages")
    jobs = job_specs(cache_dir(venv))
    answers, timing = run_jobs(python, venv_record, venv, jobs)
    return answers, {j["id"]: j for j in jobs} | {"_timing": timing}


def values(answer: dict) -> dict:
    """{(metric_type, sorted params as a tuple): value} of one job's answer."""
    return {(m["metric_type"], tuple(sorted(m["params"].items()))): m["value"] for m in answer["metrics"]}


def cb_values(results) -> dict:
    """The same mapping for cellbench MetricResults."""
    return {(r.metric_type, tuple(sorted(r.params.items()))): r.value for r in results}
