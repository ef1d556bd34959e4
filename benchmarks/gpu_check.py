"""The GPU path against the CPU path in one call: the same answers, and the time of each.

`python benchmarks/gpu_check.py [--device cuda] [--sizes 100000,1000000] [--cpu-sizes 100000]
[--cases knn200,knn15,silhouette] [--out FILE]` runs, on the seeded synthetic embedding of
run_benchmark.py at each size:
- knn200: the exact neighbour sets of integration (k = 200, the cell itself included),
- knn15: the clustering graph's neighbours with distances (k = 15),
- silhouette: the silhouette's per-label distance sums (the all-pairs half of the embedding task),
on the CPU (numpy, --threads) and on --device (`cellbench.device`), and checks that the neighbours
are identical and the silhouette score within 1e-6 (TASKS.md: 1e-5). Sizes not in --cpu-sizes run on
the device only (at 1M the CPU's silhouette took 165 s on 16 Xeon cores, its searches longer). Each
case runs once on 4,096 cells first, so no time holds CUDA's start-up or numba's compilation. The
Markdown table (card, torch and CUDA versions, the CPU model, peak GPU memory per case) is printed
and rewritten after every case to --out (default benchmarks/results/gpu_<stamp>.md), so a run cut
short by a lease keeps what it measured. `--device torch-cpu` runs the torch code on the CPU (a smoke
test where there is no GPU; its times mean nothing). Results: benchmarks/results/gpu_20261127T0637.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run_benchmark as rb


def timed(fn, *args, **kwargs):
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - start


def search(X, k, with_distance):
    from cellbench.neighbors import knn

    return knn(X, k, include_self=True, return_distance=with_distance)


def silhouette(X, labels):
    from cellbench.metrics.silhouette_label import silhouette_samples

    return silhouette_samples(X, labels)


CASES = {
    "knn200": ("neighbours k=200 (integration)", search, lambda X, labels: (X, 200, False)),
    "knn15": ("neighbours k=15 with distances (clustering graph)", search, lambda X, labels: (X, 15, True)),
    "silhouette": ("silhouette widths (embedding)", silhouette, lambda X, labels: (X, labels)),
}


def card(device_name: str) -> str:
    import torch

    if device_name.startswith("cuda"):
        index = torch.device(device_name).index or 0
        props = torch.cuda.get_device_properties(index)
        return (f"{props.name} ({props.total_memory / 2**30:.0f} GiB, {props.multi_processor_count} SMs), "
                f"torch {torch.__version__}, CUDA {torch.version.cuda}")
    return f"torch {torch.__version__} on the CPU (torch-cpu: a smoke test, not a GPU)"


def same_answer(name: str, on_device, on_cpu) -> str:
    """'yes (...)' when the device's answer is the CPU's: neighbours identical, silhouette score within 1e-6."""
    if name.startswith("silhouette"):
        score_diff = abs(float(np.mean(on_device)) - float(np.mean(on_cpu)))
        width_diff = float(np.max(np.abs(on_device - on_cpu)))
        return (f"{'yes' if score_diff <= 1e-6 else 'NO'} (score diff {score_diff:.1e}, "
                f"widths at most {width_diff:.1e})")
    equal = all(np.array_equal(a, b) for a, b in zip(on_device, on_cpu) if a is not None)
    return "yes (identical)" if equal else "NO"


class PeakDeviceMemory:
    """Peak memory torch's allocator held on a CUDA device during the enclosed work (None elsewhere)."""

    def __init__(self, torch_name: str):
        self.cuda = torch_name.startswith("cuda")
        self.torch_name, self.gib = torch_name, None

    def __enter__(self):
        if self.cuda:
            import torch

            torch.cuda.synchronize(self.torch_name)
            torch.cuda.reset_peak_memory_stats(self.torch_name)
        return self

    def __exit__(self, *exc):
        if self.cuda:
            import torch

            torch.cuda.synchronize(self.torch_name)
            self.gib = torch.cuda.max_memory_allocated(self.torch_name) / 2**30


def warm_up(device_name: str, cases: list[str]) -> None:
    """Run each case once on 4,096 cells on both paths, so that neither time holds the CUDA context's
    creation, cuBLAS's handles or numba's compilation (each is paid once per process)."""
    from cellbench import device

    X, labels, _ = rb.synthetic(4096, seed=1)
    X = X.astype(np.float64)
    for case in cases:
        _, fn, make_args = CASES[case]
        with device.using(device_name):
            fn(*make_args(X, labels))
        fn(*make_args(X, labels))


def table(head: str, rows: list[tuple]) -> str:
    lines = [head, "", "| cells | what | CPU | device | speedup | device peak memory | same answer |",
             "|---:|---|---:|---:|---:|---:|---|"]
    for n, name, t_cpu, t_device, gib, same in rows:
        cpu = f"{t_cpu:.1f} s" if t_cpu is not None else "-"
        speed = f"{t_cpu / t_device:.1f}x" if t_cpu is not None else "-"
        memory = f"{gib:.1f} GiB" if gib is not None else "-"
        lines.append(f"| {n:,} | {name} | {cpu} | {t_device:.2f} s | {speed} | {memory} | {same} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--device", default="cuda")
    p.add_argument("--sizes", default="100000,1000000")
    p.add_argument("--cpu-sizes", default="100000", help="sizes where the CPU path runs too")
    p.add_argument("--cases", default=",".join(CASES), help=f"which of {', '.join(CASES)}, in this order")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--results", default=str(rb.REPO / "benchmarks/results"))
    p.add_argument("--out", default=None, help="the table's file (default: RESULTS/gpu_<stamp>.md)")
    args = p.parse_args()
    from threadpoolctl import threadpool_limits

    from cellbench import device

    sizes = [int(s) for s in args.sizes.split(",") if s]
    cpu_sizes = {int(s) for s in args.cpu_sizes.split(",") if s}
    cases = [c for c in args.cases.split(",") if c]
    unknown = [c for c in cases if c not in CASES]
    if unknown:
        p.error(f"--cases: unknown {', '.join(unknown)} (known: {', '.join(CASES)})")
    torch_name = device.torch_device(args.device)
    stamp = dt.datetime.now().strftime("%Y%m%dT%H%M")
    out = Path(args.out) if args.out else Path(args.results) / f"gpu_{stamp}.md"
    head = (f"GPU path check of {dt.datetime.now().isoformat(timespec='seconds')} (benchmarks/gpu_check.py). "
            f"Device {args.device}: {card(torch_name)}. CPU path: numpy on {rb.machine()}, "
            f"{args.threads or 'all'} BLAS threads. Each case warmed up once on 4,096 cells first.")
    rows, failures = [], 0
    with threadpool_limits(limits=args.threads):
        warm_up(args.device, cases)
        for n in sizes:
            X, labels, _ = rb.synthetic(n)
            X = X.astype(np.float64)
            for case in cases:
                name, fn, make_args = CASES[case]
                print(f"[gpu_check] {n} {name} on {args.device}", file=sys.stderr)
                with device.using(args.device), PeakDeviceMemory(torch_name) as peak:
                    on_device, t_device = timed(fn, *make_args(X, labels))
                t_cpu, same = None, "not compared"
                if n in cpu_sizes:
                    print(f"[gpu_check] {n} {name} on the CPU", file=sys.stderr)
                    on_cpu, t_cpu = timed(fn, *make_args(X, labels))
                    same = same_answer(name, on_device, on_cpu)
                    failures += not same.startswith("yes")
                rows.append((n, name, t_cpu, t_device, peak.gib, same))
                text = table(head, rows)  # rewritten after each case: a run cut short keeps what it measured
                out.write_text(text)
    print(text)
    print(f"[gpu_check] wrote {out}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
