"""The baseline, clustering, embedding, integration and sequential commands through click."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import anndata as ad
import numpy as np
import pytest
from click.testing import CliRunner

from cellbench.cli import cli

DATA = Path(__file__).parent / "data"
PBMC = DATA / "pbmc68k_reduced.h5ad"
HSMM = DATA / "hsmm_myoblast_timecourse.h5ad"

REF_ARI = 0.4283151035913065
REF_NMI = 0.6440463095273833
REF_SILHOUETTE = 0.550262451171875
REF_ENTROPY = 0.5239676829925008
REF_BATCH_SILHOUETTE = 0.8981001973152161

PBMC_TASKS = {
    "clustering": ["--label-key", "bulk_labels"],
    "embedding": ["--label-key", "bulk_labels"],
    "integration": ["--label-key", "bulk_labels", "--batch-key", "phase"],
}


def invoke(*args):
    return CliRunner().invoke(cli, ["-q", *map(str, args)])


def read(path):
    return json.loads(Path(path).read_text())


def metric_values(result):
    return {(m["metric_type"], json.dumps(m["params"], sort_keys=True)): m["value"] for m in result["metrics"]}


def stable_bytes(path):
    data = read(path)
    data.pop("wall_time_s")
    data.pop("peak_rss_mb")
    return json.dumps(data, sort_keys=True)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli")
    for task, extra in PBMC_TASKS.items():
        for rep in (1, 2):
            r = invoke(task, "--input", PBMC, "--obsm-key", "X_pca", *extra, "--output", out / f"{task}{rep}.json")
            assert r.exit_code == 0, r.output
    for rep in (1, 2):
        r = invoke("clustering", "--input", PBMC, "--obsm-key", "X_pca", "--label-key", "bulk_labels",
                   "--resolution-sweep", "--output", out / f"sweep{rep}.json")
        assert r.exit_code == 0, r.output
    r = invoke("baseline", "--input", HSMM, "--method", "pca", "--seed", 42, "--output", out / "hsmm_pca.h5ad")
    assert r.exit_code == 0, r.output
    for key, extra in (("time_hours", []), ("Hours", []), ("Hours", ["--adaptive-k"])):
        name = f"seq_{key}{'_adaptive' if extra else ''}"
        for rep in (1, 2):
            r = invoke("sequential", "--input", HSMM, "--embedding", out / "hsmm_pca.h5ad", "--obsm-key", "X_pca",
                       "--time-key", key, *extra, "--output", out / f"{name}{rep}.json")
            assert r.exit_code == 0, r.output
    return out


def test_clustering_result(runs):
    res = read(runs / "clustering1.json")
    assert res["task"] == "clustering" and res["dataset"] == "pbmc68k_reduced" and res["model"] == "X_pca"
    assert res["seed"] == 42 and res["n_cells"] == 700
    got = metric_values(res)
    assert got == pytest.approx({("adjusted_rand_index", "{}"): REF_ARI, ("normalized_mutual_info", "{}"): REF_NMI},
                                abs=1e-9)
    assert res["params"]["n_clusters"] == 9 and "resolution_sweep" not in res["params"]
    assert res["inputs"][0]["role"] == "dataset" and res["inputs"][0]["name"] == PBMC.name


def test_clustering_sweep_result(runs):
    res = read(runs / "sweep1.json")
    got = metric_values(res)
    assert len(got) == 4
    assert got[("adjusted_rand_index", "{}")] == pytest.approx(REF_ARI, abs=1e-9)
    sweep = res["params"]["resolution_sweep"]
    best = next(row for row in sweep["runs"] if row["resolution"] == sweep["best_resolution"])
    assert got[("normalized_mutual_info", '{"resolution": "best"}')] == best["normalized_mutual_info"]
    assert got[("adjusted_rand_index", '{"resolution": "best"}')] == best["adjusted_rand_index"]


def test_embedding_and_integration_results(runs):
    emb = read(runs / "embedding1.json")
    assert emb["task"] == "embedding"
    assert metric_values(emb)[("silhouette_score", "{}")] == pytest.approx(REF_SILHOUETTE, abs=1e-5)
    integ = read(runs / "integration1.json")
    assert integ["task"] == "integration"
    got = metric_values(integ)
    assert got[("entropy_per_cell", "{}")] == pytest.approx(REF_ENTROPY, abs=3e-3)
    assert got[("batch_silhouette", "{}")] == pytest.approx(REF_BATCH_SILHOUETTE, abs=1e-5)


def test_baseline_file(runs):
    base = ad.read_h5ad(runs / "hsmm_pca.h5ad")
    hsmm = ad.read_h5ad(HSMM)
    assert list(base.obs_names) == list(hsmm.obs_names)
    assert base.n_vars == 0 and base.obsm["X_pca"].shape == (hsmm.n_obs, 50)
    assert base.uns["cellbench_baseline"]["method"] == "pca"


def test_sequential_results(runs):
    hours = read(runs / "seq_time_hours1.json")
    ordered = read(runs / "seq_Hours1.json")
    assert hours["task"] == "sequential" and hours["model"] == "X_pca"
    assert [m["metric_type"] for m in hours["metrics"]] == ["silhouette_score", "sequential_alignment"]
    # time points 24 h apart: hours and ordered ranks give the same scores
    assert metric_values(hours) == pytest.approx(metric_values(ordered), abs=1e-12)
    adaptive = read(runs / "seq_Hours_adaptive1.json")
    assert ("sequential_alignment", '{"adaptive_k": true, "k": 15}') in metric_values(adaptive)


@pytest.mark.parametrize("name", ["clustering", "sweep", "embedding", "integration", "seq_time_hours", "seq_Hours",
                                  "seq_Hours_adaptive"])
def test_deterministic_bytes(runs, name):
    assert stable_bytes(runs / f"{name}1.json") == stable_bytes(runs / f"{name}2.json")


def test_time_order_list_and_npy_embedding(runs, tmp_path):
    base = ad.read_h5ad(runs / "hsmm_pca.h5ad")
    npy = tmp_path / "emb.npy"
    np.save(npy, base.obsm["X_pca"])
    hours = sorted(ad.read_h5ad(HSMM).obs["Hours"].astype(str).unique(), key=float)
    r = invoke("sequential", "--input", HSMM, "--embedding", npy, "--time-key", "Hours", "--time-order",
               ",".join(hours), "--output", tmp_path / "s.json")
    assert r.exit_code == 0, r.output
    res = read(tmp_path / "s.json")
    assert res["params"]["time_order"] == hours and res["model"] == "emb"
    assert metric_values(res) == pytest.approx(metric_values(read(runs / "seq_Hours1.json")), abs=1e-12)


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("bad")
    pbmc = ad.read_h5ad(PBMC)
    one = pbmc.copy()
    one.obs["only"] = "same"
    one.write_h5ad(d / "one_label.h5ad")
    nan = pbmc.copy()
    nan.obsm["X_pca"] = nan.obsm["X_pca"].copy()
    nan.obsm["X_pca"][3, 2] = np.nan
    nan.obsm["X_inf"] = nan.obsm["X_pca"].copy()
    nan.obsm["X_inf"][3, 2] = np.inf
    nan.write_h5ad(d / "nan.h5ad")
    np.save(d / "short.npy", pbmc.obsm["X_pca"][:-5])
    (d / "notes.h5ad").write_text("not an hdf5 file\n")
    return d


BAD_CASES = [
    (["clustering", "--input", "{missing}", "--obsm-key", "X_pca", "--label-key", "bulk_labels"], "not found"),
    (["embedding", "--input", "{notes}", "--obsm-key", "X_pca", "--label-key", "bulk_labels"], "not an h5ad"),
    (["embedding", "--input", PBMC, "--obsm-key", "X_pca", "--label-key", "nope"], "obs column 'nope' not found"),
    (["integration", "--input", PBMC, "--obsm-key", "X_pca", "--label-key", "bulk_labels", "--batch-key", "nope"],
     "obs column 'nope' not found"),
    (["clustering", "--input", "{nan}", "--obsm-key", "X_pca", "--label-key", "bulk_labels"], "NaN/inf"),
    (["embedding", "--input", "{nan}", "--obsm-key", "X_inf", "--label-key", "bulk_labels"], "NaN/inf"),
    (["embedding", "--input", PBMC, "--embedding", "{short}", "--label-key", "bulk_labels"], "695 rows"),
    (["clustering", "--input", PBMC, "--obsm-key", "X_nope", "--label-key", "bulk_labels"],
     "obsm key 'X_nope' not found"),
    (["clustering", "--input", "{one}", "--obsm-key", "X_pca", "--label-key", "only"], "at least 2 distinct"),
    (["embedding", "--input", "{one}", "--obsm-key", "X_pca", "--label-key", "only"], "at least 2 distinct"),
    (["integration", "--input", "{one}", "--obsm-key", "X_pca", "--label-key", "bulk_labels", "--batch-key",
      "only"], "at least 2 distinct batches"),
    (["sequential", "--input", PBMC, "--obsm-key", "X_pca", "--time-key", "bulk_labels"], "not numeric"),
    (["sequential", "--input", PBMC, "--obsm-key", "X_pca", "--time-key", "phase", "--time-order", "G1,S"],
     "not in the given order"),
    (["baseline", "--input", PBMC, "--method", "pca"], "negative values"),
    (["baseline", "--input", PBMC, "--layer", "nope"], "layer 'nope' not found"),
]


@pytest.mark.parametrize("args, needle", BAD_CASES)
def test_bad_input_one_line_error_no_output(args, needle, tmp_path, bad_files):
    subst = {
        "{missing}": tmp_path / "absent.h5ad",
        "{notes}": bad_files / "notes.h5ad",
        "{nan}": bad_files / "nan.h5ad",
        "{short}": bad_files / "short.npy",
        "{one}": bad_files / "one_label.h5ad",
    }
    args = [subst.get(a, a) if isinstance(a, str) else a for a in args]
    target = tmp_path / ("out.h5ad" if args[0] == "baseline" else "result.json")
    r = invoke(*args, "--output", target)
    assert r.exit_code == 1, r.output
    message = r.output.strip()
    assert message.startswith("Error: ") and len(message.splitlines()) == 1, message
    assert needle in message, message
    named = {str(a) for a in args if isinstance(a, Path)}
    assert any(n in message for n in named), message  # names the file
    columns = [args[args.index(key) + 1] for key in ("--label-key", "--batch-key", "--time-key") if key in args]
    if any(word in needle for word in ("column", "distinct", "numeric", "order")):
        assert any(f"column '{c}'" in message for c in columns), message  # and the column
    assert not target.exists()
    assert not list(tmp_path.glob(f".{target.name}*"))  # no temporary left either


def test_help_has_description_and_example():
    for name in ("baseline", "clustering", "embedding", "integration", "sequential"):
        r = invoke(name, "--help")
        assert r.exit_code == 0 and "Example: cellbench " + name in r.output.replace("\n", " ")


def test_task_commands_do_not_import_scanpy_or_numba(tmp_path):
    code = (
        "import sys\n"
        "from cellbench.cli import main\n"
        f"sys.argv = ['cellbench', 'clustering', '--input', {str(PBMC)!r}, '--obsm-key', 'X_pca', '--label-key', "
        f"'bulk_labels', '--output', {str(tmp_path / 'c.json')!r}]\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('scanpy', 'numba', 'umap', 'pynndescent', 'jax', 'scib_metrics') if m in sys.modules]\n"
        "print(','.join(heavy) or 'none')\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "none"
    assert read(tmp_path / "c.json")["metrics"][0]["value"] == pytest.approx(REF_ARI, abs=1e-9)


def test_knn_mode_comes_from_the_environment_at_the_cli_edge(tmp_path):
    """CELLBENCH_KNN is --knn's default, read and checked by click (any case); below 8192 cells the
    graph is exact whatever it says, and params.knn records that."""
    args = ["clustering", "--input", str(PBMC), "--obsm-key", "X_pca", "--label-key", "bulk_labels", "--n-boot", "0",
            "--output", str(tmp_path / "c.json")]
    r = CliRunner().invoke(cli, args, env={"CELLBENCH_KNN": "IVF"})
    assert r.exit_code == 0, r.output
    assert read(tmp_path / "c.json")["params"]["knn"] == "exact"
    r = CliRunner().invoke(cli, args, env={"CELLBENCH_KNN": "fast"})
    assert r.exit_code == 2 and "'fast' is not one of" in r.output, r.output
