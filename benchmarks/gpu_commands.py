"""Whole `cellbench` commands on the GPU path against the CPU path: process time, memory, the same values.

`python benchmarks/gpu_commands.py [--device cuda] [--sizes 100000,1000000] [--cpu-sizes 100000]
[--tasks embedding,integration,clustering] [--threads N] [--work DIR] [--out FILE]` writes the seeded
synthetic embedding of run_benchmark.py at each size and runs each task as its own process, as a user
would: `cellbench TASK ... --threads N` (the CPU path) and the same with `--device DEVICE`. Where
`benchmarks/gpu_check.py` times the searches alone in one warm process, this times what a user waits
for: imports, reading, CUDA's start-up, the search, Leiden and the bootstrap intervals. The table
holds each process's wall time and peak RSS, the largest difference between the two paths' metric
values (TASKS.md's tolerances are 1e-5 and more; the neighbours are identical, so every value but the
silhouettes' should be equal), and the device each result recorded (`versions.device`). It is
rewritten after every command, so a run cut short keeps what it measured. The commands run through
the checkout's `bin/cellbench` launcher, so no install is needed (on the lent GPU machine, the missing
packages travel as wheels). Results: benchmarks/results/gpu_commands_<stamp>.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run_benchmark as rb

TASKS = ("embedding", "integration", "clustering")
#: largest |CPU - device| difference of any metric value counted as the same answer (TASKS.md: >= 1e-5)
SAME_VALUES = 1e-6


def case_of(work: Path, n: int) -> dict:
    """run_benchmark's synthetic case at n cells (its h5ad written once into `work`)."""
    path = work / f"synthetic_{n}.h5ad"
    if not path.exists():
        print(f"[gpu_commands] writing {path}", file=sys.stderr, flush=True)
        rb.write_synthetic(path, n)
    return {"name": f"synthetic_{n}", "path": path, "obsm": "X_emb", "label": "label", "batch": "batch", "n": n}


def run_task(case: dict, task: str, threads: int, device_name: str | None, work: Path) -> dict:
    """One command in its own process: wall, peak RSS, the metrics and the device it recorded."""
    tag = device_name.replace(":", "") if device_name else "cpu"
    out = work / f"{case['name']}__{task}__{tag}.json"
    cmd = [sys.executable, str(rb.REPO / "bin" / "cellbench"), *rb.task_args(task, case, threads, out)]
    if device_name:
        cmd += ["--device", device_name]
    measured = rb.run_cmd(cmd, log=out.with_suffix(".log"), env=dict(os.environ))
    result = json.loads(out.read_text())
    measured["metrics"] = result["metrics"]
    measured["device"] = result["versions"].get("device", "-")
    return measured


def largest_difference(a: list[dict], b: list[dict]) -> float:
    """max |a - b| over the metrics both report (matched by type and params); inf when none match."""
    def key(m):
        return m["metric_type"], json.dumps(m.get("params") or {}, sort_keys=True)

    values = {key(m): m["value"] for m in a}
    diffs = [abs(float(values[key(m)]) - float(m["value"])) for m in b if key(m) in values]
    return max(diffs) if diffs else float("inf")


def table(head: str, rows: list[dict]) -> str:
    lines = [head, "", "| cells | task | CPU | device | speedup | largest value difference | device recorded |",
             "|---:|---|---:|---:|---:|---|---|"]
    for row in rows:
        on, cpu = row["device"], row.get("cpu")
        cpu_text = f"{cpu['wall_s']:.1f} s, {cpu['peak_rss_mb'] / 1024:.2f} GiB" if cpu else "-"
        speed = f"{cpu['wall_s'] / on['wall_s']:.1f}x" if cpu else "-"
        if cpu:
            diff = largest_difference(on["metrics"], cpu["metrics"])
            same = f"{'yes' if diff <= SAME_VALUES else 'NO'} ({diff:.1e})"
        else:
            same = "not compared"
        recorded = on["device"].replace("|", "/")
        lines.append(f"| {row['n']:,} | {row['task']} | {cpu_text} | {on['wall_s']:.1f} s, "
                     f"{on['peak_rss_mb'] / 1024:.2f} GiB | {speed} | {same} | {recorded} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--device", default="cuda")
    p.add_argument("--sizes", default="100000,1000000")
    p.add_argument("--cpu-sizes", default="100000", help="sizes where the CPU path runs too")
    p.add_argument("--tasks", default=",".join(TASKS), help=f"which of {', '.join(TASKS)}, in this order")
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--work", default=None, help="folder for the inputs and results (default: a temporary one)")
    p.add_argument("--results", default=str(rb.REPO / "benchmarks/results"))
    p.add_argument("--out", default=None, help="the table's file (default: RESULTS/gpu_commands_<stamp>.md)")
    args = p.parse_args(argv)
    tasks = [t for t in args.tasks.split(",") if t]
    unknown = [t for t in tasks if t not in TASKS]
    if unknown:
        p.error(f"--tasks: unknown {', '.join(unknown)} (known: {', '.join(TASKS)})")
    import tempfile

    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="gpu_commands_"))
    work.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now().strftime("%Y%m%dT%H%M")
    out = Path(args.out) if args.out else Path(args.results) / f"gpu_commands_{stamp}.md"
    head = (f"Whole commands of {dt.datetime.now().isoformat(timespec='seconds')} (benchmarks/gpu_commands.py). "
            f"Host: {rb.machine()}. Each task is one `cellbench` process (imports, reading, CUDA start-up "
            f"and the bootstrap intervals included) with --threads {args.threads}; device = the same command "
            f"with --device {args.device}. Times: process wall and peak RSS.")
    rows, failures = [], 0
    for n in [int(s) for s in args.sizes.split(",") if s]:
        case = case_of(work, n)
        for task in tasks:
            print(f"[gpu_commands] {n} {task} on {args.device}", file=sys.stderr, flush=True)
            row = {"n": n, "task": task, "device": run_task(case, task, args.threads, args.device, work)}
            if n in {int(s) for s in args.cpu_sizes.split(",") if s}:
                print(f"[gpu_commands] {n} {task} on the CPU", file=sys.stderr, flush=True)
                row["cpu"] = run_task(case, task, args.threads, None, work)
                failures += largest_difference(row["device"]["metrics"], row["cpu"]["metrics"]) > SAME_VALUES
            rows.append(row)
            text = table(head, rows)  # rewritten after each command: a run cut short keeps what it measured
            out.write_text(text)
    print(text)
    print(f"[gpu_commands] wrote {out}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
