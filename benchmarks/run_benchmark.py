"""Speed benchmark: cellbench against cz-benchmarks 0.15.1 on the same inputs, in the same run.

What it does (python benchmarks/run_benchmark.py --help for the options):
1. Builds the inputs in --workdir (not committed): seeded synthetic embeddings (a Gaussian mixture,
   64-d float32, 20 labels of unequal size, 4 batches shifting the cells) at each --sizes (and
   --large) size, and the real cases from tests/data: pbmc68k_reduced (obsm X_pca, labels
   bulk_labels, batch phase) and Baron 2016 human pancreas (PCA baseline computed once by
   `cellbench baseline`; labels cell_ontology_class, batch donor).
2. Runs every task (clustering, embedding, integration, label_prediction) once per process, as a
   user would: cellbench through its command line, the reference through
   tests/parity/reference_runner.py in its own virtual environment (built by
   tests/parity/parity_venv.py, i.e. cz-benchmarks 0.15.1 with pynndescent 0.5.13). Wall time is
   the whole process (imports included) and peak RSS the process's maximum resident set
   (os.wait4 rusage). Also `cellbench run` with all four tasks in one process at each size.
3. Checks that the values agree within TASKS.md's tolerances, and writes
   benchmarks/results/<stamp>.md and .tsv plus benchmarks/results/latest.md (the README's table),
   with the machine description and the load average during the run.

Reference runs are slow (about 17 minutes for the four tasks at 100k cells); --reference-sizes
limits them, and --reuse-reference takes the reference rows of an earlier run on the same inputs
(kept in WORKDIR/reference/, keyed by the input file's checksum) instead of running them again;
the results file then says so for every reused row.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TASKS = ("clustering", "embedding", "integration", "label_prediction")
DIM, N_LABELS, N_BATCHES = 64, 20, 4

# TASKS.md tolerances; ARI/NMI at >= 8192 cells compare Leiden partitions of approximate kNN graphs
TOL = {
    "silhouette_score": 1e-5,
    "batch_silhouette": 1e-5,
    "entropy_per_cell": 3e-3,
}
TOL_CLUSTER_SMALL, TOL_CLUSTER_LARGE, TOL_LABEL = 1e-9, 0.02, 1e-9


# --------------------------------------------------------------------------------------------------
# inputs
# --------------------------------------------------------------------------------------------------


def synthetic(n: int, seed: int = 0):
    """A seeded Gaussian mixture: 20 labels (unequal sizes), 4 batches, 64-d float32."""
    import numpy as np

    rng = np.random.default_rng(seed)
    centres = rng.normal(0.0, 0.5, size=(N_LABELS, DIM))
    shares = rng.dirichlet(np.full(N_LABELS, 3.0))
    labels = rng.choice(N_LABELS, size=n, p=shares)
    batch = rng.integers(0, N_BATCHES, size=n)
    shifts = rng.normal(0.0, 0.3, size=(N_BATCHES, DIM))
    X = centres[labels] + shifts[batch]
    X += rng.normal(size=(n, DIM))
    return X.astype(np.float32), labels, batch


def write_synthetic(path: Path, n: int) -> None:
    import anndata as ad
    import numpy as np
    import pandas as pd

    X, labels, batch = synthetic(n)
    obs = pd.DataFrame(
        {"label": [f"type_{i:02d}" for i in labels], "batch": [f"batch_{b}" for b in batch]},
        index=[f"cell_{i}" for i in range(n)],
    )
    if hasattr(ad.settings, "allow_write_nullable_strings"):  # pandas 3 makes these columns str, not object
        ad.settings.allow_write_nullable_strings = True
    adata = ad.AnnData(X=np.zeros((n, 0), dtype=np.float32), obs=obs)
    adata.obsm["X_emb"] = X
    tmp = path.with_suffix(".tmp.h5ad")
    adata.write_h5ad(tmp)
    tmp.replace(path)


def checksum(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 22), b""):
            h.update(chunk)
    return h.hexdigest()[:16]


def cases(args, work: Path) -> list[dict]:
    """name, path, obsm key, label and batch columns, n cells, whether the reference runs on it."""
    out = []
    pbmc = REPO / "tests/data/pbmc68k_reduced.h5ad"
    out.append({"name": "pbmc68k_reduced", "path": pbmc, "obsm": "X_pca", "label": "bulk_labels", "batch": "phase",
                "n": 700, "reference": True})
    if not args.no_baron:
        baron = work / "baron_human_pca.h5ad"
        if not baron.exists():
            import anndata as ad

            source = REPO / "tests/data/baron2016_pancreas_human.h5ad"
            pca = work / "baron_human_pca_only.h5ad"
            run_cmd([cellbench_bin(), "baseline", "--input", str(source), "--method", "pca", "--threads",
                     str(args.threads), "--output", str(pca)], log=work / "baron_baseline.log")
            full = ad.read_h5ad(source)
            emb = ad.read_h5ad(pca)
            out_ad = ad.AnnData(obs=full.obs[["cell_ontology_class", "donor"]].copy())
            out_ad.obsm["X_pca"] = emb[full.obs_names].obsm["X_pca"]
            out_ad.write_h5ad(baron)
        out.append({"name": "baron_human_pca", "path": baron, "obsm": "X_pca", "label": "cell_ontology_class",
                    "batch": "donor", "n": None, "reference": True})
    ref_sizes = set(args.reference_sizes)
    for n in args.sizes + args.large:
        path = work / f"synthetic_{n}.h5ad"
        if not path.exists():
            print(f"[bench] writing {path}", file=sys.stderr, flush=True)
            write_synthetic(path, n)
        out.append({"name": f"synthetic_{n}", "path": path, "obsm": "X_emb", "label": "label", "batch": "batch",
                    "n": n, "reference": n in ref_sizes})
    return out


# --------------------------------------------------------------------------------------------------
# measured processes
# --------------------------------------------------------------------------------------------------


def cellbench_bin() -> str:
    return str(Path(sys.executable).parent / "cellbench")


# A small launcher between this script and the measured process. Linux carries the high-water RSS of
# the memory a process had before exec into its ru_maxrss, and a child starts on its parent's memory
# (this script may hold a million-cell array), so the measured process is started from a tiny one.
_LAUNCHER = (
    "import os, sys, time\n"
    "log = open(sys.argv[1], 'w')\n"
    "start = time.perf_counter()\n"
    "pid = os.posix_spawn(sys.argv[2], sys.argv[2:], os.environ, file_actions=[\n"
    "    (os.POSIX_SPAWN_DUP2, log.fileno(), 1), (os.POSIX_SPAWN_DUP2, log.fileno(), 2)])\n"
    "_, status, usage = os.wait4(pid, 0)\n"
    "print(os.waitstatus_to_exitcode(status), time.perf_counter() - start, usage.ru_maxrss)\n"
)


def run_cmd(cmd: list[str], log: Path, env: dict | None = None) -> dict:
    """Run a process to its end (stdout and stderr to `log`); wall seconds and peak RSS (MB) from its rusage."""
    exe = shutil.which(cmd[0]) or cmd[0]
    out = subprocess.run([sys.executable, "-S", "-c", _LAUNCHER, str(log), exe, *cmd[1:]], cwd=REPO, env=env,
                         capture_output=True, text=True, check=True)
    code, wall, maxrss_kb = out.stdout.split()
    if int(code) != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed with {code}; see {log}")
    return {"wall_s": round(float(wall), 2), "peak_rss_mb": round(int(maxrss_kb) / 1024, 1)}


def fill_numba_cache() -> None:
    """Compile the search's numba loops into their disk cache before anything is timed, as the
    container image's build does: otherwise the first timed run after a change pays about 2.5 s of
    compiling (the 30k integration row of one scale run took 8.4 s instead of about 6)."""
    code = "from cellbench.neighbors.symmetric import precompile; precompile()"
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True)


def task_args(task: str, case: dict, threads: int, out: Path) -> list[str]:
    """The cellbench command line (after `cellbench`) of one task on a case, its result to `out`."""
    cmd = [task.replace("_", "-"), "--input", str(case["path"]), "--obsm-key", case["obsm"],
           "--label-key", case["label"], "--threads", str(threads), "--output", str(out)]
    if task == "integration":
        cmd += ["--batch-key", case["batch"]]
    return cmd


def cellbench_task(case: dict, task: str, args, work: Path, variant: str | None = None) -> dict:
    """One cellbench task in its own process. variant: None (defaults: exact), "knn=ivf"/"knn=auto"
    (CELLBENCH_KNN), or "sampled" (--max-cells: sampled silhouette / entropy estimates)."""
    tag = f"__{variant.replace('=', '_')}" if variant else ""
    out = work / "cellbench" / f"{case['name']}__{task}{tag}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env.pop("CELLBENCH_KNN", None)
    extra = list(args.cellbench_options.get(task, []))
    if variant == "sampled":
        extra += ["--max-cells", str(args.silhouette_sample)]
    cmd = [cellbench_bin(), *task_args(task, case, args.threads, out), *extra]
    options = " ".join(extra)
    if variant and variant.startswith("knn="):
        env["CELLBENCH_KNN"] = variant.split("=", 1)[1]
        options = (f"CELLBENCH_KNN={env['CELLBENCH_KNN']} " + options).strip()
    m = run_cmd(cmd, log=out.with_suffix(".log"), env=env)
    result = json.loads(out.read_text())
    m["metrics"] = result["metrics"]
    m["task_s"] = result.get("wall_time_s")
    m["options"] = options
    return m


def cellbench_all(case: dict, args, work: Path) -> dict:
    outdir = work / "cellbench_run" / case["name"]
    if outdir.exists():
        shutil.rmtree(outdir)
    outdir.parent.mkdir(parents=True, exist_ok=True)
    cmd = [cellbench_bin(), "run", "--input", str(case["path"]), "--obsm-key", case["obsm"], "--label-key",
           case["label"], "--batch-key", case["batch"], "--no-baselines", "--no-report", "--tasks", ",".join(TASKS),
           "--threads", str(args.threads), "--outdir", str(outdir)]
    return run_cmd(cmd, log=outdir.parent / f"{case['name']}.log")


def reference_task(case: dict, task: str, args, work: Path, one_blas_thread: bool = False,
                   env: dict | None = None, tag: str = "") -> dict:
    """One reference task in its own process (reused from an earlier run when asked and available).

    one_blas_thread: run it with OPENBLAS/OMP/MKL_NUM_THREADS=1, as the parity tests do (its lbfgs
    sums in BLAS, so its lr scores move by ~1e-8 with the thread count; cellbench's lr runs on one).
    env: the environment to run it in (default: this process's); tag: names that variant in the cache.
    """
    ref_dir = work / "reference"
    ref_dir.mkdir(parents=True, exist_ok=True)
    key = f"{case['name']}__{task}__{case['checksum']}" + ("__blas1" if one_blas_thread else "") + tag
    if one_blas_thread:
        env = dict(env or os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    cached = ref_dir / f"{key}.json"
    if args.reuse_reference and cached.exists():
        m = json.loads(cached.read_text())
        m["reused"] = True
        return m
    job = {"id": task, "task": task, "seed": 42, "rep": {"h5ad": str(case["path"]), "obsm": case["obsm"]},
           "labels": {"h5ad": str(case["path"]), "obs": case["label"]}}
    if task == "integration":
        job["batch"] = {"h5ad": str(case["path"]), "obs": case["batch"]}
    jobs = ref_dir / f"{key}.jobs.json"
    jobs.write_text(json.dumps({"jobs": [job]}))
    out = ref_dir / f"{key}.out.json"
    py = str(parity_python())
    m = run_cmd(["bash", "-c", '"$0" "$1" "$2" > "$3"', py, str(REPO / "tests/parity/reference_runner.py"),
                 str(jobs), str(out)], log=ref_dir / f"{key}.log", env=env)
    res = json.loads(out.read_text())[task]
    m["metrics"] = res["metrics"]
    m["task_s"] = res["seconds"]
    m["when"] = dt.datetime.now().isoformat(timespec="seconds")
    m["load"] = os.getloadavg()[0]
    cached.write_text(json.dumps(m, indent=1))
    m["reused"] = False
    return m


def parity_python() -> Path:
    sys.path.insert(0, str(REPO / "tests/parity"))
    import parity_venv

    parity_venv.build()
    return parity_venv.python_path()


# --------------------------------------------------------------------------------------------------
# agreement
# --------------------------------------------------------------------------------------------------


def compare(task: str, n: int, ours: list[dict], ref: list[dict]) -> tuple[bool, float, str]:
    """(agree, largest |difference|, note) over the metrics both report (matched by type and params)."""

    def key(m):
        return m["metric_type"], json.dumps({k: v for k, v in (m.get("params") or {}).items() if k != "fold"},
                                            sort_keys=True)

    mine = {key(m): m["value"] for m in ours}
    worst, ok, notes = 0.0, True, []
    for m in ref:
        k = key(m)
        if k not in mine:
            continue
        diff = abs(float(mine[k]) - float(m["value"]))
        if m["metric_type"] in TOL:
            tol = TOL[m["metric_type"]]
        elif task == "clustering":
            tol = TOL_CLUSTER_LARGE if n >= 8192 else TOL_CLUSTER_SMALL
        else:
            tol = TOL_LABEL
        worst = max(worst, diff)
        if not diff <= tol:
            ok = False
            notes.append(f"{m['metric_type']}{k[1] if k[1] != '{}' else ''}: {mine[k]:.6g} vs {m['value']:.6g}")
    return ok, worst, "; ".join(notes)


#: what the --large sizes run instead of the exact defaults (measured against exact at --approx-sizes)
LARGE_VARIANTS = {"clustering": "knn=auto", "embedding": "sampled", "integration": "sampled"}


def approx_diffs(approx: list[dict], exact: list[dict]) -> str:
    """'metric: |diff|' for the headline metrics (params {} or n_sample) both report."""
    ex = {m["metric_type"]: m["value"] for m in exact if not m.get("params")}
    out = []
    for m in approx:
        p = m.get("params") or {}
        if (not p or "n_sample" in p) and m["metric_type"] in ex:
            out.append(f"{m['metric_type']}: {abs(m['value'] - ex[m['metric_type']]):.2g}")
    return ", ".join(out)


def headline(metrics: list[dict]) -> str:
    parts = []
    for m in metrics:
        p = m.get("params") or {}
        if not p or "n_sample" in p or str(p.get("classifier", "")).startswith("MEAN"):
            if m["metric_type"] in ("mean_fold_f1", "mean_fold_precision", "mean_fold_recall"):
                continue
            ci = m.get("ci") if "n_sample" in p else None
            ci = f" (95% CI {ci['low']:.4f}-{ci['high']:.4f}, {p['n_sample']} cells)" if ci else ""
            parts.append(f"{m['metric_type'].replace('mean_fold_', '')}={m['value']:.4f}{ci}")
    return ", ".join(parts)


# --------------------------------------------------------------------------------------------------
# report
# --------------------------------------------------------------------------------------------------


def machine() -> str:
    cpu = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{cpu}, {os.cpu_count()} cores, {mem:.0f} GiB RAM, {platform.system()} {platform.release()}, " \
           f"Python {platform.python_version()}"


def versions() -> str:
    from importlib import metadata

    names = ["cellbench", "numpy", "scipy", "scikit-learn", "faiss-cpu", "igraph", "leidenalg"]
    out = []
    for name in names:
        try:
            out.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            pass
    return ", ".join(out)


def write_report(rows: list[dict], runs: list[dict], approx: list[dict], args, started: str, loads: list[float], out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = started.replace(":", "").replace("-", "")[:13]
    cols = ["case", "n_cells", "task", "cellbench_s", "cellbench_rss_mb", "reference_s", "reference_rss_mb",
            "speedup", "agree", "max_abs_diff", "cellbench_options", "reference_reused", "cellbench_values", "note"]
    tsv = ["\t".join(cols)]
    for r in rows:
        tsv.append("\t".join(str(r.get(c, "")) for c in cols))
    (out_dir / f"{stamp}.tsv").write_text("\n".join(tsv) + "\n")

    def fmt(v, unit=""):
        return "-" if v in (None, "") else f"{v}{unit}"

    lines = [
        (f"Benchmark of {started} (benchmarks/run_benchmark.py). Machine: {machine()}. "
         f"Threads: cellbench --threads {args.threads}; the reference runs with its own defaults. "
         f"Load average (1 min) during the run: min {min(loads):.2f}, max {max(loads):.2f} "
         f"(the machine is shared). Versions: {versions()}; reference: cz-benchmarks 0.15.1 "
         "(pynndescent 0.5.13)."),
        "",
        ("Wall time is the whole process, imports included (one task per process for both tools); "
         "peak RSS is the process's maximum resident set. speedup = reference / cellbench. "
         "agree: every metric both report within TASKS.md's tolerance."),
        "",
        "| case | cells | task | cellbench | peak RSS | cz-benchmarks | peak RSS | speedup | agree | values (cellbench) |",
        "|---|---:|---|---:|---:|---:|---:|---:|---|---|",
    ]
    for r in rows:
        ref = fmt(r.get("reference_s"), " s") + (" (r)" if r.get("reference_reused") else "")
        agree = r.get("agree", "")
        agree = "-" if agree == "" else ("yes" if agree else f"NO: {r.get('note', '')}")
        task = r["task"] + (f" ({r['cellbench_options']})" if r.get("cellbench_options") else "")
        lines.append(
            f"| {r['case']} | {r['n_cells']} | {task} | {fmt(r.get('cellbench_s'), ' s')} | "
            f"{fmt(r.get('cellbench_rss_mb'), ' MB')} | {ref} | {fmt(r.get('reference_rss_mb'), ' MB')} | "
            f"{fmt(r.get('speedup'), 'x')} | {agree} | {r.get('cellbench_values', '')} |"
        )
    if runs:
        lines += ["", "All four tasks in one `cellbench run` process (--no-baselines --no-report):", "",
                  "| case | cells | wall | peak RSS |", "|---|---:|---:|---:|"]
        for r in runs:
            lines.append(f"| {r['case']} | {r['n_cells']} | {r['wall_s']} s | {r['peak_rss_mb']} MB |")
    if approx:
        lines += ["", ("Approximations (used for the --large sizes) against cellbench's exact values on the same "
                       "input: |approximate - exact| per metric. CELLBENCH_KNN=ivf: seeded faiss IVF kNN "
                       "(neighbors.resolve_backend); sampled silhouette / entropy: "
                       "`--max-cells 10000`: cellbench.metrics.silhouette_sampled / entropy_sampled (exact values of a "
                       "seeded sample of 10,000 cells against all cells, bootstrap 95% interval over them)."), "",
                  "| case | cells | task | variant | wall | peak RSS | values | abs. difference to exact |",
                  "|---|---:|---|---|---:|---:|---|---|"]
        for r in approx:
            lines.append(f"| {r['case']} | {r['n_cells']} | {r['task']} | {r['variant']} | {r['wall_s']} s | "
                         f"{r['peak_rss_mb']} MB | {r['values']} | {r['diffs']} |")
    if any(r.get("reference_reused") for r in rows):
        ref_loads = [r["reference_load"] for r in rows if r.get("reference_load") is not None]
        span = f" (load average then: {min(ref_loads):.2f} to {max(ref_loads):.2f})" if ref_loads else ""
        lines += ["", ("(r): reference row reused from an earlier run of this script on the same input file "
                       f"(same checksum, same machine){span}; see WORKDIR/reference/*.json for when and the load "
                       "of each. A higher load then than during the cellbench rows inflates the speedups.")]
    text = "\n".join(lines) + "\n"
    (out_dir / f"{stamp}.md").write_text(text)
    (out_dir / "latest.md").write_text(text)
    return out_dir / f"{stamp}.md"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sizes", default="10000,50000,100000", help="synthetic sizes run by both tools")
    p.add_argument("--reference-sizes", default="10000,50000,100000",
                   help="synthetic sizes the reference also runs (it takes ~17 min at 100k)")
    p.add_argument("--large", default="", help="synthetic sizes run by cellbench only (e.g. 1000000)")
    p.add_argument("--tasks", default=",".join(TASKS))
    p.add_argument("--large-tasks", default=",".join(TASKS), help="tasks run at the --large sizes")
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    p.add_argument("--approx-sizes", default="100000",
                   help="synthetic sizes where the large-size approximations are measured against exact")
    p.add_argument("--silhouette-sample", type=int, default=10_000, help="cells of the sampled silhouette")
    p.add_argument("--no-reference", action="store_true")
    p.add_argument("--reuse-reference", action="store_true",
                   help="take reference rows from an earlier run on the same inputs when present")
    p.add_argument("--reference-only", action="store_true", help="run only the reference (to fill the cache)")
    p.add_argument("--no-baron", action="store_true")
    p.add_argument("--run-sizes", default="100000",
                   help="synthetic sizes where `cellbench run` does all four tasks in one process")
    p.add_argument("--cellbench-option", action="append", default=[],
                   help="TASK=OPTIONS extra options for a cellbench task at the --large sizes, e.g. "
                        "'label_prediction=--classifiers lr,knn'")
    p.add_argument("--workdir", default=str(REPO / "benchmarks/.work"))
    p.add_argument("--results", default=str(REPO / "benchmarks/results"))
    args = p.parse_args(argv)
    def ints(text: str) -> list[int]:
        return [int(x) for x in text.split(",") if x.strip()]

    args.sizes, args.reference_sizes, args.large = ints(args.sizes), ints(args.reference_sizes), ints(args.large)
    args.approx_sizes, args.run_sizes = ints(args.approx_sizes), ints(args.run_sizes)
    tasks = [t for t in args.tasks.split(",") if t]
    large_tasks = [t for t in args.large_tasks.split(",") if t]
    large_options = {}
    for spec in args.cellbench_option:
        task, _, opts = spec.partition("=")
        large_options[task] = opts.split()
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    fill_numba_cache()
    started = dt.datetime.now().isoformat(timespec="seconds")
    loads = [os.getloadavg()[0]]
    rows, runs, approx = [], [], []
    for case in cases(args, work):
        case["checksum"] = checksum(case["path"])
        large = case["n"] in args.large
        if case["n"] is None:
            import anndata as ad

            case["n"] = ad.read_h5ad(case["path"], backed="r").n_obs
        exact_values, ref_runs = {}, {}
        for task in (large_tasks if large else tasks):
            row = {"case": case["name"], "n_cells": case["n"], "task": task}
            if not args.reference_only:
                args.cellbench_options = large_options if large else {}
                variant = LARGE_VARIANTS.get(task) if large else None
                print(f"[bench] cellbench {case['name']} {task} {variant or ''}", file=sys.stderr, flush=True)
                try:
                    mine = cellbench_task(case, task, args, work, variant)
                except (RuntimeError, subprocess.CalledProcessError, OSError, ValueError) as err:
                    print(f"[bench] FAILED: {err}", file=sys.stderr, flush=True)
                    rows.append({**row, "note": f"cellbench failed: {err}"[:300], "agree": False})
                    continue
                exact_values[task] = mine["metrics"]
                loads.append(os.getloadavg()[0])
                row.update(cellbench_s=mine["wall_s"], cellbench_rss_mb=mine["peak_rss_mb"],
                           cellbench_options=mine["options"], cellbench_values=headline(mine["metrics"]))
            if case["reference"] and not args.no_reference and not large:
                print(f"[bench] reference {case['name']} {task}", file=sys.stderr, flush=True)
                ref = reference_task(case, task, args, work)
                ref_runs[task] = ref
                loads.append(os.getloadavg()[0])
                row.update(reference_s=ref["wall_s"], reference_rss_mb=ref["peak_rss_mb"],
                           reference_reused=ref["reused"], reference_load=ref.get("load"))
                if not args.reference_only:
                    ok, worst, note = compare(task, case["n"], mine["metrics"], ref["metrics"])
                    row.update(agree=ok, max_abs_diff=f"{worst:.2g}", note=note,
                               speedup=round(ref["wall_s"] / mine["wall_s"], 1))
            rows.append(row)
            print(f"[bench] {row}", file=sys.stderr, flush=True)
        if not args.reference_only and "clustering" in ref_runs and case["n"] >= 8192:
            # --knn scanpy: the reference's own (pynndescent) graph, so the reference's partition
            print(f"[bench] cellbench {case['name']} clustering knn=scanpy", file=sys.stderr, flush=True)
            m, ref = cellbench_task(case, "clustering", args, work, "knn=scanpy"), ref_runs["clustering"]
            ok, worst, note = compare("clustering", case["n"], m["metrics"], ref["metrics"])
            rows.append({"case": case["name"], "n_cells": case["n"], "task": "clustering (--knn scanpy)",
                         "cellbench_s": m["wall_s"], "cellbench_rss_mb": m["peak_rss_mb"],
                         "cellbench_options": m["options"], "cellbench_values": headline(m["metrics"]),
                         "reference_s": ref["wall_s"], "reference_rss_mb": ref["peak_rss_mb"],
                         "reference_reused": ref["reused"], "reference_load": ref.get("load"), "agree": ok,
                         "max_abs_diff": f"{worst:.2g}", "note": note, "speedup": round(ref["wall_s"] / m["wall_s"], 1)})
        if not args.reference_only and case["n"] in args.approx_sizes:
            # the approximations used at --large sizes, measured against the exact values here
            for task, variant in LARGE_VARIANTS.items():
                if task not in exact_values:
                    continue
                print(f"[bench] cellbench {case['name']} {task} {variant}", file=sys.stderr, flush=True)
                m = cellbench_task(case, task, args, work, variant if variant != "knn=auto" else "knn=ivf")
                diffs = approx_diffs(m["metrics"], exact_values[task])
                approx.append({"case": case["name"], "n_cells": case["n"], "task": task, "variant": m["options"],
                               "wall_s": m["wall_s"], "peak_rss_mb": m["peak_rss_mb"],
                               "values": headline(m["metrics"]), "diffs": diffs})
        if not args.reference_only and case["n"] in args.run_sizes:
            print(f"[bench] cellbench run {case['name']}", file=sys.stderr, flush=True)
            try:
                m = cellbench_all(case, args, work)
            except (RuntimeError, subprocess.CalledProcessError, OSError) as err:
                print(f"[bench] FAILED: {err}", file=sys.stderr, flush=True)
                m = {"wall_s": "failed", "peak_rss_mb": "-"}
            runs.append({"case": case["name"], "n_cells": case["n"], **{k: m[k] for k in ("wall_s", "peak_rss_mb")}})
    if args.reference_only:
        return 0
    path = write_report(rows, runs, approx, args, started, loads, Path(args.results))
    print(path.read_text())
    return 0 if all(r.get("agree", True) is not False for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
