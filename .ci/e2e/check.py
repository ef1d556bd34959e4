"""Assertions of .ci/nextflow-e2e.sh on what a Nextflow run left behind (standard library only).

    check.py results OUTDIR [--replay DIR] [--only REGEX] [--reference] [--multiqc] [--stub]
    check.py compare OUTDIR_A OUTDIR_B [--only REGEX]
    check.py trace TRACE [--all-cached N] [--completed N] [--min-cached N]
    check.py retry TRACE --process NAME [--exit 137]
    check.py slurm TRACE --jobcomp FILE
    check.py count TRACE            (prints the number of task rows)

Every subcommand prints what it checked to stderr and exits 1 on the first list of failures.

Result JSONs are matched by file name (<dataset>__<model>__<task>[_<variant>]__s<seed>.json) and compared
whole, except for what differs between two correct runs: wall_time_s, peak_rss_mb, the library
versions (reported, not failed: the image's lock and the replay's venv may differ in patch versions)
and the sha256 of inputs a run writes itself (the PCA baseline h5ad). Numbers must agree to
1e-9 (absolute or relative); TASKS.md's tolerances apply where a value is checked against its
reference values.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import re
import sys
from pathlib import Path

# ---- what -profile test must produce (tests/test_pipeline_plan.py::test_fan_out_of_the_test_profile)
SEED = 42
EXPECTED = sorted(
    [
        f"pbmc68k_reduced__{m}__{t}__s{SEED}.json"
        for t in ("clustering", "embedding", "integration")
        for m in ("X_pca", "X_umap", "pca")
    ]
    + [f"pbmc68k_reduced__{m}__label_prediction__s{SEED}.json" for m in ("X_pca", "X_umap", "raw_expression")]
    + [
        f"hsmm_myoblast_timecourse__pca__sequential__s{SEED}.json",
        f"baron2016_pancreas__pca__cross_species_integration__s{SEED}.json",
    ]
    + [
        f"baron2016_pancreas__pca__cross_species_label_{a}_{b}__s{SEED}.json"
        for a in ("human", "mouse")
        for b in ("human", "mouse")
    ]
    + [
        f"papalexi2021_thp1_crispr_lowmoi__{m}__perturbation__s{SEED}.json"
        for m in ("no_change", "other_mean")
    ]
)
BASELINE_H5AD = [
    "pbmc68k_reduced.pca.h5ad",
    "hsmm_myoblast_timecourse.pca.h5ad",
    "baron2016_pancreas_human.pca.h5ad",
    "baron2016_pancreas_mouse.pca.h5ad",
]

# TASKS.md "Reference values" (pbmc68k_reduced, X_pca, bulk_labels) and "Tolerances"
REFERENCE = {
    ("clustering", "adjusted_rand_index", None): (0.4283151035913065, 1e-9),
    ("clustering", "normalized_mutual_info", None): (0.6440463095273833, 1e-9),
    ("embedding", "silhouette_score", None): (0.550262451171875, 1e-5),
    ("integration", "entropy_per_cell", None): (0.5239676829925008, 3e-3),
    ("integration", "batch_silhouette", None): (0.8981001973152161, 1e-5),
    ("label_prediction", "mean_fold_accuracy", "MEAN(knn,lr,rf)"): (0.7562402252111353, 1e-9),
    ("label_prediction", "mean_fold_f1", "MEAN(knn,lr,rf)"): (0.6430898062675138, 1e-9),
    ("label_prediction", "mean_fold_precision", "MEAN(knn,lr,rf)"): (0.6820883227468767, 1e-9),
    ("label_prediction", "mean_fold_recall", "MEAN(knn,lr,rf)"): (0.6388594509237785, 1e-9),
    ("label_prediction", "mean_fold_auroc", "MEAN(knn,lr,rf)"): (0.9270943836337968, 1e-9),
    ("label_prediction", "mean_fold_accuracy", "lr"): (0.7644145553122719, 1e-9),
    ("label_prediction", "mean_fold_accuracy", "rf"): (0.8294338442289646, 1e-9),
    ("label_prediction", "mean_fold_accuracy", "knn"): (0.6748722760921698, 1e-9),
}
RTOL = ATOL = 1e-9
IGNORED_KEYS = {"wall_time_s", "peak_rss_mb", "versions"}


def info(msg: str) -> None:
    print(f"   {msg}", file=sys.stderr)


def finish(what: str, failures: list[str]) -> None:
    if failures:
        print(f"FAILED: {what}: {len(failures)} problem(s)", file=sys.stderr)
        for f in failures[:60]:
            print(f"   - {f}", file=sys.stderr)
        if len(failures) > 60:
            print(f"   ... and {len(failures) - 60} more", file=sys.stderr)
        sys.exit(1)
    info(f"ok: {what}")


# ---- JSON comparison


def close(a: float, b: float) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return abs(a - b) <= ATOL or abs(a - b) <= RTOL * max(abs(a), abs(b))


def set_tolerance(tol: float) -> None:
    """`compare --tol`: two runs that may differ by float32 rounding (the GPU path's silhouettes)."""
    global ATOL, RTOL
    ATOL = RTOL = tol


def diff(a, b, path: str, out: list[str]) -> None:
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            if k in IGNORED_KEYS and path.count("/") == 0:
                continue
            if k not in a or k not in b:
                out.append(f"{path}/{k}: only in {'second' if k not in a else 'first'}")
            else:
                diff(a[k], b[k], f"{path}/{k}", out)
    elif isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            out.append(f"{path}: {len(a)} vs {len(b)} items")
        for i, (x, y) in enumerate(zip(a, b)):
            diff(x, y, f"{path}[{i}]", out)
    elif isinstance(a, bool) or isinstance(b, bool) or a is None or b is None:
        if a != b:
            out.append(f"{path}: {a!r} vs {b!r}")
    elif isinstance(a, (int, float)) and isinstance(b, (int, float)):
        if not close(float(a), float(b)):
            out.append(f"{path}: {a!r} vs {b!r} (diff {abs(a - b):.3g})")
    elif a != b:
        out.append(f"{path}: {a!r} vs {b!r}")


def normalise(r: dict) -> dict:
    """Drop what two correct runs may differ in; keep every metric, interval and parameter."""
    r = dict(r)
    inputs = []
    for i in r.get("inputs") or []:
        i = dict(i)
        if i.get("role") != "dataset":  # files written by the run itself (PCA baseline, folds, truth)
            i.pop("sha256", None)
        i.pop("path", None)
        inputs.append(i)
    r["inputs"] = sorted(inputs, key=lambda i: json.dumps(i, sort_keys=True))
    return r


def compare_dirs(a: Path, b: Path, names: list[str], failures: list[str], label: str) -> int:
    n = 0
    version_notes = set()
    for name in names:
        fa, fb = a / name, b / name
        if not fa.exists() or not fb.exists():
            failures.append(f"{label}: {name} missing in {fa.parent if not fa.exists() else fb.parent}")
            continue
        ra, rb = json.loads(fa.read_text()), json.loads(fb.read_text())
        out: list[str] = []
        diff(normalise(ra), normalise(rb), "", out)
        if out:
            failures.append(
                f"{label}: {name} differs: "
                + "; ".join(out[:6])
                + (f" (+{len(out) - 6})" if len(out) > 6 else "")
            )
        for k in sorted(set(ra.get("versions", {})) | set(rb.get("versions", {}))):
            va, vb = ra.get("versions", {}).get(k), rb.get("versions", {}).get(k)
            if va != vb:
                version_notes.add(f"{k} {va} vs {vb}")
        n += 1
    if version_notes:
        info(f"note ({label}): versions differ (not a failure): {', '.join(sorted(version_notes))}")
    return n


def metric_values(r: dict) -> dict:
    out = {}
    for m in r.get("metrics", []):
        clf = (m.get("params") or {}).get("classifier")
        out[(m["metric_type"], clf)] = m["value"]
        if not m.get("params"):
            out[(m["metric_type"], None)] = m["value"]
    return out


def selected(only: str | None, names: list[str]) -> list[str]:
    return [n for n in names if not only or re.search(only, n)]


# ---- subcommands


def cmd_results(a) -> None:
    out = Path(a.outdir)
    res = out / "results"
    failures: list[str] = []
    expected = selected(a.only, EXPECTED)
    got = sorted(p.name for p in res.glob("*.json")) if res.is_dir() else []
    missing = [n for n in expected if n not in got]
    extra = [n for n in got if n not in expected]
    failures += [f"missing result {res}/{n}" for n in missing]
    failures += [f"unexpected result {res}/{n}" for n in extra]
    info(
        f"{len(got)} result JSONs in {res}, {len(expected)} expected, {len(missing)} missing, {len(extra)} unexpected"
    )

    if not a.stub:
        for name in expected:
            p = res / name
            if not p.exists():
                continue
            try:
                r = json.loads(p.read_text())
            except ValueError as exc:
                failures.append(f"{name}: not JSON ({exc})")
                continue
            m = re.match(r"(.+?)__(.+?)__(.+?)__s(\d+)\.json$", name)
            dataset, model, task, seed = m.groups()
            if (r.get("dataset"), r.get("model"), int(r.get("seed", -1))) != (
                dataset,
                model,
                int(seed),
            ) or not task.startswith(str(r.get("task"))):
                failures.append(
                    f"{name}: records dataset={r.get('dataset')} model={r.get('model')} task={r.get('task')} seed={r.get('seed')}"
                )
            if not r.get("metrics"):
                failures.append(f"{name}: no metrics")
            elif not any(isinstance(x.get("value"), (int, float)) for x in r["metrics"]):
                failures.append(
                    f"{name}: no metric has a numeric value"
                )  # null is legal (e.g. Jaccard of 0 genes)
        # baselines are results like any other: all four must be there (they were once dropped silently)
        for model in ("pca", "raw_expression", "no_change", "other_mean"):
            if any(f"__{model}__" in n for n in expected) and not any(f"__{model}__" in n for n in got):
                failures.append(f"baseline {model}: no result at all")

        if a.replay:
            n = compare_dirs(Path(a.replay) / "results", res, expected, failures, "replay vs nextflow")
            info(f"{n} result JSONs compared with the Python replay ({a.replay}/results)")

        if a.reference:
            checked = 0
            for (task, metric, clf), (ref, tol) in REFERENCE.items():
                p = res / f"pbmc68k_reduced__X_pca__{task}__s{SEED}.json"
                if not p.exists():
                    continue  # reported as missing above
                v = metric_values(json.loads(p.read_text())).get((metric, clf))
                if v is None:
                    failures.append(f"TASKS.md: {task} {metric} {clf or ''}: not in {p.name}")
                elif abs(v - ref) > tol:
                    failures.append(
                        f"TASKS.md: {task} {metric} {clf or ''} = {v!r}, reference {ref!r} (tolerance {tol})"
                    )
                checked += 1
            info(f"{checked} TASKS.md reference values of pbmc68k_reduced X_pca checked")

    # what the results share and the gathered outputs
    if a.only is None:
        for f in BASELINE_H5AD:
            if not (out / "prepared" / "baselines" / f).exists():
                failures.append(f"missing PCA baseline {out}/prepared/baselines/{f}")
        if not list((out / "prepared" / "folds").glob("pbmc68k_reduced*")):
            failures.append(f"missing label prediction folds in {out}/prepared/folds")
        if not list((out / "prepared" / "perturbation").glob("papalexi2021_thp1_crispr_lowmoi*")):
            failures.append(f"missing perturbation truth in {out}/prepared/perturbation")
    tsv = out / "aggregate" / "aggregate.tsv"
    if not tsv.exists():
        failures.append(f"missing {tsv}")
    elif not a.stub:
        with open(tsv, newline="") as fh:
            rows = list(csv.DictReader(fh, delimiter="\t"))
        models = {(r.get("model"), r.get("baseline")) for r in rows}
        in_results = {re.match(r".+?__(.+?)__", n).group(1) for n in expected}
        agg_models = {m for m, _ in models}
        if not in_results <= agg_models:
            failures.append(f"aggregate.tsv lacks models {sorted(in_results - agg_models)}")
        info(f"aggregate.tsv: {len(rows)} rows, models {sorted(agg_models)}")
    if a.multiqc:
        # <title>_multiqc_report.html when the report sets a title, multiqc_report.html otherwise
        found = sorted((out / "multiqc").glob("*multiqc_report.html"))
        html = found[0] if found else out / "multiqc" / "multiqc_report.html"
        if not found:
            failures.append(f"missing MultiQC report {out}/multiqc/*multiqc_report.html")
        elif not a.stub:
            text = html.read_text(errors="replace")
            if len(text) < 10_000 or "cellbench" not in text.lower():
                failures.append(
                    f"{html}: {len(text)} characters, 'cellbench' {'not ' if 'cellbench' not in text.lower() else ''}found"
                )
            else:
                info(f"MultiQC report: {html} ({len(text) // 1024} KiB)")
    if not a.stub and not (out / "report" / "comparison.tsv").exists():
        failures.append(f"missing {out}/report/comparison.tsv")
    finish(f"results in {out}", failures)


def cmd_compare(a) -> None:
    failures: list[str] = []
    ra, rb = Path(a.a) / "results", Path(a.b) / "results"
    names = selected(a.only, EXPECTED)
    if a.tol is not None:
        set_tolerance(a.tol)
    n = compare_dirs(ra, rb, names, failures, f"{Path(a.a).parent.name} vs {Path(a.b).parent.name}")
    if a.device:  # the second run's results say where their products ran; the first run's say nothing
        for name in names:
            for where, path, want in (("first", ra / name, None), ("second", rb / name, a.device)):
                if not path.exists():
                    continue
                got = json.loads(path.read_text()).get("versions", {}).get("device")
                if (got is None) != (want is None) or (want and not got.startswith(want)):
                    failures.append(f"{name} ({where} run): versions.device is {got!r}, expected {want or 'none'!r}")
    extra = sorted({p.name for p in rb.glob("*.json")} - set(names)) if rb.is_dir() else []
    failures += [f"unexpected result {rb}/{x}" for x in extra]
    info(f"{n} result JSONs compared ({ra} vs {rb})")
    finish("same results", failures)


def read_trace(path: str) -> list[dict]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh, delimiter="\t"))


def cmd_count(a) -> None:
    print(len(read_trace(a.trace)))


def cmd_trace(a) -> None:
    rows = read_trace(a.trace)
    failures: list[str] = []
    status = {}
    for r in rows:
        status[r["status"]] = status.get(r["status"], 0) + 1
    info(f"{a.trace}: {len(rows)} tasks, {status}")
    if a.all_cached is not None:
        not_cached = [f"{r['name']} {r['status']}" for r in rows if r["status"] != "CACHED"]
        if not_cached:
            failures.append(f"{len(not_cached)} task(s) executed again under -resume: {not_cached[:10]}")
        if len(rows) != a.all_cached:
            failures.append(f"{len(rows)} tasks in the resumed run, {a.all_cached} in the first")
    if a.completed is not None:
        bad = [
            f"{r['name']} {r['status']} exit {r['exit']}"
            for r in rows
            if r["status"] not in ("COMPLETED", "CACHED")
        ]
        if bad:
            failures.append(f"tasks not completed: {bad[:10]}")
        if len(rows) != a.completed:
            failures.append(f"{len(rows)} tasks, {a.completed} expected")
    if a.min_cached is not None:
        n = status.get("CACHED", 0)
        if n < a.min_cached:
            failures.append(
                f"{n} tasks CACHED, at least {a.min_cached} expected (those completed before the kill)"
            )
        if status.get("COMPLETED", 0) == 0:
            failures.append("nothing was left to run after the kill")
    finish(f"trace {a.trace}", failures)


def cmd_device_commands(a) -> None:
    """Every task of the processes matching --process ran its command with `--device '<device>'`
    (quoted, as conf/modules.config writes it); the other tasks without any --device."""
    rows = read_trace(a.trace)
    failures: list[str] = []
    matched = 0
    for r in rows:
        command = Path(r["workdir"]) / ".command.sh"
        text = command.read_text() if command.exists() else ""
        if not text:
            failures.append(f"{r['name']}: no {command}")
            continue
        if re.search(a.process, r["process"]):
            matched += 1
            if f"--device '{a.device}'" not in text:
                failures.append(f"{r['name']}: --device '{a.device}' not in {command}")
        elif r["process"].split(":")[-1].startswith("CELLBENCH_") and " --device " in text:
            failures.append(f"{r['name']}: --device in {command}, a process the option is not for")
    if not matched:
        failures.append(f"no task of a process matching {a.process!r} in {a.trace}")
    info(f"{matched} task(s) of {a.process} checked for --device '{a.device}'")
    finish(f"--device in {a.trace}", failures)


def memory_bytes(s: str) -> float:
    m = re.match(r"([\d.]+)\s*([KMGT]?B)", s.strip())
    if not m:
        return float("nan")
    return float(m.group(1)) * {"B": 1, "KB": 2**10, "MB": 2**20, "GB": 2**30, "TB": 2**40}[m.group(2)]


def cmd_retry(a) -> None:
    rows = read_trace(a.trace)
    failures: list[str] = []
    mine = [r for r in rows if r["process"].split(":")[-1] == a.process]
    if not mine:
        failures.append(f"no {a.process} task in {a.trace}")
    by_tag: dict[str, list[dict]] = {}
    for r in mine:
        by_tag.setdefault(r["tag"], []).append(r)
    for tag, runs in sorted(by_tag.items()):
        runs.sort(key=lambda r: int(r["attempt"]))
        desc = ", ".join(
            f"attempt {r['attempt']}: {r['status']} exit {r['exit']} memory {r['memory']}" for r in runs
        )
        info(f"{a.process} ({tag}): {desc}")
        if len(runs) != 2:
            failures.append(f"{tag}: {len(runs)} attempts, 2 expected")
            continue
        first, second = runs
        if (first["attempt"], first["status"], first["exit"]) != ("1", "FAILED", str(a.exit)):
            failures.append(
                f"{tag}: first attempt {first['status']} exit {first['exit']}, FAILED exit {a.exit} expected"
            )
        if (second["attempt"], second["status"], second["exit"]) != ("2", "COMPLETED", "0"):
            failures.append(f"{tag}: second attempt {second['status']} exit {second['exit']}")
        if not memory_bytes(second["memory"]) > memory_bytes(first["memory"]):
            failures.append(
                f"{tag}: memory {first['memory']} then {second['memory']}: the retry got no more memory"
            )
    others = [
        f"{r['name']} {r['status']}"
        for r in rows
        if r not in mine and r["status"] not in ("COMPLETED", "CACHED")
    ]
    if others:
        failures.append(f"other tasks did not complete: {others[:10]}")
    finish(f"retry of {a.process} after exit {a.exit}", failures)


def cmd_slurm(a) -> None:
    rows = read_trace(a.trace)
    failures: list[str] = []
    jobs = {}
    for line in Path(a.jobcomp).read_text().splitlines():
        fields = dict(re.findall(r"(\w+)=(\S*)", line))
        if "JobId" in fields:
            jobs[(fields["JobId"], fields.get("WorkDir", ""))] = fields
    info(f"{len(rows)} tasks in {a.trace}; {len(jobs)} jobs in {a.jobcomp}")
    if not rows:
        failures.append("no tasks in the trace")
    for r in rows:
        if r["status"] == "CACHED":
            failures.append(f"{r['name']}: CACHED (not submitted)")
            continue
        nid = r["native_id"]
        if not nid.isdigit():
            failures.append(f"{r['name']}: native_id {nid!r} is not a Slurm job id")
            continue
        job = jobs.get((nid, r["workdir"]))
        if job is None:
            failures.append(f"{r['name']}: job {nid} ({r['workdir']}) not in jobcomp.txt")
        elif job.get("JobState") != "COMPLETED" or job.get("ExitCode") != "0:0":
            failures.append(f"{r['name']}: job {nid} {job.get('JobState')} exit {job.get('ExitCode')}")
        elif r["status"] != "COMPLETED":
            failures.append(f"{r['name']}: {r['status']} in the trace")
    finish("every task was a Slurm job that completed", failures)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("results")
    p.add_argument("outdir")
    p.add_argument("--replay")
    p.add_argument("--only", help="regex on result file names: a subset run")
    p.add_argument("--reference", action="store_true")
    p.add_argument("--multiqc", action="store_true")
    p.add_argument("--stub", action="store_true")
    p.set_defaults(fn=cmd_results)
    p = sub.add_parser("compare")
    p.add_argument("a")
    p.add_argument("b")
    p.add_argument("--only")
    p.add_argument("--tol", type=float, help="absolute or relative tolerance of numbers (default 1e-9)")
    p.add_argument("--device", help="the second run's results record versions.device starting with this")
    p.set_defaults(fn=cmd_compare)
    p = sub.add_parser("trace")
    p.add_argument("trace")
    p.add_argument("--all-cached", type=int)
    p.add_argument("--completed", type=int)
    p.add_argument("--min-cached", type=int)
    p.set_defaults(fn=cmd_trace)
    p = sub.add_parser("retry")
    p.add_argument("trace")
    p.add_argument("--process", required=True)
    p.add_argument("--exit", type=int, default=137)
    p.set_defaults(fn=cmd_retry)
    p = sub.add_parser("slurm")
    p.add_argument("trace")
    p.add_argument("--jobcomp", required=True)
    p.set_defaults(fn=cmd_slurm)
    p = sub.add_parser("device-commands")
    p.add_argument("trace")
    p.add_argument("--process", required=True, help="regex on the trace's process column")
    p.add_argument("--device", required=True)
    p.set_defaults(fn=cmd_device_commands)
    p = sub.add_parser("count")
    p.add_argument("trace")
    p.set_defaults(fn=cmd_count)
    a = ap.parse_args()
    a.fn(a)


if __name__ == "__main__":
    main()
