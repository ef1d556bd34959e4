"""Models run inside cellbench (issue #14): the harmony and scVI runners, the container output contract,
and the provenance record from the runner's file through an extract to a result JSON.

Real data only: harmony on Baron 2016 human pancreas (4 donors, tests/data/README.md), scVI and the
contract on the PBMC 68k reduced cells. The scVI tests need scvi-tools (`pip install 'cellbench[scvi]'`);
they skip without it unless CELLBENCH_REQUIRE_SCVI=1, which makes a missing scvi-tools a failure.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import warnings
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from cellbench.cli import cli

DATA = Path(__file__).parent / "data"
BARON = DATA / "baron2016_pancreas_human.h5ad"
PBMC = DATA / "pbmc68k_reduced.h5ad"
RECORD_FIELDS = {"runner", "runner_version", "model", "dataset", "seed", "params", "packages", "image",
                 "image_digest", "weights_sha256", "device"}


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def ok(*args):
    res = invoke(*args)
    assert res.exit_code == 0, res.output
    return res


def one_error_line(res) -> str:
    assert res.exit_code != 0, res.output
    assert res.exception is None or isinstance(res.exception, SystemExit), res.exception
    assert "Traceback" not in res.output
    errors = [line for line in res.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, res.output
    return errors[0]


def result(path) -> dict:
    return json.loads(Path(path).read_text())


def metric(path, name) -> float:
    return next(m["value"] for m in result(path)["metrics"] if m["metric_type"] == name and not m["params"])


# --- harmony -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def baron_runs(tmp_path_factory):
    """harmony (twice: 1 and 2 threads) and the PCA baseline of Baron human, same seed."""
    tmp = tmp_path_factory.mktemp("harmony")
    for name, threads in (("h1", 1), ("h2", 2)):
        ok("model-harmony", "--input", BARON, "--batch-key", "donor", "--seed", 42, "--threads", threads,
           "--output", tmp / f"{name}.h5ad")
    ok("baseline", "--input", BARON, "--method", "pca", "--seed", 42, "--output", tmp / "pca.h5ad")
    return tmp


def test_harmony_is_the_same_bytes_twice_at_any_thread_count(baron_runs):
    assert (baron_runs / "h1.h5ad").read_bytes() == (baron_runs / "h2.h5ad").read_bytes()


def test_harmony_output_is_the_runner_format(baron_runs):
    out = ad.read_h5ad(baron_runs / "h1.h5ad")
    dataset = ad.read_h5ad(BARON, backed="r")
    assert list(out.obs_names) == list(dataset.obs_names)
    assert out.shape == (dataset.n_obs, 0)
    emb = out.obsm["X_emb"]
    assert emb.dtype == np.float32 and emb.shape == (dataset.n_obs, 50) and np.isfinite(emb).all()
    record = out.uns["cellbench_model"]
    assert set(record) == RECORD_FIELDS
    assert record["runner"] == "harmony" and record["model"] == "harmony"
    assert record["dataset"] == "baron2016_pancreas_human" and int(record["seed"]) == 42
    assert record["params"]["batch_key"] == "donor" and int(record["params"]["n_pcs"]) == 50
    assert record["runner_version"] == record["packages"]["harmonypy"]
    assert record["image"] == "" and record["weights_sha256"] == "" and record["device"] == "cpu"


def test_harmony_starts_from_the_pca_baseline(baron_runs):
    """Same PCA (the baseline's, same seed), so the comparison below measures the correction alone."""
    from cellbench.models.harmony import harmony_correct

    pcs = ad.read_h5ad(baron_runs / "pca.h5ad").obsm["X_pca"]
    donors = ad.read_h5ad(BARON).obs["donor"].astype(str).to_numpy()
    again = harmony_correct(pcs, donors, seed=42).astype(np.float32)
    assert np.array_equal(again, ad.read_h5ad(baron_runs / "h1.h5ad").obsm["X_emb"])


def test_harmony_mixes_donors_better_than_pca_and_keeps_cell_types(baron_runs):
    """Batch mixing (entropy_per_cell over donors) rises clearly: 0.696 -> 0.872 here. The cell-type
    silhouette may not fall by more than 0.05: harmony corrects within clusters of similar cells, so
    cell types stay apart (here it even rises, 0.610 -> 0.624); 0.05 is the slack for other library
    versions, a tenth of the gap between this silhouette and that of a random representation (0.5)."""
    scores = {}
    for name, key in (("h1", "X_emb"), ("pca", "X_pca")):
        emb = baron_runs / f"{name}.h5ad"
        common = ["--input", BARON, "--embedding", emb, "--obsm-key", key, "--label-key", "cell_type1",
                  "--n-boot", 0]
        ok("integration", *common, "--batch-key", "donor", "--output", baron_runs / f"int_{name}.json")
        ok("embedding", *common, "--output", baron_runs / f"emb_{name}.json")
        scores[name] = (metric(baron_runs / f"int_{name}.json", "entropy_per_cell"),
                        metric(baron_runs / f"emb_{name}.json", "silhouette_score"))
    assert scores["h1"][0] > scores["pca"][0] + 0.1, scores
    assert scores["h1"][1] > scores["pca"][1] - 0.05, scores
    # the runner's record reaches the result; the precomputed baseline has none
    assert result(baron_runs / "int_h1.json")["model_provenance"]["runner"] == "harmony"
    assert result(baron_runs / "int_pca.json")["model_provenance"] is None
    assert result(baron_runs / "int_pca.json")["schema_version"] == "1.2"


def test_harmony_needs_two_batches_and_raw_counts(tmp_path):
    line = one_error_line(invoke("model-harmony", "--input", BARON, "--batch-key", "species",
                                 "--output", tmp_path / "h.h5ad"))
    assert "obs column 'species'" in line and "at least 2" in line
    line = one_error_line(invoke("model-harmony", "--input", PBMC, "--batch-key", "phase",
                                 "--output", tmp_path / "h.h5ad"))
    assert "not raw counts" in line  # pbmc's X is scaled; its counts are in layer 'counts'
    line = one_error_line(invoke("model-harmony", "--input", PBMC, "--batch-key", "nope", "--counts-layer",
                                 "counts", "--output", tmp_path / "h.h5ad"))
    assert "obs column 'nope' not found" in line
    assert list(tmp_path.iterdir()) == []


def test_harmony_takes_the_largest_seed():
    from cellbench.models.harmony import harmony_correct

    rng = np.random.default_rng(0)
    pcs, batch = rng.normal(size=(300, 10)), np.repeat(["a", "b"], 150)
    runs = [harmony_correct(pcs, batch, seed=s) for s in (2**31 - 1, 2**31, 2**32 - 1)]
    assert all(np.isfinite(z).all() and z.shape == (300, 10) for z in runs)
    assert not np.array_equal(runs[1], runs[2])


# --- the container contract --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pbmc_ids():
    return np.asarray(ad.read_h5ad(PBMC, backed="r").obs_names).astype(str)


def write_raw(path, ids, emb=None, key="X_emb"):
    out = ad.AnnData(obs=pd.DataFrame(index=pd.Index(list(ids))))
    if emb is not None:
        out.obsm[key] = emb
    out.write_h5ad(path)
    return path


def check(tmp_path, raw, *extra):
    return invoke("model-check", "--input", PBMC, "--embedding", raw, "--model", "mymodel", "--dataset-name", "pbmc",
                  "--output", tmp_path / "out.h5ad", *extra)


def test_model_check_aligns_a_shuffled_output_and_records_its_provenance(tmp_path, pbmc_ids):
    rng = np.random.default_rng(1)
    emb = rng.normal(size=(len(pbmc_ids), 8))
    order = rng.permutation(len(pbmc_ids))
    raw = write_raw(tmp_path / "raw.h5ad", pbmc_ids[order], emb[order])
    weights = tmp_path / "weights"
    (weights / "sub").mkdir(parents=True)
    (weights / "model.pt").write_bytes(b"\x00weights")
    (weights / "sub" / "vocab.json").write_text("{}")
    ok("model-check", "--input", PBMC, "--embedding", raw, "--model", "mymodel", "--image", "ghcr.io/me/m:1",
       "--image-digest", "sha256:abc", "--weights", weights, "--seed", 7, "--command", "embed.py --x",
       "--output", tmp_path / "out.h5ad")
    out = ad.read_h5ad(tmp_path / "out.h5ad")
    assert list(out.obs_names) == list(pbmc_ids) and out.shape == (len(pbmc_ids), 0)
    assert out.obsm["X_emb"].dtype == np.float32
    assert np.array_equal(out.obsm["X_emb"], emb.astype(np.float32))
    record = out.uns["cellbench_model"]
    assert set(record) == RECORD_FIELDS
    assert (record["runner"], record["model"], record["dataset"], int(record["seed"])) == (
        "container", "mymodel", "pbmc68k_reduced", 7)
    assert (record["image"], record["image_digest"]) == ("ghcr.io/me/m:1", "sha256:abc")
    assert record["params"]["command"] == "embed.py --x" and record["params"]["weights"] == "weights"
    # the folder's digest: sha256 of its sorted '<relative path>\t<sha256>\n' lines
    lines = sorted(f"{rel}\t{hashlib.sha256((weights / rel).read_bytes()).hexdigest()}\n"
                   for rel in ("model.pt", "sub/vocab.json"))
    assert record["weights_sha256"] == hashlib.sha256("".join(lines).encode()).hexdigest()


def test_model_check_hashes_a_weights_file_and_leaves_unknowns_empty(tmp_path, pbmc_ids):
    raw = write_raw(tmp_path / "raw.h5ad", pbmc_ids, np.ones((len(pbmc_ids), 1), dtype=np.int64))
    (tmp_path / "w.bin").write_bytes(b"abc")
    ok("model-check", "--input", PBMC, "--embedding", raw, "--model", "m", "--weights", tmp_path / "w.bin",
       "--output", tmp_path / "out.h5ad")
    record = ad.read_h5ad(tmp_path / "out.h5ad").uns["cellbench_model"]
    assert record["weights_sha256"] == hashlib.sha256(b"abc").hexdigest()
    assert record["seed"] == "" and record["image"] == "" and record["image_digest"] == ""


def _renamed(ids):
    out = ids.copy()
    out[3] = "not-a-cell"
    return out


BAD_OUTPUTS = {
    # name: (cell ids of the raw output from the dataset's, embedding from n rows, what the error says)
    "wrong cell ids": (_renamed, lambda n: np.zeros((n, 4)), "not in the dataset"),
    "a missing cell": (lambda ids: ids[1:], lambda n: np.zeros((n, 4)), "1 of the dataset's 700 cells are missing"),
    "an extra cell": (lambda ids: np.append(ids, "extra-cell"), lambda n: np.zeros((n, 4)), "first 'extra-cell'"),
    "a repeated cell": (lambda ids: np.append(ids[:-1], ids[0]), lambda n: np.zeros((n, 4)), "not unique"),
    "NaN": (lambda ids: ids, lambda n: np.where(np.arange(n)[:, None] == 5, np.nan, np.zeros((n, 3))),
            "NaN/inf value(s)"),
    "inf beyond float32": (lambda ids: ids, lambda n: np.full((n, 2), 1e300), "NaN/inf value(s)"),
    "0 columns": (lambda ids: ids, lambda n: np.zeros((n, 0)), "0 columns"),
    "3-d": (lambda ids: ids, lambda n: np.zeros((n, 2, 2)), "has shape"),
    "strings": (lambda ids: ids, lambda n: np.array([["a"]] * n, dtype=object), "not numeric"),
    "no X_emb": (lambda ids: ids, lambda n: None, "no obsm['X_emb']"),
}


@pytest.mark.parametrize("case", sorted(BAD_OUTPUTS))
def test_a_bad_model_output_is_one_line_naming_model_dataset_and_file(tmp_path, pbmc_ids, case):
    make_ids, make_emb, says = BAD_OUTPUTS[case]
    ids = make_ids(pbmc_ids)
    raw = tmp_path / "raw_output.h5ad"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # anndata's warning about the repeated id
        write_raw(raw, ids, make_emb(len(ids)))
    line = one_error_line(check(tmp_path, raw))
    assert "model 'mymodel' on dataset 'pbmc'" in line and "raw_output.h5ad" in line and says in line, line
    assert not (tmp_path / "out.h5ad").exists()


def test_an_output_that_is_no_h5ad_is_one_line_too(tmp_path):
    raw = tmp_path / "raw_output.h5ad"
    raw.write_text("Traceback (most recent call last): the model crashed\n")
    line = one_error_line(check(tmp_path, raw))
    assert "model 'mymodel' on dataset 'pbmc'" in line and "not an h5ad file" in line
    line = one_error_line(check(tmp_path, tmp_path / "never_written.h5ad"))
    assert "model 'mymodel' on dataset 'pbmc'" in line and "not found" in line


# --- provenance into results -------------------------------------------------------------------------


def test_provenance_reaches_results_directly_and_through_an_extract(tmp_path, pbmc_ids):
    raw = write_raw(tmp_path / "raw.h5ad", pbmc_ids, np.random.default_rng(3).normal(size=(len(pbmc_ids), 6)))
    model_file = tmp_path / "pbmc.m.h5ad"
    ok("model-check", "--input", PBMC, "--embedding", raw, "--model", "m", "--seed", 42, "--image", "img:1",
       "--output", model_file)
    record = json.loads(json.dumps(ad.read_h5ad(model_file).uns["cellbench_model"], default=lambda v: v.item()))
    extract = tmp_path / "pbmc__m.extract.h5ad"
    ok("extract", "--input", PBMC, "--embedding", model_file, "--obsm-key", "X_emb", "--obs-key", "bulk_labels",
       "--obs-key", "phase", "--output", extract)
    assert ad.read_h5ad(extract).uns["cellbench_model"]["image"] == "img:1"
    common = ["--label-key", "bulk_labels", "--model-name", "m", "--dataset-name", "pbmc", "--n-boot", 0]
    ok("embedding", "--input", PBMC, "--embedding", model_file, "--obsm-key", "X_emb", *common,
       "--output", tmp_path / "direct.json")
    ok("embedding", "--input", extract, *common, "--output", tmp_path / "extract.json")
    direct, via = result(tmp_path / "direct.json"), result(tmp_path / "extract.json")
    assert direct["model_provenance"] == via["model_provenance"] == record
    assert direct["metrics"] == via["metrics"]
    # an extract of an extract keeps the record; label prediction's folds and merge carry it too
    again = tmp_path / "again.h5ad"
    ok("extract", "--input", extract, "--obs-key", "bulk_labels", "--output", again)
    ok("label-split", "--input", PBMC, "--label-key", "bulk_labels", "--n-folds", 2, "--output", tmp_path / "folds.tsv")
    for fold in (0, 1):
        ok("label-fold", "--input", again, "--folds", tmp_path / "folds.tsv", "--fold", fold, "--classifier", "knn",
           "--model-name", "m", "--n-boot", 0, "--output", tmp_path / f"fold{fold}.json")
        assert result(tmp_path / f"fold{fold}.json")["model_provenance"] == record
    ok("label-merge", "--classifiers", "knn", "--n-boot", 0, "--output", tmp_path / "merged.json",
       tmp_path / "fold0.json", tmp_path / "fold1.json")
    assert result(tmp_path / "merged.json")["model_provenance"] == record


def test_cross_species_results_record_each_species_model(tmp_path):
    from cellbench.io.species import species_provenance

    class Species:
        def __init__(self, name, record):
            self.name, self.model_provenance = name, record

    assert species_provenance([Species("human", None), Species("mouse", None)]) is None
    assert species_provenance([Species("human", {"runner": "scvi"}), Species("mouse", None)]) == {
        "human": {"runner": "scvi"}}


def test_precomputed_results_are_unchanged_apart_from_the_schema(tmp_path):
    ok("embedding", "--input", PBMC, "--obsm-key", "X_pca", "--label-key", "bulk_labels", "--n-boot", 0,
       "--output", tmp_path / "r.json")
    doc = result(tmp_path / "r.json")
    assert doc["schema_version"] == "1.2" and doc["model_provenance"] is None
    # a 1.1 result (written before this field) still reads
    from cellbench.io.results import read_result

    del doc["model_provenance"]
    doc["schema_version"] = "1.1"
    (tmp_path / "old.json").write_text(json.dumps(doc))
    assert read_result(tmp_path / "old.json").model_provenance is None


# --- cellbench run --runner ----------------------------------------------------------------------------


def test_run_with_the_harmony_runner(tmp_path):
    out = tmp_path / "out"
    ok("run", "--input", PBMC, "--runner", "harmony", "--counts-layer", "counts", "--batch-key", "phase",
       "--label-key", "bulk_labels", "--tasks", "integration", "--no-baselines", "--no-report", "--n-boot", 0,
       "--seeds", "42,43", "--outdir", out)
    model_file = out / "prepared" / "models" / "pbmc68k_reduced.harmony.h5ad"
    assert ad.read_h5ad(model_file).uns["cellbench_model"]["runner"] == "harmony"
    for seed in (42, 43):
        doc = result(out / "results" / f"pbmc68k_reduced__harmony__integration__s{seed}.json")
        assert doc["model"] == "harmony" and doc["model_provenance"]["runner"] == "harmony"
        assert doc["model_provenance"]["seed"] == 42  # the runner runs once, with the first seed


def test_run_harmony_without_a_batch_key_is_one_line_before_any_work(tmp_path):
    res = invoke("run", "--input", PBMC, "--runner", "harmony", "--label-key", "bulk_labels", "--outdir", tmp_path / "o")
    line = one_error_line(res)
    assert res.exit_code == 2 and "--runner harmony needs --batch-key" in line
    assert not (tmp_path / "o").exists()


# --- scVI --------------------------------------------------------------------------------------------

HAVE_SCVI = importlib.util.find_spec("scvi") is not None


def require_scvi():
    if not HAVE_SCVI:
        if os.environ.get("CELLBENCH_REQUIRE_SCVI") == "1":
            pytest.fail("CELLBENCH_REQUIRE_SCVI=1 but scvi-tools is not importable: pip install 'cellbench[scvi]'")
        pytest.skip("scvi-tools is not installed (pip install 'cellbench[scvi]'); CELLBENCH_REQUIRE_SCVI=1 fails instead")


@pytest.mark.skipif(HAVE_SCVI, reason="checks the message when scvi-tools is missing")
def test_model_scvi_without_scvi_tools_is_one_line(tmp_path):
    line = one_error_line(invoke("model-scvi", "--input", PBMC, "--output", tmp_path / "s.h5ad"))
    assert line == "Error: scvi-tools is not installed: pip install 'cellbench[scvi]' or use the cellbench-scvi image"
    res = invoke("run", "--input", PBMC, "--runner", "scvi", "--label-key", "bulk_labels", "--outdir", tmp_path / "o")
    assert "scvi-tools is not installed" in one_error_line(res)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_scvi_is_deterministic_on_cpu_and_beats_a_random_projection(tmp_path):
    """Same bytes twice on CPU with one seed. Bound: the cell-type silhouette of the scVI latent (10-d,
    a few epochs) beats that of a seeded Gaussian random projection of the log-normalised counts to as
    many dimensions, the floor any learned representation of these cells should clear."""
    require_scvi()
    args = ["model-scvi", "--input", PBMC, "--counts-layer", "counts", "--batch-key", "phase", "--max-epochs", 10,
            "--device", "cpu", "--seed", 42]
    ok(*args, "--output", tmp_path / "s1.h5ad")
    ok(*args, "--output", tmp_path / "s2.h5ad")
    assert (tmp_path / "s1.h5ad").read_bytes() == (tmp_path / "s2.h5ad").read_bytes()
    out = ad.read_h5ad(tmp_path / "s1.h5ad")
    record = out.uns["cellbench_model"]
    assert set(record) == RECORD_FIELDS and record["runner"] == "scvi" and record["device"] == "cpu"
    assert {"scvi-tools", "torch", "lightning"} <= set(record["packages"])
    assert out.obsm["X_emb"].shape == (700, 10) and out.obsm["X_emb"].dtype == np.float32

    counts = ad.read_h5ad(PBMC).layers["counts"]
    counts = counts.toarray() if hasattr(counts, "toarray") else np.asarray(counts)
    lognorm = np.log1p(counts / counts.sum(axis=1, keepdims=True) * 1e4)
    np.save(tmp_path / "random.npy", lognorm @ np.random.default_rng(42).normal(size=(counts.shape[1], 10)))
    for name, opts in (("scvi", ["--embedding", tmp_path / "s1.h5ad", "--obsm-key", "X_emb"]),
                       ("random", ["--embedding", tmp_path / "random.npy"])):
        ok("embedding", "--input", PBMC, *opts, "--label-key", "bulk_labels", "--n-boot", 0,
           "--output", tmp_path / f"{name}.json")
    scvi_score, random_score = (metric(tmp_path / f"{n}.json", "silhouette_score") for n in ("scvi", "random"))
    assert scvi_score > random_score, (scvi_score, random_score)
    assert result(tmp_path / "scvi.json")["model_provenance"]["runner"] == "scvi"
