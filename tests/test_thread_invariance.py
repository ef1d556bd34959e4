"""The same inputs and seed give the same bytes whatever the thread count (README: reproducible to the bit).

The commands run in one fresh process per setting, under two thread settings that differ everywhere a thread
count can enter: `--threads 1` with OMP_NUM_THREADS / OPENBLAS_NUM_THREADS / MKL_NUM_THREADS /
NUMBA_NUM_THREADS set to 1, and `--threads 2` with all of them unset (the machine's default). The
PCA baseline (arpack through the BLAS, the step that used to move with the thread count) is also
run with `--threads 2` and the variables set to 2. Results must be byte-identical apart from the
wall time and peak memory; the baseline's coordinates must be equal to the bit. The baseline each
task reads is the one computed under the task's own setting, so a baseline that depended on the
threads would also show up downstream.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import anndata as ad
import numpy as np
import pytest

DATA = Path(__file__).parent / "data"
PBMC = DATA / "pbmc68k_reduced.h5ad"
HSMM = DATA / "hsmm_myoblast_timecourse.h5ad"
BARON_H = DATA / "baron2016_pancreas_human.h5ad"
BARON_M = DATA / "baron2016_pancreas_mouse.h5ad"
PAPALEXI = DATA / "papalexi2021_thp1_crispr_lowmoi.h5ad"

THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")
SETTINGS = {
    "one": ("1", {v: "1" for v in THREAD_VARS}),
    "default": ("2", {}),
}

pytestmark = pytest.mark.slow


# Runs a list of commands in ONE process (the environment's thread variables apply from its start;
# one process per setting keeps the imports and numba's compilations to one per setting).
DRIVER = """
import json, sys
from cellbench.cli import cli
for argv in json.loads(sys.argv[1]):
    cli.main(argv, prog_name="cellbench", standalone_mode=False)
"""


def cellbench(commands: list[list], setting: str, env_threads: dict | None = None) -> None:
    threads, env_set = SETTINGS[setting]
    env = {k: v for k, v in os.environ.items() if k not in THREAD_VARS}
    env.update(env_threads if env_threads is not None else env_set)
    argvs = []
    for args in commands:
        argv = ["-q", *map(str, args)]
        if "--threads" not in argv and args[0] not in ("label-split", "perturbation-prepare"):
            argv += ["--threads", threads]
        argvs.append(argv)
    proc = subprocess.run([sys.executable, "-c", DRIVER, json.dumps(argvs)], env=env, capture_output=True, check=False,
                          text=True, timeout=900)
    assert proc.returncode == 0, f"{argvs}\n{proc.stderr}"


def result_bytes(path: Path) -> str:
    data = json.loads(path.read_text())
    data.pop("wall_time_s", None)
    data.pop("peak_rss_mb", None)
    return json.dumps(data, sort_keys=True)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Every command under both settings: {setting: folder}."""
    out = {}
    for setting in SETTINGS:
        d = tmp_path_factory.mktemp(setting)
        cmds = []
        for name, path, layer in (("pbmc", PBMC, "counts"), ("hsmm", HSMM, None),
                                  ("baron_h", BARON_H, None), ("baron_m", BARON_M, None)):
            cmds.append(["baseline", "-i", path, *(["--layer", layer] if layer else []), "--seed", 42,
                         "-o", d / f"{name}_pca.h5ad"])
        pbmc = ["-i", PBMC, "--embedding", d / "pbmc_pca.h5ad", "--obsm-key", "X_pca", "--model-name", "pca"]
        cmds += [
            ["embedding", *pbmc, "--label-key", "bulk_labels", "-o", d / "embedding.json"],
            ["clustering", *pbmc, "--label-key", "bulk_labels", "-o", d / "clustering.json"],
            ["integration", *pbmc, "--label-key", "bulk_labels", "--batch-key", "phase", "-o", d / "integration.json"],
            ["sequential", "-i", HSMM, "--embedding", d / "hsmm_pca.h5ad", "--obsm-key", "X_pca", "--model-name", "pca",
             "--time-key", "time_hours", "-o", d / "sequential.json"],
            ["label-split", "-i", PBMC, "--label-key", "bulk_labels", "--seed", 42, "-o", d / "folds.tsv"],
        ]
        cmds += [["label-fold", *pbmc, "--folds", d / "folds.tsv", "--fold", 1, "--classifier", clf,
                  "-o", d / f"fold_{clf}.json"] for clf in ("lr", "knn", "rf")]
        species = ["--input", BARON_H, "--input", BARON_M, "--species", "human", "--species", "mouse",
                   "--embedding", d / "baron_h_pca.h5ad", "--embedding", d / "baron_m_pca.h5ad",
                   "--obsm-key", "X_pca", "--label-key", "cell_ontology_class", "--model-name", "pca"]
        cmds += [
            ["cross-species-integration", *species, "-o", d / "xs_integration.json"],
            ["cross-species-label", *species, "--train-species", "human", "--test-species", "mouse",
             "-o", d / "xs_label.json"],
            ["perturbation-prepare", "-i", PAPALEXI, "--obs-query", "grna_umi_max >= 5 and grna_umi_frac >= 0.8",
             "--match-key", "bio_rep", "--condition", "IFNGR1", "--condition", "JAK2", "--condition", "STAT1",
             "--seed", 42, "-o", d / "prepared.h5ad"],
            ["perturbation", "--prepared", d / "prepared.h5ad", "--baseline", "other_mean", "-o", d / "perturbation.json"],
        ]
        cellbench(cmds, setting)
        out[setting] = d
    return out


@pytest.mark.parametrize("name", ["pbmc", "hsmm", "baron_h", "baron_m"])
def test_pca_baseline_is_the_same_for_any_thread_count(runs, name, tmp_path):
    one = ad.read_h5ad(runs["one"] / f"{name}_pca.h5ad")
    default = ad.read_h5ad(runs["default"] / f"{name}_pca.h5ad")
    assert one.obsm["X_pca"].tobytes() == default.obsm["X_pca"].tobytes()
    if name == "hsmm":  # FPKM: the input where 1 vs 2 BLAS threads moved components by 8.7e-3
        path, layer = HSMM, []
    elif name == "pbmc":
        path, layer = PBMC, ["--layer", "counts"]
    else:
        return
    cellbench([["baseline", "-i", path, *layer, "--seed", 42, "--threads", 2, "-o", tmp_path / "two.h5ad"]],
              "default", {v: "2" for v in THREAD_VARS})
    two = ad.read_h5ad(tmp_path / "two.h5ad")
    np.testing.assert_array_equal(two.obsm["X_pca"], one.obsm["X_pca"])


@pytest.mark.parametrize("result", [
    "embedding", "clustering", "integration", "sequential", "fold_lr", "fold_knn", "fold_rf",
    "xs_integration", "xs_label", "perturbation",
])
def test_task_result_is_the_same_for_any_thread_count(runs, result):
    one, default = (result_bytes(runs[s] / f"{result}.json") for s in ("one", "default"))
    assert one == default


def test_shared_inputs_are_the_same_for_any_thread_count(runs):
    assert (runs["one"] / "folds.tsv").read_bytes() == (runs["default"] / "folds.tsv").read_bytes()
    p1, p2 = (ad.read_h5ad(runs[s] / "prepared.h5ad") for s in ("one", "default"))
    assert p1.uns.keys() == p2.uns.keys()
    assert np.array_equal(np.asarray(p1.X.todense() if hasattr(p1.X, "todense") else p1.X),
                          np.asarray(p2.X.todense() if hasattr(p2.X, "todense") else p2.X))
