"""The GPU path against the CPU path in one call: the same answers, and the time of each.

`python benchmarks/gpu_check.py [--device cuda] [--sizes 100000,1000000] [--cpu-sizes 100000]`
runs, on the seeded synthetic embedding of run_benchmark.py at each size:
- the exact neighbour sets of integration (k = 200, the cell itself included) and the clustering
  graph's neighbours with distances (k = 15),
- the silhouette's per-label distance sums (the all-pairs half of the embedding task),
on the CPU (numpy, --threads) and on --device (`cellbench.device`), and checks that the neighbours
are identical and the silhouette score within 1e-6 (TASKS.md: 1e-5). Sizes not in --cpu-sizes run on the device
only (1M on the CPU takes tens of minutes). Prints a Markdown table and writes it with the card's
name, torch and CUDA versions to benchmarks/results/gpu_<stamp>.md. `--device torch-cpu` runs the
torch code on the CPU (a smoke test where there is no GPU; its times mean nothing).
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


def card(device_name: str) -> str:
    import torch

    if device_name.startswith("cuda"):
        index = torch.device(device_name).index or 0
        return f"{torch.cuda.get_device_name(index)}, torch {torch.__version__}, CUDA {torch.version.cuda}"
    return f"torch {torch.__version__} on the CPU (torch-cpu: a smoke test, not a GPU)"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--device", default="cuda")
    p.add_argument("--sizes", default="100000,1000000")
    p.add_argument("--cpu-sizes", default="100000", help="sizes where the CPU path runs too")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--results", default=str(rb.REPO / "benchmarks/results"))
    args = p.parse_args()
    from threadpoolctl import threadpool_limits

    from cellbench import device

    sizes = [int(s) for s in args.sizes.split(",") if s]
    cpu_sizes = {int(s) for s in args.cpu_sizes.split(",") if s}
    rows, failures = [], 0
    with threadpool_limits(limits=args.threads):
        for n in sizes:
            X, labels, _ = rb.synthetic(n)
            X = X.astype(np.float64)
            cases = [("neighbours k=200 (integration)", search, (X, 200, False)),
                     ("neighbours k=15 with distances (clustering graph)", search, (X, 15, True)),
                     ("silhouette widths (embedding)", silhouette, (X, labels))]
            for name, fn, fn_args in cases:
                print(f"[gpu_check] {n} {name} on {args.device}", file=sys.stderr)
                with device.using(args.device):
                    on_device, t_device = timed(fn, *fn_args)
                t_cpu, same = None, "not compared"
                if n in cpu_sizes:
                    print(f"[gpu_check] {n} {name} on the CPU", file=sys.stderr)
                    on_cpu, t_cpu = timed(fn, *fn_args)
                    if name.startswith("silhouette"):
                        score_diff = abs(float(np.mean(on_device)) - float(np.mean(on_cpu)))
                        width_diff = float(np.max(np.abs(on_device - on_cpu)))
                        same = (f"{'yes' if score_diff <= 1e-6 else 'NO'} (score |diff| {score_diff:.1e}, "
                                f"widths at most {width_diff:.1e})")
                    else:
                        equal = all(np.array_equal(a, b) for a, b in zip(on_device, on_cpu) if a is not None)
                        same = "yes (identical)" if equal else "NO"
                    failures += not same.startswith("yes")
                rows.append((n, name, t_cpu, t_device, same))
    stamp = dt.datetime.now().strftime("%Y%m%dT%H%M")
    head = (f"GPU path check of {dt.datetime.now().isoformat(timespec='seconds')} (benchmarks/gpu_check.py). "
            f"Device {args.device}: {card(device.torch_device(args.device))}. CPU path: numpy, "
            f"{args.threads or 'all'} BLAS threads.")
    lines = [head, "", "| cells | what | CPU | device | speedup | same answer |", "|---:|---|---:|---:|---:|---|"]
    for n, name, t_cpu, t_device, same in rows:
        cpu = f"{t_cpu:.1f} s" if t_cpu is not None else "-"
        speed = f"{t_cpu / t_device:.1f}x" if t_cpu is not None else "-"
        lines.append(f"| {n:,} | {name} | {cpu} | {t_device:.1f} s | {speed} | {same} |")
    text = "\n".join(lines) + "\n"
    print(text)
    out = Path(args.results) / f"gpu_{stamp}.md"
    out.write_text(text)
    print(f"[gpu_check] wrote {out}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
