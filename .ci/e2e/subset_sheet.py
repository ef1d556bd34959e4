"""A subset of a samplesheet for the e2e runs, written where the run's files go.

    subset_sheet.py SHEET OUT [--datasets a,b] [--tasks t1;t2] [--header-only]

Keeps the rows whose `dataset` is listed (all without --datasets), optionally replaces their `tasks`,
and makes relative file paths absolute (they are relative to SHEET), so OUT can live anywhere.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

FILE_COLUMNS = ("h5ad", "embedding", "prediction")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("sheet", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--datasets")
    ap.add_argument("--tasks")
    ap.add_argument("--header-only", action="store_true")
    a = ap.parse_args()
    with open(a.sheet, newline="") as fh:
        reader = csv.DictReader(fh)
        fields, rows = reader.fieldnames, list(reader)
    keep = set(a.datasets.split(",")) if a.datasets else None
    out = []
    for r in [] if a.header_only else rows:
        if keep is not None and r["dataset"] not in keep:
            continue
        for c in FILE_COLUMNS:
            v = (r.get(c) or "").strip()
            if v and "://" not in v and not v.startswith("/"):
                r[c] = str((a.sheet.parent / v).resolve())
        if a.tasks:
            r["tasks"] = a.tasks
        out.append(r)
    if keep is not None and {r["dataset"] for r in out} != keep:
        raise SystemExit(f"{a.sheet}: datasets {sorted(keep - {r['dataset'] for r in out})} not found")
    a.out.parent.mkdir(parents=True, exist_ok=True)
    with open(a.out, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=fields)
        w.writeheader()
        w.writerows(out)


if __name__ == "__main__":
    main()
