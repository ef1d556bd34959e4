"""The example model image's script (containers/model-example/) against the container contract (docs/models.md).

The script runs as plain Python here (no Docker): on the bundled PBMC 68k data it writes a raw output
that `cellbench model-check` accepts and aligns to the dataset's cell order, with the provenance record;
the same seed gives the same embedding; weights replace the random projection; its documented failure
exits hold; and each kind of broken output (NaN, missing / extra / duplicate cells, no or empty X_emb)
makes `model-check` fail with one line naming the model and the dataset.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from cellbench.cli import COMMANDS, cli

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "containers" / "model-example" / "cellbench_example_model.py"
PBMC = ROOT / "tests" / "data" / "pbmc68k_reduced.h5ad"
MODEL, DATASET = "example_model", "pbmc68k_reduced"

needs_model_check = pytest.mark.skipif(
    "model-check" not in COMMANDS, reason="`cellbench model-check` (issue #14, M1) is not registered yet"
)


def load_script():
    spec = importlib.util.spec_from_file_location("cellbench_example_model", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


example = load_script()


def contract_args(output, seed=42, *extra):
    return ["--input", str(PBMC), "--output", str(output), "--seed", str(seed), "--device", "cpu",
            "--batch-size", "64", *extra]


def run_script(*args):
    """The script as the container runs it: a separate Python process."""
    return subprocess.run([sys.executable, str(SCRIPT), *args], check=False, capture_output=True, text=True,
                          timeout=300)


def model_check(raw, output, *extra):
    return CliRunner().invoke(cli, ["model-check", "--input", str(PBMC), "--embedding", str(raw), "--model", MODEL,
                                    "--dataset-name", DATASET, "--output", str(output), *map(str, extra)])


@pytest.fixture(scope="module")
def raw42(tmp_path_factory):
    out = tmp_path_factory.mktemp("example") / "raw.h5ad"
    res = run_script(*contract_args(out))
    assert res.returncode == 0, res.stderr
    return out


def test_the_output_follows_the_contract(raw42):
    data = ad.read_h5ad(PBMC)
    raw = ad.read_h5ad(raw42)
    assert list(raw.obs_names) == list(data.obs_names)
    assert raw.shape == (data.n_obs, 0)
    emb = raw.obsm["X_emb"]
    assert emb.dtype == np.float32 and emb.shape == (data.n_obs, example.N_DIMS)
    assert np.isfinite(emb).all() and emb.std(axis=0).min() > 0


def test_it_is_log1p_cp10k_times_a_seeded_gaussian(raw42):
    data = ad.read_h5ad(PBMC)
    counts = data.layers["counts"]
    counts = counts.toarray() if hasattr(counts, "toarray") else np.asarray(counts)
    logn = np.log1p(counts / counts.sum(axis=1, keepdims=True) * 1e4)
    proj = np.random.default_rng(42).normal(0.0, 1.0 / np.sqrt(32), size=(data.n_vars, 32))
    np.testing.assert_allclose(ad.read_h5ad(raw42).obsm["X_emb"], logn @ proj, rtol=1e-5, atol=1e-4)


def test_same_seed_same_embedding_other_seed_another(raw42, tmp_path):
    assert example.main(contract_args(tmp_path / "a.h5ad", 42, "--device", "cuda")) == 0  # cuda: CPU, said
    assert example.main(contract_args(tmp_path / "b.h5ad", 43)) == 0
    ref = ad.read_h5ad(raw42).obsm["X_emb"]
    assert np.array_equal(ad.read_h5ad(tmp_path / "a.h5ad").obsm["X_emb"], ref)
    assert not np.allclose(ad.read_h5ad(tmp_path / "b.h5ad").obsm["X_emb"], ref)


def test_the_batch_size_does_not_change_the_embedding(raw42, tmp_path):
    args = contract_args(tmp_path / "b7.h5ad")
    args[args.index("--batch-size") + 1] = "7"
    assert example.main(args) == 0
    np.testing.assert_allclose(ad.read_h5ad(tmp_path / "b7.h5ad").obsm["X_emb"], ad.read_h5ad(raw42).obsm["X_emb"],
                               rtol=1e-6, atol=1e-5)


def test_weights_replace_the_random_projection(tmp_path):
    data = ad.read_h5ad(PBMC, backed="r")
    n_genes = data.n_vars
    w = np.random.default_rng(0).normal(size=(n_genes, 5))
    np.save(tmp_path / "w.npy", w)
    assert example.main(contract_args(tmp_path / "file.h5ad", 42, "--weights", str(tmp_path / "w.npy"))) == 0
    emb = ad.read_h5ad(tmp_path / "file.h5ad").obsm["X_emb"]
    assert emb.shape == (data.n_obs, 5)
    # a folder with genes.txt: rows matched to the dataset's genes by id (here in reverse order)
    folder = tmp_path / "weights"
    folder.mkdir()
    np.save(folder / "projection.npy", w[::-1])
    (folder / "genes.txt").write_text("\n".join(list(data.var_names)[::-1]) + "\n")
    assert example.main(contract_args(tmp_path / "dir.h5ad", 42, "--weights", str(folder))) == 0
    np.testing.assert_allclose(ad.read_h5ad(tmp_path / "dir.h5ad").obsm["X_emb"], emb, rtol=1e-6, atol=1e-5)


@pytest.mark.parametrize(
    ("extra", "status", "says"),
    [
        (["--simulate", "exit3"], 3, "simulated failure"),
        (["--weights", "{tmp}/bad.npy"], 4, "have 3 rows, the dataset has 765 genes"),
        (["--weights", "{tmp}/missing.npy"], 4, "cannot read the weights"),
        (["--gene-col", "no_such_column"], 3, "is not a var column"),
    ],
)
def test_documented_failure_exits(tmp_path, capsys, extra, status, says):
    np.save(tmp_path / "bad.npy", np.ones((3, 4)))
    extra = [e.replace("{tmp}", str(tmp_path)) for e in extra]
    assert example.main(contract_args(tmp_path / "out.h5ad", 42, *extra)) == status
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith("cellbench-example-model: error:") and says in last, last
    assert not (tmp_path / "out.h5ad").exists()


def test_unreadable_input_and_bad_arguments_as_a_process(tmp_path):
    res = run_script("--input", str(tmp_path / "none.h5ad"), "--output", str(tmp_path / "o.h5ad"), "--seed", "1",
                     "--device", "cpu", "--batch-size", "8")
    assert res.returncode == 3 and "cannot read the dataset" in res.stderr.strip().splitlines()[-1]
    res = run_script(*contract_args(tmp_path / "o.h5ad", 42, "--device", "tpu"))
    assert res.returncode == 2 and "--device" in res.stderr
    res = run_script(*contract_args(tmp_path / "o.h5ad", 42, "--simulate", "crash"))
    assert res.returncode == 1 and "simulated crash" in res.stderr.strip().splitlines()[-1]


# --- through `cellbench model-check` ------------------------------------------------------------------


@needs_model_check
def test_model_check_aligns_a_shuffled_output_and_records_provenance(raw42, tmp_path):
    raw = ad.read_h5ad(raw42)
    order = np.random.default_rng(1).permutation(raw.n_obs)
    shuffled = ad.AnnData(X=np.zeros((raw.n_obs, 0), np.float32), obs=pd.DataFrame(index=raw.obs_names[order]))
    shuffled.obsm["X_emb"] = raw.obsm["X_emb"][order].astype(np.float64)  # any numeric dtype is accepted
    shuffled.write_h5ad(tmp_path / "shuffled.h5ad")
    weights = tmp_path / "w.npy"
    np.save(weights, np.zeros((2, 2)))
    res = model_check(tmp_path / "shuffled.h5ad", tmp_path / "out.h5ad", "--image",
                      "cellbench-e2e/model-example:latest", "--seed", 42, "--weights", weights,
                      "--command", "cellbench-example-model")
    assert res.exit_code == 0, res.output
    out = ad.read_h5ad(tmp_path / "out.h5ad")
    assert list(out.obs_names) == list(ad.read_h5ad(PBMC, backed="r").obs_names)
    assert out.shape[1] == 0 and out.obsm["X_emb"].dtype == np.float32
    assert np.array_equal(out.obsm["X_emb"], raw.obsm["X_emb"])
    rec = out.uns["cellbench_model"]
    assert rec["runner"] == "container" and rec["model"] == MODEL and rec["dataset"] == DATASET
    assert rec["image"] == "cellbench-e2e/model-example:latest" and int(rec["seed"]) == 42
    assert len(rec["weights_sha256"]) == 64


def broken(kind, raw42, tmp_path) -> Path:
    """A raw output broken the way `kind` says (the script's --simulate, or made here)."""
    path = tmp_path / f"{kind}.h5ad"
    if kind == "empty-embedding":
        raw = ad.read_h5ad(raw42)
        raw.obsm["X_emb"] = np.zeros((raw.n_obs, 0), np.float32)
        raw.write_h5ad(path)
    elif kind == "inf":
        raw = ad.read_h5ad(raw42)
        raw.obsm["X_emb"][3, 1] = np.inf
        raw.write_h5ad(path)
    else:
        assert example.main(contract_args(path, 42, "--simulate", kind)) == 0
    return path


@needs_model_check
@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize(
    "kind", ["nan", "inf", "missing-cells", "extra-cells", "duplicate-cells", "no-embedding", "empty-embedding"]
)
def test_model_check_refuses_bad_outputs_in_one_line(raw42, tmp_path, kind):
    res = model_check(broken(kind, raw42, tmp_path), tmp_path / "out.h5ad")
    assert res.exit_code != 0, res.output
    assert "Traceback" not in res.output
    errors = [line for line in res.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, res.output
    assert MODEL in errors[0] and DATASET in errors[0], errors[0]
    assert not (tmp_path / "out.h5ad").exists()
