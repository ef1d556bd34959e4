"""The speed benchmark's own tools (benchmarks/): the floor, the phase timer, the exponent fit, the
merge of earlier runs, the label prediction units, the GPU path check and the GPU path's whole commands.

They are not timed here (timings live in benchmarks/results/); these tests check that they measure
what they say: the floor forms exactly half the n x n products, the phase timer still finds the
functions each task is made of (a renamed function would silently drop a phase), the fit recovers
a known exponent, merged rows keep their run, and the two runners finish on small inputs.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
BENCH = REPO / "benchmarks"
PBMC = REPO / "tests/data/pbmc68k_reduced.h5ad"


@pytest.fixture(scope="module")
def bench_modules():
    sys.path.insert(0, str(BENCH))
    try:
        import gemm_floor
        import phases
        import scale_curve

        yield gemm_floor, phases, scale_curve
    finally:
        sys.path.remove(str(BENCH))


def test_floor_counts_half_the_products(bench_modules):
    gemm_floor = bench_modules[0]
    n = 5000
    blocks = np.arange(-(-n // gemm_floor.BLOCK_ROWS))
    # every row block against every column from its own start: the upper triangle, diagonal blocks whole
    expected = sum((min(n, b * 512 + 512) - b * 512) * (n - b * 512) for b in blocks)
    assert gemm_floor.products_of(n, blocks) == expected
    assert n * n / 2 < expected < n * n / 2 + n * 512


@pytest.mark.parametrize("full_cells", [100_000, 5000])
def test_floor_command_reports_full_or_sampled(full_cells):
    out = subprocess.run([sys.executable, str(BENCH / "gemm_floor.py"), "20000", "--threads", "1",
                          "--full-cells", str(full_cells)], capture_output=True, text=True, check=True)
    result = json.loads(out.stdout)
    assert result["sampled"] == (full_cells < 20000)
    assert result["timed_blocks"] < result["blocks"] if result["sampled"] else result["timed_blocks"] == result["blocks"]
    assert result["floor_s"] > 0 and result["floor_s"] == min(result["by_piece_rows"].values())
    assert result["registers_s"] > 0  # the same products by cellbench's register tiles
    assert result["blas"] and result["blas"][0]["num_threads"] >= 1 and result["blas"][0]["architecture"]


def test_fit_exponent_recovers_a_power_law(bench_modules):
    fit = bench_modules[2].fit_exponent
    assert fit([(n, 3e-9 * n**2) for n in (30_000, 100_000, 300_000)]) == pytest.approx(2.0)
    assert fit([(n, 1e-5 * n**1.2) for n in (30_000, 100_000)]) == pytest.approx(1.2)
    assert fit([(100_000, 5.0)]) is None


def test_phase_timer_finds_every_phase_of_clustering(tmp_path):
    """The timed run writes the same result as `cellbench clustering` and times its phases."""
    phases_out, result = tmp_path / "phases.json", tmp_path / "clustering.json"
    args = ["clustering", "--input", str(PBMC), "--obsm-key", "X_pca", "--label-key", "bulk_labels",
            "--output", str(result)]
    subprocess.run([sys.executable, str(BENCH / "phases.py"), str(phases_out), "--", *args], check=True,
                   capture_output=True, text=True)
    spent = json.loads(phases_out.read_text())
    # below 8192 cells the graph's search is sklearn's brute force (no separate `graph_search` phase)
    for phase in ("graph_search_and_connectivities", "igraph_graph", "leiden", "process"):
        assert spent[phase] > 0, phase
    plain = tmp_path / "plain.json"
    subprocess.run([sys.executable, "-m", "cellbench", *args[:-1], str(plain)], check=True, capture_output=True)
    assert json.loads(result.read_text())["metrics"] == json.loads(plain.read_text())["metrics"]


def test_phase_timer_targets_exist(bench_modules):
    import importlib

    phases = bench_modules[1]
    for module, attribute in phases.PHASES.values():
        assert callable(getattr(importlib.import_module(module), attribute)), f"{module}.{attribute}"


def test_merge_keeps_this_runs_rows_and_adds_the_earlier_ones(bench_modules, tmp_path):
    """--merge: an earlier run's TSV rows join the tables unless this run measured the same task and size."""
    _, _, scale_curve = bench_modules
    earlier = tmp_path / "scale_20260101T0000.tsv"
    head = "\t".join(scale_curve.TSV_COLUMNS[:-3])  # an older TSV: no sampled, run or spread column
    lines = [
        head,
        "host\tfloor\t1000000\t511.0\tnan\t\t\t{\"64\": 511.0}\t",
        "host\tclustering\t1000000\t936.4\t9656.0\t511.0\t{\"search/floor\": 1.55}\t{\"leiden\": 93.0}\tARI=0.85",
        "host\tembedding\t100000\t99.0\t390.0\t5.9\t{}\t{}\tsilhouette_score=0.5",
    ]
    earlier.write_text("".join(line + "\n" for line in lines))
    mine = [{"variant": "host", "task": "embedding", "n_cells": 100000, "wall_s": 13.1, "peak_rss_mb": 390.0}]
    rows = scale_curve.merged(mine, [earlier])
    by = {(r["task"], r["n_cells"]): r for r in rows}
    assert by[("embedding", 100000)]["wall_s"] == 13.1 and "run" not in by[("embedding", 100000)]
    assert by[("clustering", 1000000)]["run"] == earlier.stem
    assert by[("clustering", 1000000)]["phases"] == {"leiden": 93.0}
    assert by[("floor", 1000000)]["sampled"] is True  # above gemm_floor's full-cells default
    assert len(rows) == 3


def test_repeated_rounds_give_medians_and_each_rounds_ratio_range(bench_modules):
    """--repeats: a task's row is the median of its rounds (wall, each phase), its ratio that of the
    medians, with the range of each round's ratio to its own round's floor; rounds that disagree on
    the values stop the run."""
    _, _, scale_curve = bench_modules
    floors = [{"floor_s": f, "registers_s": f * 0.8, "by_piece_rows": {"512": f}, "sampled": False} for f in (4.0, 5.0, 4.5)]
    metrics = [{"metric_type": "entropy_per_cell", "value": 0.5, "params": {}}]
    runs = [{"wall_s": w, "peak_rss_mb": rss, "phases": {"neighbour_search": s}, "metrics": metrics}
            for w, rss, s in ((9.0, 100.0, 5.0), (8.0, 120.0, 6.0), (10.0, 110.0, 5.4))]
    m = scale_curve.combined_task("integration", runs, floors)
    assert m["wall_s"] == 9.0 and m["peak_rss_mb"] == 120.0 and m["phases"] == {"neighbour_search": 5.4}
    assert m["ratios"]["search/floor"] == 5.4 / 4.5
    assert m["spread"]["search/floor"] == [1.2, 1.25]  # 6.0 / 5.0 and 5.0 / 4.0
    assert scale_curve.combined_floor(floors)["floor_s"] == 4.5
    assert scale_curve.median([1.0, 4.0, 2.0, 3.0]) == 2.5
    runs[1] = {**runs[1], "metrics": [{**metrics[0], "value": 0.6}]}
    with pytest.raises(SystemExit, match="different values"):
        scale_curve.combined_task("integration", runs, floors)


def test_label_units_runs_one_fold_per_classifier(tmp_path):
    """benchmarks/label_units.py on a small seeded input: one unit per classifier, each with its scores."""
    out = subprocess.run([sys.executable, str(BENCH / "label_units.py"), "--cells", "3000", "--classifiers", "lr,knn",
                          "--threads", "1", "--workdir", str(tmp_path / "w"), "--results", str(tmp_path)],
                         capture_output=True, text=True, check=True)
    table = [line for line in out.stdout.splitlines() if line.startswith(("| lr |", "| knn |"))]
    assert len(table) == 2 and all("GiB" in line for line in table)
    assert len(list(tmp_path.glob("label_units_*.md"))) == 1


def _need_torch() -> None:
    import importlib.util
    import os

    if importlib.util.find_spec("torch") is None:
        if os.environ.get("CELLBENCH_REQUIRE_SCVI") == "1":
            pytest.fail("CELLBENCH_REQUIRE_SCVI=1 but torch is not importable")
        pytest.skip("torch is not installed (pip install 'cellbench[gpu]')")


def test_gpu_check_compares_both_paths(tmp_path):
    """benchmarks/gpu_check.py with the torch code on the CPU (torch-cpu): the same answers, said so."""
    _need_torch()
    out = subprocess.run([sys.executable, str(BENCH / "gpu_check.py"), "--device", "torch-cpu", "--sizes", "2000",
                          "--cpu-sizes", "2000", "--threads", "1", "--results", str(tmp_path)],
                         capture_output=True, text=True, check=True)
    rows = [line for line in out.stdout.splitlines() if line.startswith("| 2,000 |")]
    assert len(rows) == 3 and all("| yes (" in line for line in rows)
    assert all(line.count("|") == 8 for line in rows)  # 7 cells: nothing in a cell breaks the table
    assert "torch-cpu" in out.stdout and " cores, " in out.stdout and len(list(tmp_path.glob("gpu_*.md"))) == 1
    # one case to a named file; an unknown case is refused before any work
    one = tmp_path / "one.md"
    subprocess.run([sys.executable, str(BENCH / "gpu_check.py"), "--device", "torch-cpu", "--sizes", "1500",
                    "--cpu-sizes", "", "--cases", "silhouette", "--threads", "1", "--out", str(one)],
                   capture_output=True, text=True, check=True)
    assert [line.split("|")[2].strip() for line in one.read_text().splitlines() if line.startswith("| 1,500")] == \
        ["silhouette widths (embedding)"]
    bad = subprocess.run([sys.executable, str(BENCH / "gpu_check.py"), "--device", "torch-cpu", "--cases", "knn7"],
                         check=False, capture_output=True, text=True)
    assert bad.returncode == 2 and "--cases: unknown knn7" in bad.stderr


def test_gpu_commands_times_whole_commands(tmp_path):
    """benchmarks/gpu_commands.py: each task as its own `cellbench` process on both paths (torch-cpu
    here), the same values, the device each result recorded; an unknown task is refused."""
    _need_torch()
    out = subprocess.run([sys.executable, str(BENCH / "gpu_commands.py"), "--device", "torch-cpu", "--sizes", "1500",
                          "--cpu-sizes", "1500", "--threads", "1", "--work", str(tmp_path / "w"),
                          "--out", str(tmp_path / "t.md")], capture_output=True, text=True, check=True)
    rows = [line for line in (tmp_path / "t.md").read_text().splitlines() if line.startswith("| 1,500 |")]
    assert [line.split("|")[2].strip() for line in rows] == ["embedding", "integration", "clustering"]
    assert all("| yes (" in line and "| torch-cpu, torch " in line and line.count("|") == 8 for line in rows)
    assert " cores, " in out.stdout
    bad = subprocess.run([sys.executable, str(BENCH / "gpu_commands.py"), "--tasks", "label_prediction"],
                         check=False, capture_output=True, text=True)
    assert bad.returncode == 2 and "--tasks: unknown label_prediction" in bad.stderr


def test_ratios_over_the_blas_and_the_register_floor(bench_modules):
    ratios = bench_modules[2].ratios
    m = {"wall_s": 12.0, "phases": {"neighbour_search": 6.0, "graph_search": 5.0, "leiden": 2.0}}
    assert ratios("integration", m, 4.0, 3.0) == {"process/floor": 3.0, "search/floor": 1.5, "search/register floor": 2.0}
    assert ratios("clustering", m, 4.0) == {"process/floor": 3.0, "search/floor": 1.25, "process/(floor+leiden)": 2.0}
    assert ratios("label_prediction", m, 4.0, 3.0) == {}
