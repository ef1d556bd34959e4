"""The pipeline's `-profile test` plan, executed without Nextflow, on the bundled data.

The repository's CI (.ci/run) has no Nextflow. This test walks the channel logic of workflows/cellbench.nf and its
subworkflows for the test profile (the same samplesheets, params and ext.args, read from the
pipeline's own files) and runs every task it would run, in a valid dataflow order, each in its own
work folder with its inputs staged under the names Nextflow gives them. Every command is the module's
`script:` block rendered with those values (see pipeline_support), so a command line, an input name,
an output glob or a file handed from one process to the next that does not fit fails here. The
commands run in this process through click (one Python start-up instead of ~90); MultiQC runs as
the module's shell command.

The Python mirror of the channel logic below is the part of the pipeline this test cannot take from
the .nf files; `nextflow run . -profile test` (docs/pipeline.md) and the nf-test pipeline test
(tests/main.nf.test) run the real thing where Nextflow exists.
"""

from __future__ import annotations

import contextlib
import csv
import importlib.util
import json
import os
import subprocess
import sys
from itertools import product
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import pipeline_support as ps

ROOT = ps.ROOT
UTILS = ROOT / "subworkflows" / "local" / "utils_cellbench" / "main.nf"
CPUS = 1
FIELDS = ps.groovy_function_value(UTILS, "processFields")
OBS_COLUMNS = ps.groovy_function_value(UTILS, "taskObsColumns")


def slim(meta: dict, process: str) -> dict:
    """slim() of utils_cellbench: the meta fields the process uses, nothing else."""
    return {k: v for k, v in meta.items() if k in FIELDS[process]}


def extract_obs_keys(meta: dict) -> list[str]:
    """extractObsKeys() of utils_cellbench: the obs columns the representation's tasks read, fixed order."""
    needed = {f for t in meta["tasks"] for f in OBS_COLUMNS.get(t, [])}
    order = dict.fromkeys(f for fields in OBS_COLUMNS.values() for f in fields)
    return list(dict.fromkeys(meta[f] for f in order if f in needed and meta.get(f)))



class Runner:
    """Runs processes as Nextflow would: a work folder each, inputs staged, outputs globbed."""

    def __init__(self, work: Path, params: dict, selectors, stub: bool = False):
        self.stub = stub  # run each process's stub block instead of its command (Nextflow's -stub)
        self.work = work
        self.params = params
        self.selectors = selectors
        self.processes = ps.local_processes()
        self.processes["MULTIQC"] = ps.parse_process(ROOT / "modules" / "nf-core" / "multiqc" / "main.nf")
        self.processes["MODEL_CONTAINER"] = ps.parse_process(ROOT / "modules" / "local" / "model_container" / "main.nf")
        self.qualified = ps.qualified_names()
        self.log: list[tuple[str, list[str]]] = []  # (process, argv) in run order

    def run(self, name: str, values: dict) -> dict[str, list[Path]]:
        proc = self.processes[name]
        workdir = self.work / f"{len(self.log):03d}_{name.lower()}"
        workdir.mkdir(parents=True)
        env, staged = {}, set()
        for decls in proc.inputs:
            for d in decls:
                v = values[d.name]
                if d.kind == "val":
                    env[d.name] = v
                    continue
                files = [Path(f) for f in (v if isinstance(v, list) else [v])]
                names = []
                for i, f in enumerate(files):
                    rel = ps.stage_name(d.stage_as, f.name, i + 1)
                    target = workdir / rel
                    assert not target.exists(), f"{name}: two inputs staged as {rel}"
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.symlink_to(f.resolve())
                    names.append(rel)
                    staged.add(rel)
                env[d.name] = [] if not names else names[0] if len(names) == 1 else ps.StagedList(names)
        labels = [v.strip("'\"") for v in proc.directives.get("label", [])]
        qualified = self.qualified[name][0]
        args = ps.ext_args_for(qualified, labels, self.selectors, self.params, values.get("meta"))
        env["task"] = ps.Obj(cpus=CPUS, ext=ps.Obj(args=args, prefix=None), process=qualified)
        env["workflow"] = ps.Obj(containerEngine="docker")
        shell = proc.render(env)
        lines = [argv for argv in ps.command_argv(shell) if argv]
        assert len(lines) == 1, f"{name}: expected one command, got {lines}"
        argv = lines[0]
        self.log.append((name, argv))
        if self.stub:
            stub = proc.render(env, "stub")
            subprocess.run(["bash", "-eu", "-o", "pipefail", "-c", stub], check=True, cwd=workdir)
        elif argv[0] == "cellbench":
            self._cellbench(argv[1:], workdir, name)
        else:
            path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
            res = subprocess.run(["bash", "-eu", "-o", "pipefail", "-c", shell], check=False, cwd=workdir,
                                 capture_output=True,
                                 text=True, env=dict(os.environ, PATH=path))
            assert res.returncode == 0, f"{name} failed:\n{res.stderr[-3000:]}"
        out: dict[str, list[Path]] = {}
        for pattern, decl in proc.output_patterns(env):
            hits = ps.glob_outputs(workdir, pattern, staged)
            assert hits or decl.optional, f"{name}: no output matches '{pattern}' in {workdir}"
            out.setdefault(decl.emit, []).extend(hits)
        return out

    @staticmethod
    def _cellbench(args: list[str], workdir: Path, name: str):
        from cellbench.cli import cli

        with contextlib.chdir(workdir):
            try:
                cli.main(args=args, prog_name="cellbench", standalone_mode=False)
            except Exception as exc:  # the message names the command line, not just the error
                raise AssertionError(f"{name}: `cellbench {' '.join(args)}` failed: {exc!r}") from exc


# ---- the samplesheets, as subworkflows/local/utils_cellbench reads them


def read_sheet(path: Path) -> list[dict]:
    with open(path, newline="") as fh:
        return [{k: (v.strip() or None) for k, v in r.items()} for r in csv.DictReader(fh)]


def resolve(value: str, base: Path) -> Path:
    return Path(value) if value.startswith("/") else (base / value).resolve()


def read_datasets(sheet: Path, catalog: Path) -> list[tuple[dict, Path]]:
    by_name = {r["dataset"]: r for r in read_sheet(catalog)}
    needs = ps.groovy_function_value(UTILS, "requiredColumns")
    out = []
    for r in read_sheet(sheet):
        fields = {**by_name.get(r["dataset"], {}), **{k: v for k, v in r.items() if v is not None}}
        tasks = list(dict.fromkeys(t.strip() for t in fields["tasks"].split(";")))
        for t in tasks:
            for col in needs[t]:
                assert fields.get(col), f"{sheet}: {r['dataset']}: task {t} needs {col}"
        h5ad = resolve(r["h5ad"], sheet.parent)
        assert h5ad.exists(), h5ad
        meta = {"id": fields["dataset"], "organism": fields.get("organism"), "tasks": tasks}
        for key in ("label_key", "batch_key", "time_key", "sample_key", "counts_layer", "species_group",
                    "condition_key", "control_name", "match_key", "obs_query"):
            meta[key] = fields.get(key)
        order = fields.get("time_order")
        meta["time_order"] = ",".join(t.strip() for t in order.replace(";", ",").split(",") if t.strip()) if order else None
        out.append((meta, h5ad))
    return out


def read_models(sheet: Path) -> list[tuple[dict, list, list]]:
    out = []
    for r in read_sheet(sheet):
        emb = [resolve(r["embedding"], sheet.parent)] if r.get("embedding") else []
        pred = [resolve(r["prediction"], sheet.parent)] if r.get("prediction") else []
        image = r.get("image")
        out.append(({"model": r["model"], "dataset": r["dataset"], "obsm_key": r.get("obsm_key"),
                     "layer": r.get("layer"), "runner": r.get("runner"), "image": image,
                     "image_digest": image.split("@", 1)[1] if image and "@" in image else None,
                     "command": r.get("command"),
                     "weights": [resolve(r["weights"], sheet.parent)] if r.get("weights") else []}, emb, pred))
    return out


def run_models(R: Runner, models, by_id: dict, seed: int, embed_tasks: list) -> list[tuple[dict, Path, list]]:
    """The rows with a runner (workflows/cellbench.nf): harmony / scvi, or a model container then its
    check, with the first seed; each output becomes a representation with obsm_key X_emb."""
    reps = []
    for m, _emb, _pred in models:
        meta, h5ad = by_id[m["dataset"]]
        if not m.get("runner") or not any(t in embed_tasks for t in meta["tasks"]):
            continue
        run = {**meta, "model": m["model"], "runner": m["runner"], "image": m["image"],
               "image_digest": m["image_digest"], "command": m["command"], "seed": seed}
        if m["runner"] == "container":
            raw = R.run("MODEL_CONTAINER", {"meta": slim(run, "model_container"), "h5ad": h5ad,
                                            "weights": m["weights"]})["raw"][0]
            out = R.run("CELLBENCH_MODEL_CHECK", {"meta": slim(run, "model_check"), "h5ad": h5ad, "raw": raw,
                                                  "weights": m["weights"]})
        else:
            process = f"model_{m['runner']}"
            out = R.run(f"CELLBENCH_{process.upper()}", {"meta": slim(run, process), "h5ad": h5ad})
        rep = {"model": m["model"], "obsm_key": "X_emb", "layer": None, "baseline": False,
               "tasks": [t for t in meta["tasks"] if t in embed_tasks]}
        reps.append(({**meta, **rep}, h5ad, out["h5ad"]))
    return reps


# ---- workflows/cellbench.nf and its subworkflows, for one profile


def run_plan(work: Path, overrides: dict | None = None, stub: bool = False,
             profile: str = "test") -> tuple[Runner, list[Path], dict]:
    """Run a test profile's plan (params overridden as on the command line); with stub, run the stubs."""
    configs = [ROOT / "conf" / "test.config"] + ([ROOT / "conf" / f"{profile}.config"] if profile != "test" else [])
    params = ps.read_params(ROOT / "nextflow.config", *configs)
    params.update(overrides or {})
    selectors = ps.read_ext_args(ROOT / "conf" / "modules.config", ROOT / "conf" / "test.config")
    R = Runner(work, params, selectors, stub=stub)
    names = ps.groovy_function_value(UTILS, "baselineNames")
    on_tasks = ps.groovy_function_value(UTILS, "baselineTasks")
    embed_tasks = ps.groovy_function_value(UTILS, "embeddingTasks")
    seeds = [int(s) for s in str(params["seeds"]).split(",")]
    baselines = [b.strip() for b in params["baselines"].split(",")]
    classifiers = [c.strip() for c in params["classifiers"].split(",")]
    n_folds = int(params["n_folds"])

    datasets = read_datasets(Path(params["input"]), Path(params["catalog"]))
    models = read_models(Path(params["models"]))
    by_id = {m["id"]: (m, h) for m, h in datasets}

    # representations
    reps = []
    for m, emb, pred in models:
        if not m["runner"] and (emb or m["obsm_key"] or (m["layer"] and not pred)):
            meta, h5ad = by_id[m["dataset"]]
            rep = {"model": m["model"], "obsm_key": m["obsm_key"], "layer": m["layer"], "baseline": False,
                   "tasks": [t for t in meta["tasks"] if t in embed_tasks]}
            reps.append(({**meta, **rep}, h5ad, emb))
    baseline_files = {}
    for meta, h5ad in datasets:
        if names["pca"] in baselines and any(t in on_tasks["pca"] for t in meta["tasks"]):
            pca = R.run("CELLBENCH_BASELINE", {"meta": slim({**meta, "seed": seeds[0]}, "baseline"),
                                               "h5ad": h5ad})["h5ad"][0]
            baseline_files[meta["id"]] = pca
            rep = {"model": names["pca"], "obsm_key": "X_pca", "layer": None, "baseline": True,
                   "tasks": [t for t in meta["tasks"] if t in on_tasks["pca"]]}
            reps.append(({**meta, **rep}, h5ad, [pca]))
    reps += run_models(R, models, by_id, seeds[0], embed_tasks)
    for meta, h5ad in datasets:
        if names["raw"] in baselines and any(t in on_tasks["raw"] for t in meta["tasks"]):
            rep = {"model": names["raw"], "obsm_key": None, "layer": meta["counts_layer"], "baseline": True,
                   "tasks": [t for t in meta["tasks"] if t in on_tasks["raw"]]}
            reps.append(({**meta, **rep}, h5ad, []))
    # one extract per representation with a task, then representation x seed: (meta, extract)
    extracts = []
    for meta, h5ad, emb in reps:
        if meta["tasks"]:
            values = {"meta": slim({**meta, "obs_keys": extract_obs_keys(meta)}, "extract"), "h5ad": h5ad,
                      "embedding": emb}
            extracts.append((meta, R.run("CELLBENCH_EXTRACT", values)["h5ad"][0]))
    units = [({**meta, "seed": s}, extract) for (meta, extract), s in product(extracts, seeds)]
    datasets_seeded = [({**meta, "seed": s}, h5ad) for (meta, h5ad), s in product(datasets, seeds)]
    results: list[Path] = []

    # EMBEDDING_TASKS
    for task in ("clustering", "embedding", "integration", "sequential"):
        for meta, extract in units:
            if task in meta["tasks"]:
                out = R.run(f"CELLBENCH_{task.upper()}", {"meta": slim(meta, task), "extract": extract})
                results += out["result"]

    # LABEL_PREDICTION
    folds = {}
    for meta, h5ad in datasets_seeded:
        if "label_prediction" in meta["tasks"]:
            folds[(meta["id"], meta["seed"])] = R.run("CELLBENCH_LABEL_SPLIT", {"meta": slim(meta, "label_split"),
                                                                                "h5ad": h5ad})["folds"][0]
    for meta, extract in units:
        if "label_prediction" not in meta["tasks"]:
            continue
        fold_results = []
        for fold, clf in product(range(n_folds), classifiers):
            values = {"meta": slim({**meta, "fold": fold, "classifier": clf}, "label_fold"), "extract": extract,
                      "folds": folds[(meta["id"], meta["seed"])]}
            fold_results += R.run("CELLBENCH_LABEL_FOLD", values)["result"]
        fold_results.sort(key=lambda p: p.name)
        results += R.run("CELLBENCH_LABEL_MERGE", {"meta": slim(meta, "label_merge"), "fold_results": fold_results})["result"]

    # CROSS_SPECIES
    def species_groups(task):
        groups: dict[tuple, list] = {}
        for meta, extract in units:
            if task in meta["tasks"]:
                groups.setdefault((meta["species_group"], meta["model"], meta["seed"]), []).append((meta, extract))
        for key, members in groups.items():
            members.sort(key=lambda x: x[0]["organism"])
            ms = [m for m, _ in members]
            meta = {"id": key[0], "model": key[1], "seed": key[2],
                    "species": [m["organism"] for m in ms],
                    "label_keys": [m["label_key"] for m in ms],
                    "sample_keys": [m["sample_key"] for m in ms] if all(m["sample_key"] for m in ms) else None}
            yield meta, [x for _, x in members]

    for meta, extracts in species_groups("cross_species_integration"):
        if len(meta["species"]) >= 2:
            results += R.run("CELLBENCH_CROSS_SPECIES_INTEGRATION",
                             {"meta": slim(meta, "cross_species_integration"), "extracts": extracts})["result"]
    for meta, extracts in species_groups("cross_species_label"):
        for train, test in product(meta["species"], repeat=2):
            chosen = [train] if train == test else [train, test]
            idx = [meta["species"].index(s) for s in chosen]
            sub = {**meta, "species": chosen,
                   "label_keys": [meta["label_keys"][i] for i in idx],
                   "sample_keys": [meta["sample_keys"][i] for i in idx] if meta["sample_keys"] else None,
                   "train_species": train, "test_species": test}
            values = {"meta": slim(sub, "cross_species_label"), "extracts": [extracts[i] for i in idx]}
            results += R.run("CELLBENCH_CROSS_SPECIES_LABEL", values)["result"]

    # PERTURBATION
    prepared = {}
    for meta, h5ad in datasets_seeded:
        if "perturbation" in meta["tasks"]:
            prepared[(meta["id"], meta["seed"])] = R.run("CELLBENCH_PERTURBATION_PREPARE",
                                                         {"meta": slim(meta, "perturbation_prepare"),
                                                          "h5ad": h5ad})["prepared"][0]
    predictions = []
    for m, _emb, pred in models:
        if pred and "perturbation" in by_id[m["dataset"]][0]["tasks"]:
            predictions.append(({**by_id[m["dataset"]][0], "model": m["model"], "layer": m["layer"], "baseline": False}, pred))
    for meta, _h5ad in datasets:
        if "perturbation" in meta["tasks"]:
            for b in (names["no_change"], names["other_mean"]):
                if b in baselines:
                    predictions.append(({**meta, "model": b, "layer": None, "baseline": True}, []))
    for (meta, pred), s in product(predictions, seeds):
        values = {"meta": slim({**meta, "seed": s}, "perturbation"), "prepared": prepared[(meta["id"], s)],
                  "prediction": pred}
        results += R.run("CELLBENCH_PERTURBATION", values)["result"]

    # gather
    results.sort(key=lambda p: p.name)
    table = R.run("CELLBENCH_AGGREGATE", {"results": results})
    report = R.run("CELLBENCH_REPORT", {"table": table["tsv"][0]})
    versions = work / "cellbench_software_mqc_versions.yml"
    from cellbench import __version__

    ran = sorted({name for name, _ in R.log})
    versions.write_text("".join(f"{n}:\n    cellbench: {__version__}\n" for n in ran))
    outputs = {"table": table, "report": report, "baseline_files": baseline_files}
    if (stub or importlib.util.find_spec("multiqc") is not None) and not params["skip_multiqc"]:
        configs = [ROOT / "assets" / "multiqc_config.yml", report["multiqc_config"][0]]
        outputs["multiqc"] = R.run("MULTIQC", {"multiqc_files": report["mqc"] + [versions], "multiqc_config": configs,
                                               "extra_multiqc_config": [], "multiqc_logo": [], "replace_names": [],
                                               "sample_names": []})
    return R, results, outputs


@pytest.fixture(scope="module")
def plan(tmp_path_factory):
    return run_plan(tmp_path_factory.mktemp("plan"))


def load(results):
    return [json.loads(p.read_text()) for p in results]


@pytest.mark.slow
def test_every_process_ran(plan):
    R, _, _ = plan
    ran = {name for name, _ in R.log}
    models = {n for n in R.processes if "MODEL_" in n}  # -profile test_models runs them (below)
    assert ran >= set(R.processes) - models - ({"MULTIQC"} if importlib.util.find_spec("multiqc") is None else set())
    assert not ran & models


@pytest.mark.slow
def test_fan_out_of_the_test_profile(plan):
    R, results, _ = plan
    got = {(r["task"], r["dataset"], r["model"]) for r in load(results)}
    expected = set()
    for task in ("clustering", "embedding", "integration"):
        expected |= {(task, "pbmc68k_reduced", m) for m in ("X_pca", "X_umap", "pca")}
    expected |= {("label_prediction", "pbmc68k_reduced", m) for m in ("X_pca", "X_umap", "raw_expression")}
    expected |= {("sequential", "hsmm_myoblast_timecourse", "pca")}
    expected |= {("cross_species_integration", "baron2016_pancreas", "pca"),
                 ("cross_species_label", "baron2016_pancreas", "pca")}
    expected |= {("perturbation", "papalexi2021_thp1_crispr_lowmoi", b) for b in ("no_change", "other_mean")}
    assert got == expected
    pairs = {(r["params"]["train_species"], r["params"]["test_species"]) for r in load(results)
             if r["task"] == "cross_species_label"}
    assert pairs == {("human", "human"), ("human", "mouse"), ("mouse", "human"), ("mouse", "mouse")}
    n_fold_runs = sum(1 for name, _ in R.log if name == "CELLBENCH_LABEL_FOLD")
    assert n_fold_runs == 3 * 5 * 3  # representations x folds x classifiers


@pytest.mark.slow
def test_fanned_out_label_prediction_gives_the_reference_values(plan):
    """split -> 15 fold tasks -> merge, through the module command lines, equals TASKS.md's values."""
    _, results, _ = plan
    r = next(r for r in load(results) if r["task"] == "label_prediction" and r["model"] == "X_pca")
    got = {(m["metric_type"], m["params"]["classifier"]): m["value"] for m in r["metrics"]}
    reference = {
        ("mean_fold_accuracy", "MEAN(knn,lr,rf)"): 0.7562402252111353,
        ("mean_fold_f1", "MEAN(knn,lr,rf)"): 0.6430898062675138,
        ("mean_fold_precision", "MEAN(knn,lr,rf)"): 0.6820883227468767,
        ("mean_fold_recall", "MEAN(knn,lr,rf)"): 0.6388594509237785,
        ("mean_fold_auroc", "MEAN(knn,lr,rf)"): 0.9270943836337968,
        ("mean_fold_accuracy", "lr"): 0.7644145553122719,
        ("mean_fold_accuracy", "rf"): 0.8294338442289646,
        ("mean_fold_accuracy", "knn"): 0.6748722760921698,
    }
    for key, value in reference.items():
        assert got[key] == pytest.approx(value, abs=1e-9), key


@pytest.mark.slow
def test_embedding_tasks_give_the_reference_values(plan):
    _, results, _ = plan
    by = {(r["task"], r["model"]): {m["metric_type"]: m["value"] for m in r["metrics"] if not m["params"]}
          for r in load(results) if r["dataset"] == "pbmc68k_reduced"}
    assert by[("clustering", "X_pca")]["adjusted_rand_index"] == pytest.approx(0.4283151035913065, abs=1e-9)
    assert by[("clustering", "X_pca")]["normalized_mutual_info"] == pytest.approx(0.6440463095273833, abs=1e-9)
    assert by[("embedding", "X_pca")]["silhouette_score"] == pytest.approx(0.550262451171875, abs=1e-5)
    assert by[("integration", "X_pca")]["entropy_per_cell"] == pytest.approx(0.5239676829925008, abs=3e-3)
    assert by[("integration", "X_pca")]["batch_silhouette"] == pytest.approx(0.8981001973152161, abs=1e-5)


@pytest.mark.slow
def test_every_task_writes_exactly_its_registered_metrics(plan):
    """The metric types a task's results hold (over every result of the test profile, which runs each
    task in each of its modes: cross-species pairs and within-species folds, ...) are the ones its task
    lists in cellbench.tasks.registry: a metric added to a task but not to its TaskSpec (or listed but
    never written) fails here."""
    from collections import defaultdict

    from cellbench.tasks.registry import TASKS

    _, results, _ = plan
    written = defaultdict(set)
    for r in load(results):
        written[r["task"]] |= {m["metric_type"] for m in r["metrics"]}
    for task, names in written.items():
        listed = set(TASKS[task].metrics)
        assert names == listed, (
            f"{task} writes {sorted(names)} but tasks/registry.py lists {sorted(listed)}: make the task's "
            "TaskSpec.metrics name exactly what it writes (CONTRIBUTING.md, Adding a metric, step 5)")


@pytest.mark.slow
def test_results_record_the_staged_inputs(plan):
    """Inputs are recorded by staged name + hash: the PCA baseline file is the one the baseline task wrote.
    Tasks read extracts, but their results name the original files: the dataset and, where it has
    one, the representation's file; never the extract."""
    _, results, outputs = plan
    from cellbench.io.results import sha256_file

    pca = outputs["baseline_files"]["pbmc68k_reduced"]
    r = next(r for r in load(results) if r["task"] == "clustering" and r["model"] == "pca")
    rep = next(i for i in r["inputs"] if i["role"] == "representation")
    assert rep["name"] == pca.name and rep["sha256"] == sha256_file(pca)
    datasets = {m["id"]: h5ad for m, h5ad in read_datasets(ROOT / "assets" / "test_datasets.csv",
                                                           ROOT / "assets" / "datasets_catalog.csv")}
    for r in load(results):
        for i in r["inputs"]:
            assert not i["name"].endswith(".extract.h5ad"), (r["task"], r["model"], i)
        if r["task"] in ("clustering", "embedding", "integration", "sequential", "label_prediction"):
            ds = next(i for i in r["inputs"] if i["role"] == "dataset")
            assert (ds["name"], ds["sha256"]) == (datasets[r["dataset"]].name, sha256_file(datasets[r["dataset"]]))
            assert [i["role"] for i in r["inputs"]].count("representation") == (r["model"] == "pca")


@pytest.mark.slow
def test_representation_tasks_read_the_extract(plan):
    """Every clustering, embedding, integration, sequential, fold and cross-species task reads its
    representation's extract and names no representation (it is the extract's X)."""
    R, _, _ = plan
    readers = {"CELLBENCH_CLUSTERING", "CELLBENCH_EMBEDDING", "CELLBENCH_INTEGRATION", "CELLBENCH_SEQUENTIAL",
               "CELLBENCH_LABEL_FOLD", "CELLBENCH_CROSS_SPECIES_INTEGRATION", "CELLBENCH_CROSS_SPECIES_LABEL"}
    seen = set()
    for name, argv in R.log:
        if name in readers:
            seen.add(name)
            inputs = [argv[i + 1] for i, a in enumerate(argv) if a == "--input"]
            assert inputs and all(x.endswith(".extract.h5ad") for x in inputs), (name, argv)
            assert not {"--embedding", "--obsm-key", "--layer"} & set(argv), (name, argv)
    assert seen == readers


@pytest.mark.slow
def test_aggregate_table_and_report(plan):
    import pandas as pd

    _, results, outputs = plan
    table = pd.read_csv(outputs["table"]["tsv"][0], sep="\t")
    assert set(table["task"]) == {r["task"] for r in load(results)}
    assert set(table.loc[table["baseline"], "model"]) == {"pca", "raw_expression", "no_change", "other_mean"}
    assert not set(table.loc[~table["baseline"], "model"]) - {"X_pca", "X_umap"}
    names = {p.name for p in outputs["report"]["mqc"]}
    assert any(n.endswith("_mqc.json") for n in names) and any(n.endswith("_mqc.html") for n in names)


@pytest.mark.slow
def test_multiqc_report(plan):
    _, _, outputs = plan
    if "multiqc" not in outputs:
        pytest.skip("MultiQC is not installed")
    html = outputs["multiqc"]["report"][0].read_text()
    assert "cellbench" in html
    assert "cellbench_software_mqc_versions" in html or "Software Versions" in html or "software_versions" in html


def test_seeds_fan_out_every_unit_stub(tmp_path):
    """--seeds 42,43 (stub run): every unit of work once per seed; the PCA baselines once per dataset."""
    from collections import Counter

    R, _, _ = run_plan(tmp_path, overrides={"seeds": "42,43"}, stub=True)
    n = Counter(name for name, _ in R.log)
    assert n["CELLBENCH_BASELINE"] == 4
    # one extract per representation (pbmc68k_reduced: X_pca, X_umap, pca, raw_expression; the PCA of
    # hsmm and of each Baron species), not per seed
    assert n["CELLBENCH_EXTRACT"] == 7
    assert n["CELLBENCH_LABEL_SPLIT"] == 2 and n["CELLBENCH_PERTURBATION_PREPARE"] == 2
    assert n["CELLBENCH_LABEL_FOLD"] == 2 * 3 * 5 * 3 and n["CELLBENCH_LABEL_MERGE"] == 2 * 3
    assert n["CELLBENCH_CLUSTERING"] == 2 * 3 and n["CELLBENCH_SEQUENTIAL"] == 2
    assert n["CELLBENCH_CROSS_SPECIES_INTEGRATION"] == 2 and n["CELLBENCH_CROSS_SPECIES_LABEL"] == 2 * 4
    assert n["CELLBENCH_PERTURBATION"] == 2 * 2
    assert n["CELLBENCH_AGGREGATE"] == n["CELLBENCH_REPORT"] == n["MULTIQC"] == 1
    for name, argv in R.log:
        if "--seed" in argv and name != "CELLBENCH_BASELINE":
            assert argv[argv.index("--seed") + 1] in ("42", "43")
    seeds = Counter(argv[argv.index("--seed") + 1] for name, argv in R.log if name == "CELLBENCH_LABEL_FOLD")
    assert seeds == {"42": 45, "43": 45}


def test_models_profile_stub(tmp_path):
    """-profile test_models (stub run): harmony on Baron human, scvi and the example container (then
    its check) on pbmc68k_reduced, once each with the first seed; each output is a representation like
    the PCA baseline's (its own extract, read as obsm['X_emb'], then every task)."""
    from collections import Counter

    R, results, _ = run_plan(tmp_path, overrides={"seeds": "42,43"}, stub=True, profile="test_models")
    n = Counter(name for name, _ in R.log)
    assert n["CELLBENCH_MODEL_HARMONY"] == n["CELLBENCH_MODEL_SCVI"] == 1
    assert n["MODEL_CONTAINER"] == n["CELLBENCH_MODEL_CHECK"] == 1
    assert n["CELLBENCH_BASELINE"] == 2 and n["CELLBENCH_EXTRACT"] == 2 + 3  # pca x 2 datasets, 3 models
    assert n["CELLBENCH_CLUSTERING"] == n["CELLBENCH_EMBEDDING"] == n["CELLBENCH_INTEGRATION"] == 5 * 2
    argv = {name: a for name, a in R.log}
    for name in ("CELLBENCH_MODEL_HARMONY", "CELLBENCH_MODEL_SCVI", "MODEL_CONTAINER", "CELLBENCH_MODEL_CHECK"):
        assert argv[name][argv[name].index("--seed") + 1] == "42", name
    harmony = argv["CELLBENCH_MODEL_HARMONY"]
    assert harmony[harmony.index("--batch-key") + 1] == "donor"
    scvi = argv["CELLBENCH_MODEL_SCVI"]
    assert scvi[scvi.index("--max-epochs") + 1] == "20" and scvi[scvi.index("--counts-layer") + 1] == "counts"
    assert scvi[scvi.index("--device") + 1] == "auto"
    container = argv["MODEL_CONTAINER"]
    assert container[0] == "cellbench-example-model" and container[container.index("--device") + 1] == "cpu"
    check = argv["CELLBENCH_MODEL_CHECK"]
    assert check[check.index("--image") + 1] == "cellbench-e2e/model-example:latest"
    assert check[check.index("--embedding") + 1] == "raw/pbmc68k_reduced__example_model.raw.h5ad"
    extracts = [a for name, a in R.log if name == "CELLBENCH_EXTRACT" and "X_emb" in a]
    assert len(extracts) == 3
    for a in extracts:
        assert a[a.index("--embedding") + 1].endswith(".model.h5ad"), a
    assert {p.name.split("__")[1] for p in results} == {"pca", "harmony", "scvi", "example_model"}
