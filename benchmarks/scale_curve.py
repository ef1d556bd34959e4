"""Scale curve and floor ratios: each task's time and memory from 10k to 1M cells, against the machine.

`python benchmarks/scale_curve.py` (see --help) writes benchmarks/results/scale_<stamp>.md/.tsv/.png
and scale_latest.md (the README's tables):
1. The host: CPU, kernel, and for both tools (cellbench's environment and the reference's,
   .parity-venv, when it exists) the BLAS library, its version, the core type OpenBLAS chose and its
   thread count (threadpoolctl). Where the host pins OPENBLAS_CORETYPE or OPENBLAS_L2_SIZE, every
   cellbench task and the floor run twice, pinned and with those variables removed.
2. The floor at each size: the bare float32 GEMM of half the n x n products on the same threads
   (benchmarks/gemm_floor.py), and the same products through cellbench's own register tiles, which
   make them faster than BLAS (the "register floor": what the search's products cost at least).
3. Each task at each size in its own process (seeded synthetic embedding of run_benchmark.py, the
   exact defaults), through benchmarks/phases.py: whole-process wall time and peak RSS, plus the
   time of each phase (neighbour search, Leiden, silhouette, classifier folds). numba's disk cache
   is filled first (`run_benchmark.fill_numba_cache`), so no row pays the compiling.
4. Ratios: integration's process and its search, clustering's graph search, and the silhouette, each
   over the floor; clustering's process over (floor + its Leiden). A fitted exponent per task (least
   squares of log time on log cells over the sizes from 30k on) and a log-log plot.
5. --repeats N: the floor and each task run N times at each size, interleaved (floor, tasks, floor,
   tasks, ...), and each row gives the median of its runs (each phase's median, the floor's median),
   with the range of each run's ratio to the floor of its own round: on a shared host whose
   neighbours load it, one run can move by 10 %.
6. --reference-sizes: the reference (cz-benchmarks 0.15.1) on the same inputs in the same run, and
   whether every value agrees within TASKS.md (run_benchmark.compare).
Absolute times move between hosts (the same 2-core instance type has measured 1.5-3x apart); the
ratios to the floor, measured in the same run, are what to compare.
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import json
import math
import os
import subprocess
import sys
from pathlib import Path
from statistics import median

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run_benchmark as rb
from gemm_floor import FULL_CELLS as FLOOR_FULL_CELLS

REPO = rb.REPO
BENCH = Path(__file__).resolve().parent
PIN_VARIABLES = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
DEFAULT_SIZES = "10000,30000,100000,300000,1000000"
TSV_COLUMNS = ["variant", "task", "n_cells", "wall_s", "peak_rss_mb", "floor_s", "ratios", "phases", "values", "sampled",
               "run", "spread"]


def blas_of(python: str, env: dict) -> list[dict]:
    """BLAS libraries a Python environment loads with numpy (threadpoolctl), as seen from `python`."""
    code = ("import json, numpy, threadpoolctl; print(json.dumps([{k: i.get(k) for k in ('internal_api', "
            "'version', 'architecture', 'num_threads', 'threading_layer')} for i in threadpoolctl.threadpool_info() "
            "if i.get('user_api') == 'blas']))")
    try:
        out = subprocess.run([python, "-c", code], env=env, capture_output=True, text=True, check=True, timeout=120)
        return json.loads(out.stdout)
    except (subprocess.SubprocessError, OSError, json.JSONDecodeError) as err:
        return [{"error": str(err).splitlines()[0][:120]}]


def pin_variants() -> dict[str, dict]:
    """{variant: environment}: "host" as is; plus "unpinned" without the pin variables if the host sets any."""
    host = dict(os.environ)
    variants = {"host": host}
    if any(v in host for v in PIN_VARIABLES):
        variants["unpinned"] = {k: v for k, v in host.items() if k not in PIN_VARIABLES}
    return variants


def floor(n: int, threads: int, env: dict, work: Path) -> dict:
    log = work / f"floor_{n}.log"
    cmd = [sys.executable, str(BENCH / "gemm_floor.py"), str(n), "--threads", str(threads)]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
    log.write_text(out.stderr)
    return json.loads(out.stdout.strip().splitlines()[-1])


def synthetic_case(n: int, path: Path) -> dict:
    """The seeded synthetic input of n cells as a run_benchmark case (obsm X_emb, label, batch)."""
    return {"name": f"synthetic_{n}", "path": path, "obsm": "X_emb", "label": "label", "batch": "batch"}


def run_task(task: str, path: Path, n: int, threads: int, env: dict, work: Path, variant: str,
             knn: str | None = None) -> dict:
    """One task in its own process with its phases timed: wall, peak RSS, phases, metrics.
    knn: None for the default (exact) search, else the CELLBENCH_KNN mode (e.g. scanpy)."""
    out = work / "scale" / f"{n}__{task}__{variant}{'__' + knn if knn else ''}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    phases = out.with_suffix(".phases.json")
    cmd = [sys.executable, str(BENCH / "phases.py"), str(phases), "--",
           *rb.task_args(task, synthetic_case(n, path), threads, out)]
    env = {k: v for k, v in env.items() if k != "CELLBENCH_KNN"}
    if knn:
        env["CELLBENCH_KNN"] = knn
    m = rb.run_cmd(cmd, log=out.with_suffix(".log"), env=env)
    m["phases"] = json.loads(phases.read_text())
    m["metrics"] = json.loads(out.read_text())["metrics"]
    return m


@functools.cache
def checksum(path: Path) -> str:
    """The input's checksum (the reference cache's key), read once per file and run."""
    return rb.checksum(path)


def beside_reference(task: str, path: Path, n: int, mine: dict, args, env: dict, work: Path,
                     variant: str = "host") -> list[dict]:
    """The reference on the same input (run_benchmark.reference_task), compared with cellbench's values.

    Label prediction's reference runs on one BLAS thread (as in the parity tests): with two, its lr
    scores move by ~1e-8 (lbfgs sums in BLAS), above TASKS.md's 1e-9; cellbench's lr always runs on one.
    Clustering from SCANPY_EXACT_LIMIT (8192) cells on also runs `--knn scanpy`: the reference's own approximate graph,
    on which the partition must be the same; the default exact graph is a different graph (README).
    """
    from cellbench.neighbors import SCANPY_EXACT_LIMIT

    case = {**synthetic_case(n, path), "checksum": checksum(path)}
    print(f"[scale] reference {task} {n}", file=sys.stderr, flush=True)
    # label prediction's values are compared to the bit: its lbfgs on one BLAS thread, as cellbench's
    ref = rb.reference_task(case, task, args, work, one_blas_thread=task == "label_prediction", env=env,
                            tag="" if variant == "host" else f"__{variant}")
    runs = [(task, mine)]
    if task == "clustering" and n >= SCANPY_EXACT_LIMIT:
        runs.append(("clustering (--knn scanpy)", run_task(task, path, n, args.threads, env, work, variant, "scanpy")))
    out = []
    for name, m in runs:
        ok, worst, note = rb.compare(task, n, m["metrics"], ref["metrics"])
        if name == "clustering" and not ok:
            note = "another graph (exact kNN; the reference's is approximate): " + note
        label = name + ("" if variant == "host" else f" ({variant})")
        out.append({"n_cells": n, "task": label, "cellbench_s": m["wall_s"], "reference_s": ref["wall_s"],
                    "agree": ok, "max_abs_diff": f"{worst:.2g}", "note": note, "expected": name != "clustering",
                    "reused": ref.get("reused"), "when": ref.get("when")})
    return out


def fit_exponent(points: list[tuple[int, float]]) -> float | None:
    """Slope of log(seconds) on log(cells), least squares; None with fewer than 2 points."""
    pts = [(math.log(n), math.log(s)) for n, s in points if s and s > 0]
    if len(pts) < 2:
        return None
    mx = sum(x for x, _ in pts) / len(pts)
    my = sum(y for _, y in pts) / len(pts)
    sxx = sum((x - mx) ** 2 for x, _ in pts)
    return sum((x - mx) * (y - my) for x, y in pts) / sxx if sxx else None


def ratios(task: str, m: dict, floor_s: float, register_s: float | None = None) -> dict:
    """The floor ratios the speed targets are stated in (None where the task has no such phase); with
    register_s (the same products by cellbench's register tiles), each search over that floor too."""
    ph = m["phases"]
    if task == "embedding":
        return {"process/floor": m["wall_s"] / floor_s, "silhouette/floor": ph.get("silhouette", 0) / floor_s}
    search = {"integration": "neighbour_search", "clustering": "graph_search"}.get(task)
    if search is None:
        return {}
    out = {"process/floor": m["wall_s"] / floor_s, "search/floor": ph.get(search, 0) / floor_s}
    if task == "clustering":
        out["process/(floor+leiden)"] = m["wall_s"] / (floor_s + ph.get("leiden", 0.0))
    if register_s:
        out["search/register floor"] = ph.get(search, 0) / register_s
    return out


def median_phases(runs: list[dict]) -> dict:
    """Each phase's median over the runs (a phase missing from a run counts as 0 there)."""
    keys = list(dict.fromkeys(k for r in runs for k in r))
    return {k: median([r.get(k, 0.0) for r in runs]) for k in keys}


def combined_floor(floors: list[dict]) -> dict:
    """The floor rounds as one: the medians of floor_s, registers_s and each piece size's time."""
    return {"floor_s": median([f["floor_s"] for f in floors]),
            "registers_s": median([f["registers_s"] for f in floors]),
            "by_piece_rows": median_phases([f["by_piece_rows"] for f in floors]),
            "sampled": floors[0]["sampled"], "runs": [f["floor_s"] for f in floors]}


def combined_task(task: str, runs: list[dict], floors: list[dict]) -> dict:
    """A task's runs as one: median wall and phases, the largest peak, the first run's metrics (every run's
    must be the same: the tasks are deterministic), and the range of each run's ratios to its own round's floor."""
    values = [rb.headline(m["metrics"]) for m in runs]
    if any(v != values[0] for v in values):
        raise SystemExit(f"{task}: the repeated runs gave different values: {values}")
    fl = combined_floor(floors)
    m = {"wall_s": median([r["wall_s"] for r in runs]), "peak_rss_mb": max(r["peak_rss_mb"] for r in runs),
         "phases": median_phases([r["phases"] for r in runs]), "metrics": runs[0]["metrics"]}
    each = [ratios(task, r, f["floor_s"], f["registers_s"]) for r, f in zip(runs, floors)]
    m["ratios"] = ratios(task, m, fl["floor_s"], fl["registers_s"])
    m["spread"] = {k: [min(e[k] for e in each), max(e[k] for e in each)] for k in m["ratios"]} if len(runs) > 1 else {}
    m["runs_wall_s"] = [r["wall_s"] for r in runs]
    return m


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_t, ax_m) = plt.subplots(1, 2, figsize=(11, 4.2))
    tasks = sorted({r["task"] for r in rows if r["variant"] == "host"} - {"floor"})
    for task in tasks + ["floor"]:
        pts = sorted((r["n_cells"], r["wall_s"], r["peak_rss_mb"]) for r in rows
                     if r["task"] == task and r["variant"] == "host")
        if not pts:
            continue
        style = {"linestyle": "--", "color": "grey"} if task == "floor" else {"marker": "o"}
        label = "floor (GEMM of half the n x n products)" if task == "floor" else task
        ax_t.plot([p[0] for p in pts], [p[1] for p in pts], label=label, **style)
        if task != "floor":
            ax_m.plot([p[0] for p in pts], [p[2] / 1024 for p in pts], marker="o", label=task)
    for ax, ylabel in ((ax_t, "wall time (s), whole process"), (ax_m, "peak RSS (GiB)")):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("cells (64-d embedding)")
        ax.set_ylabel(ylabel)
        ax.grid(True, which="both", alpha=0.3)
    ax_m.axhline(24, color="red", linewidth=0.8, linestyle=":")
    ax_m.text(ax_m.get_xlim()[0], 24 * 1.08, " 24 GiB", color="red", fontsize=8)
    ax_t.legend(fontsize=8)
    fig.tight_layout()
    tmp = path.with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=110)
    tmp.replace(path)


def read_rows(path: Path) -> list[dict]:
    """The rows of an earlier run's scale_<stamp>.tsv (--merge), each marked with that run's stamp."""
    lines = path.read_text().splitlines()
    head = lines[0].split("\t")
    rows = []
    for line in lines[1:]:
        raw = dict(zip(head, line.split("\t")))
        row = {"variant": raw["variant"], "task": raw["task"], "n_cells": int(raw["n_cells"]),
               "wall_s": float(raw["wall_s"]), "peak_rss_mb": float(raw["peak_rss_mb"] or "nan"),
               "run": raw.get("run") or path.stem}
        if raw.get("floor_s"):
            row["floor_s"] = float(raw["floor_s"])
        for key in ("ratios", "phases", "spread"):
            row[key] = json.loads(raw[key]) if raw.get(key, "").startswith("{") else {}
        row["values"] = raw.get("values", "")
        if row["task"] == "floor":
            # older TSVs lack the column: gemm_floor.py samples above its default --full-cells
            row["sampled"] = raw["sampled"] == "True" if raw.get("sampled") else row["n_cells"] > FLOOR_FULL_CELLS
        rows.append(row)
    return rows


def merged(rows: list[dict], earlier: list[Path]) -> list[dict]:
    """This run's rows plus the earlier runs' rows it does not repeat (same variant, task and size)."""
    have = {(r["variant"], r["task"], r["n_cells"]) for r in rows}
    out = list(rows)
    for path in earlier:
        for r in read_rows(path):
            key = (r["variant"], r["task"], r["n_cells"])
            if key not in have:
                have.add(key)
                out.append(r)
    return sorted(out, key=lambda r: (r["n_cells"], r["task"] != "floor", r["task"], r["variant"]))


def write_results(rows, fits, host: dict, refs: list[dict], args, started: str, loads, out_dir: Path) -> Path:
    stamp = "scale_" + started.replace(":", "").replace("-", "")[:13]
    cols = TSV_COLUMNS
    tsv = ["\t".join(cols)] + ["\t".join(json.dumps(r.get(c)) if isinstance(r.get(c), dict) else str(r.get(c, ""))
                                         for c in cols) for r in rows]
    (out_dir / f"{stamp}.tsv").write_text("\n".join(tsv) + "\n")
    plot(rows, out_dir / f"{stamp}.png")
    if not args.keep_latest:
        (out_dir / "scale_latest.png").write_bytes((out_dir / f"{stamp}.png").read_bytes())
    blas = "; ".join(f"{tool}: " + ", ".join(
        f"{b.get('internal_api')} {b.get('version')} core type {b.get('architecture')}, {b.get('num_threads')} threads"
        if "error" not in b else f"not measured ({b['error']})" for b in libs) for tool, libs in host["blas"].items())
    pins = ", ".join(f"{v}={os.environ[v]}" for v in PIN_VARIABLES if v in os.environ) or "none set"
    ran_here = any(not r.get("run") for r in rows)
    lines = [
        (f"Scale curve of {started} (benchmarks/scale_curve.py{'' if ran_here else ' --merge: no run of its own'}). "
         f"Machine: {rb.machine()}. Threads: "
         f"--threads {args.threads}. Load average (1 min) during the run: {min(loads):.2f} to {max(loads):.2f}. "
         f"Versions: {rb.versions()}."),
        "",
        f"BLAS (threadpoolctl): {blas}. Host BLAS pins ({', '.join(PIN_VARIABLES)}): {pins}"
        + ("; every row below ran pinned (host) and unpinned." if len(host["variants"]) > 1
           else "; nothing to unpin, so one variant (host)."),
        "",
        ("Floor: the bare float32 GEMM of half the n x n products (dim 66) on the same threads "
         "(benchmarks/gemm_floor.py; 'sampled' = a seeded subset of row blocks timed and scaled); "
         "'registers': the same products by cellbench's own register tiles (no candidate written), "
         "the floor of the products as the searches make them. "
         "Ratios are whole-process times (imports and reading included) or one phase's time over the floor, "
         "measured in the same run: the figures to compare between hosts."
         + (" Rows with (a-b) after a ratio ran in rounds (--repeats: floor, then every task, interleaved): "
            "their times and phases are the medians of the rounds, the ratio is of those medians, and (a-b) is "
            "the range of each round's ratio to its own round's floor." if any(r.get("spread") for r in rows)
            else "")),
        "",
        "| cells | floor | embedding | integration | clustering | label prediction |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    earlier = sorted({r["run"] for r in rows if r.get("run")})
    if earlier:
        lines[-2:-2] = [("Rows from earlier runs on this host (--merge), each named by its run's file (a size's floor "
                         "is the first run's; each ratio uses its own run's floor, shown with it): " + "; ".join(
            f"[{run}]({run}.md): " + ", ".join(f"{r['task']} {r['n_cells']:,}" for r in rows
                                               if r.get("run") == run and r["task"] != "floor")
            for run in earlier) + ". The load, BLAS and versions above are this run's; the earlier runs "
            "record their own."), ""]
    by = {(r["variant"], r["task"], r["n_cells"]): r for r in rows}
    sizes = sorted({r["n_cells"] for r in rows})
    for variant in host["variants"]:
        for n in sizes:
            fl = by.get((variant, "floor", n))
            cells = [f"{n:,}" + (f" ({variant})" if len(host["variants"]) > 1 else "")]
            registers = (fl or {}).get("phases", {}).get("registers")
            cells.append(f"{fl['wall_s']:.2f} s" + (" (sampled)" if fl.get("sampled") else "")
                         + (f"; registers {registers:.2f} s" if registers else "") if fl else "-")
            for task in ("embedding", "integration", "clustering", "label_prediction"):
                r = by.get((variant, task, n))
                cells.append("-" if not r else f"{r['wall_s']:.1f} s, {r['peak_rss_mb'] / 1024:.2f} GiB")
            lines.append("| " + " | ".join(cells) + " |")
    lines += ["", ("Ratios to the floor (targets: integration and the clustering search within 1.3x of the floor; "
                   "clustering within 1.5x of floor + Leiden), and each task's phases:"), "",
              "| cells | variant | task | its floor | ratios | phases (s) |", "|---:|---|---|---:|---|---|"]
    for r in rows:
        if r.get("ratios"):
            spread = r.get("spread") or {}
            ratio = "; ".join(f"{name} **{value:.2f}x**" + (" ({:.2f}-{:.2f})".format(*spread[name]) if name in spread else "")
                              for name, value in r["ratios"].items())
            phases = ", ".join(f"{k} {v:.2f}" for k, v in r["phases"].items())
            its_floor = f"{r['floor_s']:.1f} s" if r.get("floor_s") else "-"
            lines.append(f"| {r['n_cells']:,} | {r['variant']} | {r['task']} | {its_floor} | {ratio} | {phases} |")
    lines += ["", ("Fitted exponent (time ~ cells^b, least squares over the sizes from 30k on; 2 is the n^2 of an "
                   "all-pairs search):"), "", "| task | variant | b | sizes |", "|---|---|---:|---|"]
    for (variant, task), (b, used) in sorted(fits.items()):
        lines.append(f"| {task} | {variant} | {'-' if b is None else f'{b:.2f}'} | {', '.join(f'{n:,}' for n in used)} |")
    lp = [r for r in rows if r["task"] == "label_prediction"]
    if lp:
        lines += ["", "Label prediction, seconds per classifier over its 5 folds (phase `fold_*`):", "",
                  "| cells | variant | lr | knn | rf | process |", "|---:|---|---:|---:|---:|---:|"]
        for r in lp:
            ph = r["phases"]
            lines.append(f"| {r['n_cells']:,} | {r['variant']} | {ph.get('fold_lr', 0):.1f} | {ph.get('fold_knn', 0):.1f}"
                         f" | {ph.get('fold_rf', 0):.1f} | {r['wall_s']:.1f} |")
    if refs:
        lines += ["", ("Beside the reference (cz-benchmarks 0.15.1, its own environment and defaults), same inputs, "
                       "same run:"), "", "| cells | task | cellbench | cz-benchmarks | speedup | values agree (TASKS.md) |",
                  "|---:|---|---:|---:|---:|---|"]
        for r in refs:
            agree = "yes" if r["agree"] else (f"NO: {r['note']}" if r["expected"] else f"differs, {r['note']}")
            reused = f" (r: {r['when']})" if r.get("reused") else ""
            lines.append(f"| {r['n_cells']:,} | {r['task']} | {r['cellbench_s']:.1f} s | {r['reference_s']:.1f} s{reused} | "
                         f"{r['reference_s'] / r['cellbench_s']:.1f}x | {agree} (max diff {r['max_abs_diff']}) |")
    if any(r.get("reused") for r in refs):
        lines += ["", ("(r: time): the reference's row reused from its earlier run on the same input file (same "
                       "checksum, same machine) at that time (--reuse-reference).")]
    lines += ["", f"Plot: [{stamp}.png]({stamp}.png)."]
    text = "\n".join(lines) + "\n"
    (out_dir / f"{stamp}.md").write_text(text)
    if not args.keep_latest:
        (out_dir / "scale_latest.md").write_text(text)
    return out_dir / f"{stamp}.md"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sizes", default=DEFAULT_SIZES)
    p.add_argument("--tasks", default=",".join(rb.TASKS))
    p.add_argument("--max-cells", action="append", default=[],
                   help="TASK=N: run TASK only up to N cells (e.g. label_prediction=100000; it is hours at 1M)")
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    p.add_argument("--reference-sizes", default="", help="sizes where the reference also runs, e.g. 100000")
    p.add_argument("--repeats", type=int, default=1,
                   help="runs of the floor and of each task per size, interleaved; rows give their medians")
    p.add_argument("--reuse-reference", action="store_true")
    p.add_argument("--keep-latest", action="store_true",
                   help="write only scale_<stamp>.*, not scale_latest.* (e.g. one task at one more size)")
    p.add_argument("--merge", action="append", default=[], metavar="SCALE_TSV",
                   help="rows of an earlier run on this host (benchmarks/results/scale_<stamp>.tsv) to put in the "
                   "tables, fits and plot beside this run's (which win for the same task and size); with "
                   "--sizes '' nothing runs and the tables are written from the merged rows")
    p.add_argument("--workdir", default=str(REPO / "benchmarks/.work"))
    p.add_argument("--results", default=str(REPO / "benchmarks/results"))
    args = p.parse_args(argv)
    sizes = [int(x) for x in args.sizes.split(",") if x.strip()]
    tasks = [t for t in args.tasks.split(",") if t]
    limit = {t: int(v) for t, _, v in (s.partition("=") for s in args.max_cells)}
    ref_sizes = {int(x) for x in args.reference_sizes.split(",") if x.strip()}
    work, out_dir = Path(args.workdir), Path(args.results)
    work.mkdir(parents=True, exist_ok=True)
    out_dir.mkdir(parents=True, exist_ok=True)
    started = dt.datetime.now().isoformat(timespec="seconds")
    variants = pin_variants()
    host = {"variants": list(variants), "blas": {}}
    for variant, env in variants.items():
        host["blas"][f"cellbench ({variant})"] = blas_of(sys.executable, env)
        if (REPO / ".parity-venv").exists():
            host["blas"][f"cz-benchmarks ({variant})"] = blas_of(str(rb.parity_python()), env)
    loads, rows, refs, fits = [os.getloadavg()[0]], [], [], {}
    if sizes:
        rb.fill_numba_cache()
    for n in sizes:
        path = work / f"synthetic_{n}.h5ad"
        if not path.exists():
            print(f"[scale] writing {path}", file=sys.stderr, flush=True)
            rb.write_synthetic(path, n)
        for variant, env in variants.items():
            floors, runs = [], {}
            for round_ in range(args.repeats):  # interleaved: a slow spell of the host hits floor and tasks alike
                print(f"[scale] floor {n} ({variant}), round {round_ + 1} of {args.repeats}", file=sys.stderr, flush=True)
                floors.append(floor(n, args.threads, env, work))
                for task in tasks:
                    if n > limit.get(task, n):
                        continue
                    print(f"[scale] {task} {n} ({variant}), round {round_ + 1}", file=sys.stderr, flush=True)
                    runs.setdefault(task, []).append(run_task(task, path, n, args.threads, env, work, variant))
                    loads.append(os.getloadavg()[0])
            fl = combined_floor(floors)
            rows.append({"variant": variant, "task": "floor", "n_cells": n, "wall_s": fl["floor_s"],
                         "peak_rss_mb": float("nan"), "sampled": fl["sampled"],
                         "phases": {**fl["by_piece_rows"], "registers": fl["registers_s"]},
                         "spread": {"floor_s": [min(fl["runs"]), max(fl["runs"])]} if args.repeats > 1 else {}})
            for task, task_runs in runs.items():
                m = combined_task(task, task_runs, floors)
                rows.append({"variant": variant, "task": task, "n_cells": n, "wall_s": m["wall_s"],
                             "peak_rss_mb": m["peak_rss_mb"], "floor_s": fl["floor_s"], "phases": m["phases"],
                             "ratios": m["ratios"], "spread": m["spread"], "values": rb.headline(m["metrics"])})
                print(f"[scale] {rows[-1]}", file=sys.stderr, flush=True)
                if n in ref_sizes:  # both tools in each BLAS variant (pinned and unpinned where pinned)
                    refs += beside_reference(task, path, n, m, args, env, work, variant)
    rows = merged(rows, [Path(m) for m in args.merge])
    tasks = sorted({r["task"] for r in rows} - {"floor"})
    for variant in variants:
        for task in tasks + ["floor"]:
            used = sorted((r["n_cells"], r["wall_s"]) for r in rows
                          if r["task"] == task and r["variant"] == variant and r["n_cells"] >= 30_000)
            fits[(variant, task)] = (fit_exponent(used), [n for n, _ in used])
    path = write_results(rows, fits, host, refs, args, started, loads, out_dir)
    print(path.read_text())
    return 0 if all(r["agree"] or not r["expected"] for r in refs) else 1


if __name__ == "__main__":
    sys.exit(main())
