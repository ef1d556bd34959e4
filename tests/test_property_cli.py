"""Property test of the command line against random and hostile inputs (issue #13).

Hypothesis draws small datasets with awkward shapes (0 cells, 0 or 1 dimension, one class, every cell its
own class), dtypes (float16 to int64, bool), values (NaN, inf, finite values beyond float32), labels and cell
ids (empty, duplicated, unicode, shell syntax), folds tables and obs queries, and runs real `cellbench`
commands on them. Whatever the input, each run must end in one of two ways:

- exit 0 with a valid result file, every metric value finite or an explicit null with a reason; or
- a non-zero exit with a one-line `Error:` message, no traceback and no output file;

and never leave a temporary file behind or run anything a value contains.
"""

from __future__ import annotations

import json
import math
import os
import warnings
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cellbench.cli import cli

# Values a careless or hostile user might put in a label, a batch or a cell id. Shell syntax here would
# create PWNED in the working directory if anything passed a value to a shell.
PWNED = "pwned_by_a_value"
NASTY = ["a", "b", "c", "", " ", "nan", "None", "é", "型", "a b", "1", "1.0", "-0",
         f"$(touch {PWNED})", f"`touch {PWNED}`", f";touch {PWNED}", "'", '"', "\n", "\\", "../x", "{}"]

SETTINGS = settings(max_examples=int(os.environ.get("CELLBENCH_PROPERTY_EXAMPLES", "25")), deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
                    derandomize=True, database=None)


@st.composite
def datasets(draw):
    """A small AnnData: obs columns label/batch/time, a representation in obsm['X_emb']."""
    n = draw(st.sampled_from([0, 1, 2, 3, 5, 8, 13, 24, 40]))
    d = draw(st.sampled_from([0, 1, 2, 3, 8]))
    dtype = draw(st.sampled_from(["float32", "float64", "float16", "int64", "int8", "bool"]))
    special = draw(st.sampled_from(["plain", "nan", "inf", "huge", "constant", "tiny"]))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    emb = rng.normal(size=(n, d))
    if n and d:
        if special == "nan":
            emb[rng.integers(n), rng.integers(d)] = np.nan
        elif special == "inf":
            emb[rng.integers(n), rng.integers(d)] = np.inf
        elif special == "huge":
            emb[rng.integers(n), rng.integers(d)] = 1e39
        elif special == "constant":
            emb[:] = 1.0
        elif special == "tiny":
            emb *= 1e-300
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        emb = emb.astype(dtype) if dtype != "bool" else emb > 0

    label_pool = draw(st.lists(st.sampled_from(NASTY), min_size=1, max_size=4, unique=True))
    labels_mode = draw(st.sampled_from(["pool", "unique", "one"]))
    if labels_mode == "unique":
        labels = [f"cell_type_{i}" for i in range(n)]
    elif labels_mode == "one":
        labels = [label_pool[0]] * n
    else:
        labels = [label_pool[int(i)] for i in rng.integers(len(label_pool), size=n)]
    batch_pool = draw(st.lists(st.sampled_from(NASTY), min_size=1, max_size=3, unique=True))
    batches = [batch_pool[int(i)] for i in rng.integers(len(batch_pool), size=n)]
    ids_mode = draw(st.sampled_from(["plain", "duplicate", "nasty"]))
    if ids_mode == "duplicate" and n > 1:
        ids = [f"c{i}" for i in range(n - 1)] + ["c0"]
    elif ids_mode == "nasty":
        ids = [f"{NASTY[i % len(NASTY)]}_{i}" for i in range(n)]
    else:
        ids = [f"c{i}" for i in range(n)]
    obs = pd.DataFrame({"label": pd.Categorical(labels), "batch": pd.Categorical(batches),
                        "time": pd.Categorical([str(i % 3) for i in range(n)])},
                       index=pd.Index(ids, dtype=object))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # anndata warns about duplicate ids: the command must refuse them
        adata = ad.AnnData(X=np.zeros((n, 3), dtype=np.float32), obs=obs)
        adata.obsm["X_emb"] = emb
    return adata


def write_h5ad(adata: ad.AnnData, path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        adata.write_h5ad(path)


def check_outcome(result, work: Path, outputs: list[Path], inputs: set[Path]) -> None:
    """The contract every command keeps, whatever the input."""
    assert not (work / PWNED).exists() and not (Path.cwd() / PWNED).exists(), "a value was executed"
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        import traceback

        tb = "".join(traceback.format_exception(result.exception))
        raise AssertionError(f"traceback instead of a one-line error:\n{tb}")
    text = result.output
    assert "Traceback" not in text, text
    leftovers = [p.name for p in work.rglob("*") if p.is_file() and p not in inputs and p not in outputs]
    assert not [x for x in leftovers if "tmp" in x.lower()], f"temporary files left: {leftovers}"
    if result.exit_code == 0:
        for out in outputs:
            assert out.exists(), f"exit 0 but {out.name} missing"
            if out.suffix == ".json":
                check_result_json(out)
    else:
        errors = [line for line in text.splitlines() if line.startswith("Error")]
        assert len(errors) == 1, f"expected one 'Error:' line, got:\n{text}"
        message = errors[0]
        assert len(message) < 2000, message
        for out in outputs:
            assert not out.exists(), f"failed (exit {result.exit_code}) but left {out.name}: {message}"


def check_result_json(path: Path) -> None:
    """Every metric is a finite number or an explicit null that says why."""
    doc = json.loads(path.read_text())
    assert doc.get("schema_version"), path
    for metric in doc.get("metrics", []):
        value = metric.get("value")
        if value is None:
            assert metric.get("reason") or (metric.get("params") or {}).get("reason"), (
                f"{path.name}: {metric.get('name')} is null without a reason")
        else:
            assert isinstance(value, (int, float)) and math.isfinite(value), (
                f"{path.name}: {metric.get('name')} = {value!r}")


def run(args: list[str], work: Path, outputs: list[Path], inputs: set[Path]):
    runner = CliRunner()
    old = Path.cwd()
    os.chdir(work)  # a value run by a shell would land here
    try:
        result = runner.invoke(cli, args, catch_exceptions=True)
    finally:
        os.chdir(old)
    check_outcome(result, work, outputs, inputs)
    return result


def fresh(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("prop")


EMBEDDING_COMMANDS = {
    "embedding": ["--label-key", "label"],
    "clustering": ["--label-key", "label"],
    "integration": ["--label-key", "label", "--batch-key", "batch"],
    "sequential": ["--time-key", "time"],
}


@pytest.mark.parametrize("command", sorted(EMBEDDING_COMMANDS))
@SETTINGS
@given(adata=datasets(), seed=st.one_of(st.integers(0, 2**32 - 1), st.integers(-(2**40), 2**70)))
def test_embedding_commands_on_random_datasets(tmp_path_factory, command, adata, seed):
    work = fresh(tmp_path_factory)
    data = work / "data.h5ad"
    write_h5ad(adata, data)
    out = work / "result.json"
    run([command, "--input", str(data), "--obsm-key", "X_emb", *EMBEDDING_COMMANDS[command],
         "--seed", str(seed), "--n-boot", "10", "--output", str(out)], work, [out], {data})


@SETTINGS
@given(adata=datasets(), min_class=st.integers(0, 5), n_folds=st.integers(0, 6),
       classifier=st.sampled_from(["lr", "knn", "rf"]))
def test_label_split_and_fold_on_random_datasets(tmp_path_factory, adata, min_class, n_folds, classifier):
    work = fresh(tmp_path_factory)
    data = work / "data.h5ad"
    write_h5ad(adata, data)
    folds = work / "folds.tsv"
    split = run(["label-split", "--input", str(data), "--label-key", "label", "--min-class-size",
                 str(min_class), "--n-folds", str(n_folds), "--output", str(folds)], work, [folds], {data})
    if split.exit_code != 0:
        return
    out = work / "fold.json"
    run(["label-fold", "--input", str(data), "--obsm-key", "X_emb", "--folds", str(folds), "--fold", "0",
         "--classifier", classifier, "--n-boot", "10", "--output", str(out)], work, [out], {data, folds})


FOLD_CELLS = st.sampled_from(["fold", "0", "1", "-1", "99999999999999999999999", "²", "1.5", "", "nan",
                              "０", "c0", "c1", "c2", "c3", "label", "a", "$(touch pwned_by_a_value)"])


@SETTINGS
@given(rows=st.lists(st.lists(FOLD_CELLS, min_size=0, max_size=4), min_size=0, max_size=6),
       header=st.sampled_from(["cell_id\tlabel\tfold", "cell_id\tfold", "", "x\ty\tz"]))
def test_label_fold_with_hostile_folds_tables(tmp_path_factory, rows, header):
    work = fresh(tmp_path_factory)
    n = 4
    adata = ad.AnnData(X=np.zeros((n, 2), dtype=np.float32),
                       obs=pd.DataFrame({"label": pd.Categorical(["a", "a", "b", "b"])},
                                        index=[f"c{i}" for i in range(n)]))
    adata.obsm["X_emb"] = np.arange(n * 2, dtype=np.float32).reshape(n, 2)
    data = work / "data.h5ad"
    write_h5ad(adata, data)
    folds = work / "folds.tsv"
    folds.write_text("\n".join([header, *("\t".join(r) for r in rows)]) + "\n")
    out = work / "fold.json"
    run(["label-fold", "--input", str(data), "--obsm-key", "X_emb", "--folds", str(folds), "--fold", "0",
         "--classifier", "knn", "--n-boot", "0", "--output", str(out)], work, [out], {data, folds})


QUERY_ATOMS = st.sampled_from([
    "n_genes", "grna_umi_max", "gene_target", "control", "'NT'", '"NT"', "0", "1e3", "-1", "True", "nan",
    ">=", "<", "==", "!=", "and", "or", "not", "in", "[", "]", "(", ")", ",", "@", "`", "__class__",
    "__import__('os').system('touch pwned_by_a_value')", "$(touch pwned_by_a_value)", ";", "lambda", ".",
])


@SETTINGS
@given(atoms=st.lists(QUERY_ATOMS, min_size=0, max_size=8))
def test_perturbation_prepare_with_random_queries(tmp_path_factory, atoms):
    """Random token soups as --obs-query on real perturbation data: a clear error or a valid prepare."""
    work = fresh(tmp_path_factory)
    data = Path(__file__).parent / "data" / "papalexi2021_thp1_crispr_lowmoi.h5ad"
    out = work / "prepared.h5ad"
    query = " ".join(atoms)
    result = run(["perturbation-prepare", "--input", str(data), "--obs-query", query, "--condition", "CUL3",
                  "--output", str(out)], work, [out], {data})
    assert result.exit_code != 0 or out.exists()


SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.floats(allow_nan=True),
                    st.sampled_from(NASTY), st.just([]), st.just({}))


@SETTINGS
@given(doc=st.fixed_dictionaries({}, optional={
    "schema_version": st.sampled_from(["1.0.0", "1.1.0", "2.0.0", "0.1", "", None, 1]),
    "task": st.sampled_from(["embedding", "clustering", "nope", None, 3]),
    "dataset": SCALARS, "model": SCALARS, "seed": SCALARS,
    "metrics": st.one_of(SCALARS, st.lists(st.fixed_dictionaries({}, optional={
        "name": SCALARS, "value": SCALARS, "params": st.one_of(SCALARS, st.just({"a": 1}))}), max_size=3)),
}), garbage=st.sampled_from(["", "{", "[]", "null", '{"a": 1}']))
def test_aggregate_with_hostile_result_files(tmp_path_factory, doc, garbage):
    work = fresh(tmp_path_factory)
    results = work / "results"
    results.mkdir()
    (results / "one.json").write_text(json.dumps(doc))
    (results / "two.json").write_text(garbage)
    inputs = {results / "one.json", results / "two.json"}
    prefix = work / "agg"
    run(["aggregate", str(results), "--output-prefix", str(prefix), "--n-boot", "0"], work,
        [work / "agg.tsv"], inputs)
