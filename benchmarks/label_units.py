"""Label prediction at atlas scale, one unit of work at a time: the profile behind its floor.

`python benchmarks/label_units.py --cells 1000000 [--folds 0] [--classifiers lr,knn,rf]` splits the
seeded synthetic embedding of run_benchmark.py into its 5 folds (`cellbench label-split`) and runs
`cellbench label-fold` for each classifier on the given test folds, each in its own process (as the
pipeline runs them): wall time and peak RSS per unit, and the whole task estimated as 5 x the mean
fold of each classifier. The whole task in one process (`cellbench label-prediction`) at 1M is over an
hour on 2 cores; these units are the same work, and the pipeline fans them out over machines.
Writes benchmarks/results/label_units_<stamp>.md.
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


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--cells", type=int, default=1_000_000)
    p.add_argument("--folds", default="0", help="test folds to run, e.g. 0 or 0,1,2,3,4")
    p.add_argument("--classifiers", default="lr,knn,rf")
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    p.add_argument("--workdir", default=str(rb.REPO / "benchmarks/.work"))
    p.add_argument("--results", default=str(rb.REPO / "benchmarks/results"))
    args = p.parse_args()
    classifiers = args.classifiers.split(",")
    work = Path(args.workdir)
    units = work / "label_units"
    units.mkdir(parents=True, exist_ok=True)
    data = work / f"synthetic_{args.cells}.h5ad"
    if not data.exists():
        rb.write_synthetic(data, args.cells)
    folds_tsv = units / f"folds_{args.cells}.tsv"
    started = dt.datetime.now().isoformat(timespec="seconds")
    split = rb.run_cmd([rb.cellbench_bin(), "label-split", "--input", str(data), "--label-key", "label",
                        "--output", str(folds_tsv)], log=units / "split.log")
    rows = []
    for classifier in classifiers:
        for fold in [int(f) for f in args.folds.split(",")]:
            out = units / f"{args.cells}__{classifier}__{fold}.json"
            print(f"[label_units] {classifier} fold {fold} of {args.cells:,} cells", file=sys.stderr, flush=True)
            m = rb.run_cmd([rb.cellbench_bin(), "label-fold", "--input", str(data), "--obsm-key", "X_emb",
                            "--folds", str(folds_tsv), "--fold", str(fold), "--classifier", classifier,
                            "--threads", str(args.threads), "--n-boot", "0", "--output", str(out)],
                           log=out.with_suffix(".log"))
            values = {r["metric_type"]: r["value"] for r in json.loads(out.read_text())["metrics"]}
            rows.append((classifier, fold, m, values))
            print(f"[label_units] {rows[-1]}", file=sys.stderr, flush=True)
    lines = [(f"Label prediction units of {started} (benchmarks/label_units.py). Machine: {rb.machine()}. "
             f"Threads: --threads {args.threads}. Versions: {rb.versions()}."), "",
             (f"{args.cells:,} cells (seeded synthetic, 64-d, 20 labels); 5 folds by `cellbench label-split` "
             f"({split['wall_s']:.1f} s); each unit is `cellbench label-fold` in its own process, as the pipeline "
             "runs it (training on 4 folds, scoring the fifth)."), "",
             "| classifier | test fold | wall | peak RSS | accuracy | auroc |", "|---|---:|---:|---:|---:|---:|"]
    for classifier, fold, m, values in rows:
        lines.append(f"| {classifier} | {fold} | {m['wall_s']:.1f} s | {m['peak_rss_mb'] / 1024:.2f} GiB | "
                     f"{values.get('accuracy', float('nan')):.4f} | {values.get('auroc', float('nan')):.4f} |")
    total = 0.0
    for classifier in classifiers:
        walls = [m["wall_s"] for c, _, m, _ in rows if c == classifier]
        total += 5 * sum(walls) / len(walls)
    lines += ["", (f"The whole task, estimated as 5 x the mean fold of each classifier: {total / 60:.1f} min "
              f"(one process on these {args.threads} threads; the pipeline runs the 15 units in parallel).")]
    text = "\n".join(lines) + "\n"
    stamp = started.replace(":", "").replace("-", "")[:13]
    (Path(args.results) / f"label_units_{stamp}.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
