"""Hostile and broken inputs through the CLI (issue #13): every one ends in one `Error:` line, the
documented exit code, no traceback, and no partial or leftover file.

Seeds and resample counts out of range, `run` over an OUTDIR with earlier results, result files of
another schema, a table cut mid-row, names that would write outside OUTDIR, output folders that are
read-only / full / missing, writes killed half-way, duplicate cell ids. A full disk or a read-only
folder cannot be made here (no mount, and tests may run as root, which chmod does not stop), so they
are simulated in-process by making os.fsync / os.open / os.mkdir fail with the real errno.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
from click.testing import CliRunner

from cellbench.cli import COMMANDS, LazyGroup, cli
from cellbench.cli._options import N_BOOT_MAX, SEED_MAX, NBootType, SeedListType, SeedType

DATA = Path(__file__).parent / "data"
PBMC = DATA / "pbmc68k_reduced.h5ad"
DEMO = DATA / "report_demo" / "results"
CELLBENCH = Path(sys.executable).parent / "cellbench"


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def one_error_line(res, code: int = 1) -> str:
    """The command failed with `code`, no traceback, and exactly one 'Error:' line; returns it."""
    assert res.exit_code == code, res.output
    assert res.exception is None or isinstance(res.exception, SystemExit), res.exception
    assert "Traceback" not in res.output
    errors = [line for line in res.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, res.output
    return errors[0]


def tree(folder: Path) -> list[str]:
    """Every path under `folder`, hidden ones included (temporaries are hidden)."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def embedding_args(output, *extra):
    return ["embedding", "--input", PBMC, "--obsm-key", "X_pca", "--label-key", "bulk_labels", "--n-boot", "0",
            "--output", output, *extra]


# --- seeds and resample counts -------------------------------------------------------------------


def _params(name: str):
    command = LazyGroup().get_command(None, name)
    return {p.name: p for p in command.params}


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_seed_and_n_boot_option_is_the_shared_checked_type(name):
    """One place checks seeds (0..2**32-1) and resample counts: every command's options use it."""
    params = _params(name)
    for key in ("seed", "seeds"):
        if key in params:
            assert isinstance(params[key].type, (SeedType, SeedListType)), (name, key)
    for key in ("n_boot", "compare_n_boot"):
        if key in params:
            assert isinstance(params[key].type, NBootType), (name, key)


SEEDED = sorted(n for n in COMMANDS if {"seed", "seeds"} & set(_params(n)))


@pytest.mark.parametrize("name", SEEDED)
@pytest.mark.parametrize("value", ["-1", str(SEED_MAX + 1), "4.5"])
def test_a_seed_out_of_range_is_a_usage_error(name, value, tmp_path):
    option = "--seeds" if name == "run" else "--seed"
    res = invoke(name, f"{option}={value}")
    line = one_error_line(res, code=2)
    assert option in line and "0 to 4294967295" in line
    assert tree(tmp_path) == []


def test_run_seeds_are_checked_one_by_one(tmp_path):
    for value, why in (("1,-3", "-3 is out of range"), ("7,7", "seed 7 is given twice"), (",", "at least one")):
        line = one_error_line(invoke("run", "--seeds", value, "--input", PBMC, "--obsm-key", "X_pca",
                                     "--label-key", "bulk_labels", "--outdir", tmp_path / "out"), code=2)
        assert why in line
    assert tree(tmp_path) == []


def test_the_largest_seed_is_accepted(tmp_path):
    out = tmp_path / "agg"
    res = invoke("aggregate", "--seed", SEED_MAX, "--output-prefix", out, DEMO / "embedding_X_pca_s42.json")
    assert res.exit_code == 0, res.output


@pytest.mark.parametrize("option,value", [("--n-boot", N_BOOT_MAX + 1), ("--n-boot", 5), ("--n-boot", -1),
                                          ("--compare-n-boot", 10**9)])
def test_n_boot_has_a_minimum_and_a_maximum(option, value, tmp_path):
    command = "report" if option == "--compare-n-boot" else "embedding"
    line = one_error_line(invoke(command, option, value), code=2)
    assert option in line and f"10 to {N_BOOT_MAX}" in line
    assert f"0, or 10 to {N_BOOT_MAX}" in invoke(command, "--help").output.replace("\n", " ").replace("  ", " ")


# --- cellbench run over an OUTDIR that holds earlier results ---------------------------------------


def test_run_reports_only_the_results_of_this_invocation(tmp_path):
    out = tmp_path / "out"
    common = ["run", "--input", PBMC, "--label-key", "bulk_labels", "--tasks", "embedding", "--no-baselines",
              "--n-boot", "0", "--outdir", out]
    first = invoke(*common, "--obsm-key", "X_pca", "--seeds", "1", "--no-report")
    assert first.exit_code == 0, first.output
    second = invoke(*common, "--obsm-key", "X_umap", "--seeds", "2")
    assert second.exit_code == 0, second.output
    # the earlier result stays on disk, but is neither in the summary nor in the report
    assert (out / "results" / "pbmc68k_reduced__X_pca__embedding__s1.json").exists()
    lines = (out / "report" / "aggregate.tsv").read_text().splitlines()
    header = lines[0].split("\t")
    rows = [dict(zip(header, line.split("\t"))) for line in lines[1:]]
    assert {r["model"] for r in rows} == {"X_umap"} and {r["seeds"] for r in rows} == {"2"}
    assert "X_pca" not in second.stdout


# --- result files and tables from elsewhere --------------------------------------------------------


@pytest.mark.parametrize("version,accepted", [("2.0", False), ("0.9", False), (None, False), (1, False),
                                              ("1.7", True)])
def test_aggregate_refuses_another_major_schema_version(tmp_path, version, accepted):
    results = tmp_path / "results"
    results.mkdir()
    shutil.copy(DEMO / "embedding_X_pca_s42.json", results / "a.json")
    doc = json.loads((DEMO / "embedding_X_umap_s42.json").read_text())
    if version is None:
        del doc["schema_version"]
    else:
        doc["schema_version"] = version
    (results / "b.json").write_text(json.dumps(doc))
    res = invoke("aggregate", "--output-prefix", tmp_path / "agg", results)
    if accepted:  # a newer MINOR only adds optional fields
        assert res.exit_code == 0, res.output
        return
    line = one_error_line(res)
    assert "b.json" in line and "1.x" in line
    assert tree(tmp_path) == ["results", "results/a.json", "results/b.json"]


@pytest.fixture(scope="module")
def table(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("table")
    files = sorted(str(p) for p in DEMO.glob("embedding_*.json"))
    res = invoke("aggregate", "--output-prefix", out / "aggregate", "--n-boot", "0", *files)
    assert res.exit_code == 0, res.output
    return out / "aggregate.tsv"


def _compare(path: Path, tmp_path: Path):
    return invoke("compare", "--table", path, "--output", tmp_path / "comparison.tsv", "--n-boot", "0")


def test_compare_refuses_a_table_cut_mid_row(table, tmp_path):
    text = table.read_text()
    assert _compare(table, tmp_path).exit_code == 0  # the whole table is fine
    (tmp_path / "comparison.tsv").unlink()
    last = text.rstrip("\n").rfind("\n")
    for cut in (last + 40, len(text) - 5):  # in the middle of the last row's columns, inside its params JSON
        bad = tmp_path / "cut.tsv"
        bad.write_text(text[:cut])
        line = one_error_line(_compare(bad, tmp_path))
        n_rows = text.count("\n") - 1
        assert "cut.tsv" in line and f"row {n_rows} (line {n_rows + 1})" in line, line
        assert tree(tmp_path) == ["cut.tsv"]


@pytest.mark.parametrize("column,value,why", [("mean", "abc", "not a number"), ("n", "2.5", "not an integer"),
                                              ("higher_is_better", "maybe", "not true/false"),
                                              ("seeds", "42,x", "not seeds")])
def test_compare_checks_the_types_of_the_table(table, tmp_path, column, value, why):
    lines = table.read_text().splitlines()
    header = lines[0].split("\t")
    cells = lines[2].split("\t")
    cells[header.index(column)] = value
    lines[2] = "\t".join(cells)
    bad = tmp_path / "typed.tsv"
    bad.write_text("\n".join(lines) + "\n")
    line = one_error_line(_compare(bad, tmp_path))
    assert f"typed.tsv: row 2 (line 3), column {column}: '{value}' is {why}" in line
    assert tree(tmp_path) == ["typed.tsv"]


# --- names that would write outside OUTDIR -----------------------------------------------------------


@pytest.fixture(scope="module")
def pbmc_npy(tmp_path_factory) -> Path:
    import anndata as ad
    import numpy as np

    path = tmp_path_factory.mktemp("npy") / "emb.npy"
    np.save(path, np.asarray(ad.read_h5ad(PBMC).obsm["X_pca"]))
    return path


@pytest.mark.parametrize("extra,what", [
    (["--embedding", "../../evil={npy}"], "representation name '../../evil'"),
    (["--embedding", "a/../../x={npy}"], "representation name 'a/../../x'"),
    (["--embedding", "X__y={npy}"], "representation name 'X__y'"),
    (["--obsm-key", "X_pca", "--dataset-name", "../../evil"], "dataset name '../../evil'"),
    (["--obsm-key", "X_pca", "--embedding", "X_pca={npy}"], "representation name 'X_pca' is given twice"),
    (["--embedding", "pca={npy}", "--counts-layer", "counts"], "representation name 'pca' is a baseline's name"),
])
def test_run_keeps_every_output_inside_outdir(tmp_path, pbmc_npy, extra, what):
    work = tmp_path / "a" / "b"
    work.mkdir(parents=True)
    extra = [e.format(npy=pbmc_npy) for e in extra]
    res = invoke("run", "--input", PBMC, "--label-key", "bulk_labels", "--tasks", "embedding", "--n-boot", "0",
                 "--no-report", "--outdir", work / "out", *extra)
    line = one_error_line(res)
    assert what in line
    assert tree(tmp_path) == ["a", "a/b"]


# --- output folders that are read-only, full or missing ---------------------------------------------


def _fail(monkeypatch, module, name: str, code: int, when=lambda *a, **k: True):
    """Make module.name raise OSError(code) whenever `when(*args)` holds."""
    real = getattr(module, name)

    def fake(*args, **kwargs):
        if when(*args, **kwargs):
            raise OSError(code, os.strerror(code))
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, fake)


def test_a_missing_output_folder_is_created(tmp_path):
    res = invoke(*embedding_args(tmp_path / "new" / "deeper" / "e.json"))
    assert res.exit_code == 0, res.output
    assert tree(tmp_path) == ["new", "new/deeper", "new/deeper/e.json"]


def test_a_read_only_output_folder_is_one_line(tmp_path, monkeypatch):
    ro = tmp_path / "ro"
    ro.mkdir()
    if os.geteuid() == 0:  # root writes through chmod 555: make the file system refuse instead
        _fail(monkeypatch, os, "open", errno.EACCES, lambda path, *a, **k: str(path).startswith(str(ro)))
    ro.chmod(0o555)
    try:
        line = one_error_line(invoke(*embedding_args(ro / "e.json")))
    finally:
        ro.chmod(0o755)
    assert line == f"Error: {ro / 'e.json'}: cannot write (Permission denied)"
    assert tree(tmp_path) == ["ro"]


def test_an_output_folder_that_cannot_be_created_is_one_line(tmp_path, monkeypatch):
    _fail(monkeypatch, os, "mkdir", errno.EROFS, lambda path, *a, **k: str(path).startswith(str(tmp_path)))
    line = one_error_line(invoke(*embedding_args(tmp_path / "new" / "e.json")))
    assert line == f"Error: {tmp_path / 'new' / 'e.json'}: cannot write (Read-only file system)"
    assert tree(tmp_path) == []


def test_a_full_disk_leaves_no_file_behind(tmp_path, monkeypatch):
    _fail(monkeypatch, os, "fsync", errno.ENOSPC)
    line = one_error_line(invoke(*embedding_args(tmp_path / "e.json")))
    assert line == f"Error: {tmp_path / 'e.json'}: cannot write (No space left on device)"
    assert tree(tmp_path) == []


def _report(results, outdir):
    return invoke("report", "--results", results, "--outdir", outdir, "--no-multiqc", "--n-boot", "0",
                  "--compare-n-boot", "0")


@pytest.fixture()
def some_results(tmp_path) -> Path:
    results = tmp_path / "results"
    results.mkdir()
    for p in DEMO.glob("embedding_*.json"):
        shutil.copy(p, results / p.name)
    return results


def test_a_full_disk_during_report_keeps_the_previous_report(tmp_path, some_results, monkeypatch):
    out = tmp_path / "report"
    assert _report(some_results, out).exit_code == 0
    before = {p: (out / p).read_bytes() for p in tree(out) if (out / p).is_file()}
    (some_results / "embedding_X_pca_s42.json").unlink()  # the new report would differ
    calls = []

    def fsync_then_full(fd):  # the disk fills up half-way through the report
        calls.append(fd)
        if len(calls) > 3:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", fsync_then_full)
    line = one_error_line(_report(some_results, out))
    assert line.startswith(f"Error: {out}") and line.endswith("cannot write (No space left on device)")
    assert {p: (out / p).read_bytes() for p in tree(out) if (out / p).is_file()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report", "results"]


def test_report_replaces_its_folder_whole_and_refuses_a_foreign_one(tmp_path, some_results):
    out = tmp_path / "report"
    assert _report(some_results, out).exit_code == 0
    (out / "plots" / "from_an_older_report.png").write_bytes(b"old")
    assert _report(some_results, out).exit_code == 0
    assert not (out / "plots" / "from_an_older_report.png").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report", "results"]
    # a folder holding anything else is not replaced: it would be deleted
    (out / "notes.txt").write_text("mine")
    before = tree(out)
    line = one_error_line(_report(some_results, out))
    assert f"{out}: holds 'notes.txt'" in line
    assert tree(out) == before


# --- writes killed half-way -----------------------------------------------------------------------------


def _dead_pid() -> int:
    pid = 4_000_000
    while True:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return pid
        except PermissionError:
            pass
        pid += 1


def test_temporaries_of_killed_writers_are_removed_by_the_next_write(tmp_path, some_results):
    dead = _dead_pid()
    stale = [tmp_path / f".e.json.{dead}.tmp", tmp_path / f".report.{dead}.tmp", tmp_path / f".report.{dead}.old"]
    stale[0].write_text('{"half": ')
    for d in stale[1:]:
        (d / "plots").mkdir(parents=True)
    alive = tmp_path / f".e.json.{os.getppid()}.tmp"  # a running process's write: left alone
    alive.write_text("")
    other = tmp_path / f".other.json.{dead}.tmp"  # another target's: not this write's business
    other.write_text("")
    assert invoke(*embedding_args(tmp_path / "e.json")).exit_code == 0
    assert _report(some_results, tmp_path / "report").exit_code == 0
    assert not any(p.exists() for p in stale)
    assert alive.exists() and other.exists()
    assert json.loads((tmp_path / "e.json").read_text())["task"] == "embedding"


def test_a_killed_writer_leaves_only_a_recognisable_temporary(tmp_path):
    """kill -9 half-way through a write: the target is untouched, the temporary is `.<name>.<pid>.tmp`."""
    code = ("import os, sys\nfrom cellbench.io.atomic import atomic_path\n"
            "with atomic_path(sys.argv[1]) as tmp:\n"
            "    print(os.getpid(), flush=True)\n"
            "    open(tmp, 'w').write('half')\n"
            "    os.kill(os.getpid(), 9)\n")
    target = tmp_path / "r.json"
    target.write_text("old")
    proc = subprocess.run([sys.executable, "-c", code, str(target)], capture_output=True, text=True, check=False)
    assert proc.returncode == -9
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == [f".r.json.{int(proc.stdout)}.tmp", "r.json"]
    # and the next write of the same target removes it
    assert invoke(*embedding_args(target)).exit_code == 0
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]


# --- duplicate cell ids ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dup_h5ad(tmp_path_factory) -> Path:
    import anndata as ad

    adata = ad.read_h5ad(PBMC)
    names = list(adata.obs_names)
    names[5] = names[2]
    path = tmp_path_factory.mktemp("dup") / "dup.h5ad"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # anndata's "not unique": what this file is for
        adata.obs_names = names
        adata.write_h5ad(path)
    return path


@pytest.mark.parametrize("args", [
    ["embedding", "--input", "{dup}", "--obsm-key", "X_pca", "--label-key", "bulk_labels"],
    ["clustering", "--input", "{dup}", "--obsm-key", "X_pca", "--label-key", "bulk_labels"],
    ["label-prediction", "--input", "{dup}", "--obsm-key", "X_pca", "--label-key", "bulk_labels"],
    ["embedding", "--input", str(PBMC), "--embedding", "{dup}", "--obsm-key", "X_pca", "--label-key", "bulk_labels"],
    ["baseline", "--input", "{dup}", "--layer", "counts"],
    ["extract", "--input", "{dup}", "--obsm-key", "X_pca"],
])
def test_duplicate_cell_ids_are_one_line_naming_the_file_and_an_id(tmp_path, dup_h5ad, args):
    import anndata as ad

    first = str(ad.read_h5ad(PBMC).obs_names[2])
    res = invoke(*[a.format(dup=dup_h5ad) for a in args], "--output", tmp_path / "out")
    line = one_error_line(res)
    assert line == f"Error: {dup_h5ad}: cell ids are not unique (first duplicate '{first}')"
    assert tree(tmp_path) == []


def test_duplicate_cell_ids_error_is_the_only_line_on_stderr(tmp_path, dup_h5ad):
    """No anndata warning before the error (a real process: pytest would swallow the warning)."""
    proc = subprocess.run([str(CELLBENCH), "embedding", "--input", str(dup_h5ad), "--obsm-key", "X_pca",
                           "--label-key", "bulk_labels", "--output", str(tmp_path / "e.json")],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 1
    assert proc.stderr.splitlines() == [proc.stderr.strip()] and "cell ids are not unique" in proc.stderr
    assert tree(tmp_path) == []

