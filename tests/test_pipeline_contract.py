"""The Nextflow modules against the click CLI: every module's `cellbench` command line must parse.

The repository's CI has no Nextflow, and `nextflow lint` does not look inside `script:` blocks, so this test
renders each module's script (its `def` lines and command template, read from the .nf file) with the
values the workflow passes, in two variants (every optional input present / every optional input
absent), and hands the resulting argv to the real click command's parser. It then checks that the
files the process declares as outputs are the files the command writes, that stubs create them, and
that the pipeline's configuration (ext.args selectors, params schema, samplesheet schemas, baseline
names) agrees with itself and with the CLI.
"""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import click
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import pipeline_support as ps
from cellbench.cli import COMMANDS, cli

ROOT = ps.ROOT
PROCESSES = ps.local_processes()
QUALIFIED = ps.qualified_names()
PARAMS = ps.read_params(ROOT / "nextflow.config")
SELECTORS = ps.read_ext_args(ROOT / "conf" / "modules.config")
CPUS = 7  # a task.cpus no default uses, so a hard-coded --threads cannot pass

# Values the workflow gives each module (workflows/cellbench.nf and the subworkflows), with every
# optional field set ("full") or unset ("minimal"). File inputs are staged names, as Nextflow stages them.
DATASET = {"id": "pbmc", "organism": "human", "tasks": ["clustering"], "label_key": "bulk_labels",
           "batch_key": "phase", "time_key": "Hours", "sample_key": "donor", "counts_layer": "counts",
           "species_group": "grp", "condition_key": "condition", "control_name": "ctrl", "seed": 42,
           "time_order": "0,24,48,72", "match_key": "bio_rep",
           "obs_query": 'grna_umi_max >= 5 and bio_rep == "rep1"'}
# the optional samplesheet columns unset
DATASET_MIN = dict(DATASET, time_order=None, match_key=None, obs_query=None)
REP_FULL = {"model": "scGPT", "obsm_key": "X_scGPT", "layer": None, "baseline": False}
REP_MIN = {"model": "raw_expression", "obsm_key": None, "layer": "counts", "baseline": True}
SPECIES_FULL = {"id": "grp", "model": "uce", "seed": 42, "baseline": False, "species": ["human", "mouse"],
                "datasets": ["h", "m"], "label_keys": ["cell_type", "cell_type"], "sample_keys": ["donor", "donor"]}
SPECIES_MIN = dict(SPECIES_FULL, sample_keys=None, species=["human"], datasets=["h"], label_keys=["cell_type"])

EXTRACT = "pbmc__scGPT.extract.h5ad"  # what CELLBENCH_EXTRACT writes, staged into the tasks of a representation
INPUTS = {
    # process: (full inputs, minimal inputs); each a dict of input name -> value (files as names)
    "CELLBENCH_BASELINE": ({"meta": DATASET, "h5ad": "pbmc.h5ad"},
                           {"meta": dict(DATASET, counts_layer=None), "h5ad": "pbmc.h5ad"}),
    "CELLBENCH_EXTRACT": (
        {"meta": {**DATASET, **REP_FULL, "obs_keys": ["bulk_labels", "phase"]}, "h5ad": "pbmc.h5ad",
         "embedding": ["emb.h5ad"]},
        {"meta": {**DATASET_MIN, **REP_MIN, "obs_keys": ["bulk_labels"]}, "h5ad": "pbmc.h5ad", "embedding": []}),
    "CELLBENCH_CLUSTERING": ({"meta": {**DATASET, **REP_FULL}, "extract": EXTRACT},
                             {"meta": {**DATASET_MIN, **REP_MIN}, "extract": EXTRACT}),
    "CELLBENCH_LABEL_SPLIT": ({"meta": DATASET, "h5ad": "pbmc.h5ad"}, {"meta": DATASET, "h5ad": "pbmc.h5ad"}),
    "CELLBENCH_LABEL_FOLD": (
        {"meta": {**DATASET, **REP_FULL, "fold": 3, "classifier": "rf"}, "extract": EXTRACT,
         "folds": "pbmc__s42.folds.tsv"},
        {"meta": {**DATASET, **REP_MIN, "fold": 0, "classifier": "lr"}, "extract": EXTRACT,
         "folds": "pbmc__s42.folds.tsv"}),
    "CELLBENCH_LABEL_MERGE": (
        {"meta": {**DATASET, **REP_FULL}, "fold_results": [f"f{i}.json" for i in range(15)]},
        {"meta": {**DATASET, **REP_MIN}, "fold_results": ["f0.json"]}),
    "CELLBENCH_CROSS_SPECIES_INTEGRATION": (
        {"meta": SPECIES_FULL, "extracts": ["h__uce.extract.h5ad", "m__uce.extract.h5ad"]},
        {"meta": dict(SPECIES_FULL, sample_keys=None), "extracts": ["h__uce.extract.h5ad", "m__uce.extract.h5ad"]}),
    "CELLBENCH_CROSS_SPECIES_LABEL": (
        {"meta": dict(SPECIES_FULL, train_species="human", test_species="mouse"),
         "extracts": ["h__uce.extract.h5ad", "m__uce.extract.h5ad"]},
        {"meta": dict(SPECIES_MIN, train_species="human", test_species="human"), "extracts": ["h__uce.extract.h5ad"]}),
    "CELLBENCH_PERTURBATION_PREPARE": ({"meta": DATASET, "h5ad": "papalexi.h5ad"},
                                       {"meta": dict(DATASET_MIN, counts_layer=None), "h5ad": "papalexi.h5ad"}),
    "CELLBENCH_PERTURBATION": (
        {"meta": {**DATASET, "model": "scGenePT", "layer": "predicted", "baseline": False},
         "prepared": "p.prepared.h5ad", "prediction": ["pred.h5ad"]},
        {"meta": {**DATASET, "model": "no_change", "layer": None, "baseline": True}, "prepared": "p.prepared.h5ad",
         "prediction": []}),
    "CELLBENCH_AGGREGATE": ({"results": [f"r{i}.json" for i in range(3)]}, {"results": ["r0.json"]}),
    "CELLBENCH_REPORT": ({"table": "aggregate.tsv"}, {"table": "aggregate.tsv"}),
}
for name in ("CELLBENCH_EMBEDDING", "CELLBENCH_INTEGRATION", "CELLBENCH_SEQUENTIAL"):
    INPUTS[name] = INPUTS["CELLBENCH_CLUSTERING"]
# the models the pipeline runs (rows of the models samplesheet with a runner), with the first seed
RUN_FULL = {"model": "scvi", "runner": "scvi", "seed": 42, "image": "ghcr.io/me/model:1.0@sha256:abc",
            "image_digest": "sha256:abc", "command": "run-model --gene-col feature_name"}
RUN_MIN = dict(RUN_FULL, image="me/model:latest", image_digest=None, command="run-model")
for name in ("CELLBENCH_MODEL_HARMONY", "CELLBENCH_MODEL_SCVI"):
    INPUTS[name] = ({"meta": {**DATASET, **RUN_FULL}, "h5ad": "pbmc.h5ad"},
                    {"meta": {**DATASET_MIN, **RUN_MIN, "counts_layer": None}, "h5ad": "pbmc.h5ad"})
INPUTS["CELLBENCH_MODEL_SCVI"][1]["meta"]["batch_key"] = None  # scvi runs without batches too
INPUTS["CELLBENCH_MODEL_CHECK"] = (
    {"meta": {**DATASET, **RUN_FULL}, "h5ad": "pbmc.h5ad", "raw": "pbmc__m.raw.h5ad", "weights": ["ckpt"]},
    {"meta": {**DATASET, **RUN_MIN}, "h5ad": "pbmc.h5ad", "raw": "pbmc__m.raw.h5ad", "weights": []})

# How each command's options name the files it writes: --output FILE; --output-prefix P (aggregate:
# "Writes PREFIX.tsv and PREFIX.parquet"); --outdir DIR (report: files under DIR)
WRITES = {"output": ["{}"], "output_prefix": ["{}.tsv", "{}.parquet"], "outdir": ["{}/*"]}


UTILS = ROOT / "subworkflows" / "local" / "utils_cellbench" / "main.nf"
FIELDS = ps.groovy_function_value(UTILS, "processFields")


def slimmed(name: str, values: dict) -> dict:
    """The inputs as the workflow hands them over: meta cut to the process's fields (processFields())."""
    key = name.removeprefix("CELLBENCH_").lower()
    if "meta" not in values or key not in FIELDS:
        return values
    return dict(values, meta={k: v for k, v in values["meta"].items() if k in FIELDS[key]})


def staged_env(proc: ps.Process, values: dict) -> tuple[dict, list[str]]:
    """Input variables as the script sees them, and the relative paths Nextflow would stage."""
    env, staged = {}, []
    for decls in proc.inputs:
        for d in decls:
            v = values[d.name]
            if d.kind == "val":
                env[d.name] = v
                continue
            files = v if isinstance(v, list) else [v]
            names = [ps.stage_name(d.stage_as, f, i + 1) for i, f in enumerate(files)]
            staged += names
            env[d.name] = [] if not names else names[0] if len(names) == 1 else ps.StagedList(names)
    return env, staged


def task_obj(proc: ps.Process, meta: dict | None) -> ps.Obj:
    labels = [re.sub(r"['\"]", "", v) for v in proc.directives.get("label", [])]
    qualified = QUALIFIED[proc.name][0]
    args = ps.ext_args_for(qualified, labels, SELECTORS, PARAMS, meta)
    return ps.Obj(cpus=CPUS, ext=ps.Obj(args=args, prefix=None), process=qualified)


def render(proc: ps.Process, values: dict, block: str = "script") -> tuple[str, list[str]]:
    values = slimmed(proc.name, values)
    env, staged = staged_env(proc, values)
    env["task"] = task_obj(proc, values.get("meta"))
    return proc.render(env, block), staged


def cellbench_argv(shell: str) -> list[str]:
    lines = [argv for argv in ps.command_argv(shell) if argv]
    assert len(lines) == 1, f"expected one command line, got {lines}"
    assert lines[0][0] == "cellbench", lines[0]
    return lines[0][1:]


def resolve(name: str) -> click.Command:
    ctx = click.Context(cli)
    cmd = cli.get_command(ctx, name)
    assert cmd is not None, f"`cellbench {name}` does not exist"
    return cmd


def test_every_module_is_one_cli_command():
    assert PROCESSES, "no modules found"
    assert set(PROCESSES) == set(INPUTS), "a module without test inputs (or inputs of a removed module)"
    for name, proc in PROCESSES.items():
        command = proc.module_dir.replace("_", "-")
        assert command in COMMANDS, f"{proc.path}: `cellbench {command}` is not a registered command"
        assert name == "CELLBENCH_" + proc.module_dir.upper(), f"{proc.path}: process name {name}"
        shell, _ = render(proc, INPUTS[name][0])
        argv = cellbench_argv(shell)
        assert argv[0] == command, f"{proc.path}: runs `cellbench {argv[0]}`, expected `cellbench {command}`"
        resolve(command)


@pytest.mark.parametrize("variant", [0, 1], ids=["full", "minimal"])
@pytest.mark.parametrize("name", sorted(INPUTS))
def test_command_line_parses_with_click(name, variant, tmp_path, monkeypatch):
    proc = PROCESSES[name]
    shell, staged = render(proc, INPUTS[name][variant])
    argv = cellbench_argv(shell)
    cmd = resolve(argv[0])
    assert "null" not in argv, f"{proc.path}: a null value reached the command line: {argv}"
    assert "" not in argv, f"{proc.path}: an empty argument: {argv}"
    params = {p.name: p for p in cmd.params}
    known = {o for p in cmd.params for o in [*getattr(p, "opts", []), *getattr(p, "secondary_opts", [])] if o.startswith("-")}
    for token in argv[1:]:
        if token.startswith("--"):
            assert token.split("=")[0] in known, f"{proc.path}: `cellbench {argv[0]}` has no option {token}"
    # staged inputs exist (click checks exists=True paths); then the real parser checks the rest:
    # required options, choices, integer ranges, repeated options, arguments
    monkeypatch.chdir(tmp_path)
    for rel in staged:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("")
    ctx = cmd.make_context(f"cellbench {argv[0]}", list(argv[1:]))
    if "threads" in params:
        assert ctx.params["threads"] == CPUS, f"{proc.path}: --threads must be task.cpus"
    if "seed" in params and "meta" in INPUTS[name][variant]:
        meta = INPUTS[name][variant]["meta"]
        if "seed" in meta:
            assert ctx.params["seed"] == meta["seed"], f"{proc.path}: --seed must be meta.seed"


@pytest.mark.parametrize("name,option,key", [
    ("CELLBENCH_SEQUENTIAL", "time_order", "time_order"),
    ("CELLBENCH_PERTURBATION_PREPARE", "obs_query", "obs_query"),
    ("CELLBENCH_PERTURBATION_PREPARE", "match_key", "match_key"),
])
def test_optional_samplesheet_columns_reach_the_command(name, option, key):
    """Set: the value arrives as one argument (a query with spaces and quotes too); unset: no option."""
    proc = PROCESSES[name]
    for variant, expected in ((0, INPUTS[name][0]["meta"][key]), (1, None)):
        argv = cellbench_argv(render(proc, INPUTS[name][variant])[0])
        assert _parse_without_checks(resolve(argv[0]), argv[1:])[option] == expected, (variant, argv)


@pytest.mark.parametrize("name", sorted(INPUTS))
def test_declared_outputs_are_written_by_the_command(name):
    """Every output pattern matches a file named by an output option, and every such file is declared."""
    proc = PROCESSES[name]
    shell, _ = render(proc, INPUTS[name][0])
    argv = cellbench_argv(shell)
    cmd = resolve(argv[0])
    ctx_params = _parse_without_checks(cmd, argv[1:])
    written = []
    for key, templates in WRITES.items():
        if ctx_params.get(key):
            written += [t.format(ctx_params[key]) for t in templates]
    assert written, f"{proc.path}: `cellbench {argv[0]}` has no output option the test knows ({list(WRITES)})"
    patterns = [p for p, o in proc.output_patterns({}) if not o.optional]
    import fnmatch

    for pattern in patterns:
        ok = any(fnmatch.fnmatchcase(w, pattern) or fnmatch.fnmatchcase(pattern, w) for w in written)
        assert ok, f"{proc.path}: output '{pattern}' is not what `cellbench {argv[0]}` writes ({written})"
    for w in written:
        ok = any(fnmatch.fnmatchcase(w, p) or fnmatch.fnmatchcase(p, w) for p in patterns)
        assert ok, f"{proc.path}: `cellbench {argv[0]}` writes {w}, which no output declares (it would be lost)"


def _parse_without_checks(cmd: click.Command, args: list[str]) -> dict:
    ctx = cmd.make_context("cellbench", list(args), resilient_parsing=True)
    return ctx.params


@pytest.mark.parametrize("name", sorted(INPUTS))
def test_stub_creates_every_declared_output(name, tmp_path):
    proc = PROCESSES[name]
    shell, staged = render(proc, INPUTS[name][0], block="stub")
    for rel in staged:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("")
    subprocess.run(["bash", "-euo", "pipefail", "-c", shell], cwd=tmp_path, check=True)
    for pattern, out in proc.output_patterns({}):
        if not out.optional:
            assert ps.glob_outputs(tmp_path, pattern, set(staged)), f"{proc.path}: stub makes nothing for '{pattern}'"


def test_process_conventions():
    """tag, a standard nf-core label, container, conda, stub, task.cpus, a `versions` output (no topic:
    topic channels need a preview flag on Nextflow 24.10)."""
    standard = {"process_single", "process_low", "process_medium", "process_high", "process_long",
                "process_high_memory"}
    for proc in PROCESSES.values():
        d = proc.directives
        assert d.get("tag"), f"{proc.path}: no tag"
        labels = {re.sub(r"['\"]", "", v) for v in d.get("label", [])}
        assert labels & standard, f"{proc.path}: no standard label ({labels})"
        # the container selectors of modules.config: the core image, or the scvi runner's own
        assert len(labels & {"cellbench", "cellbench_scvi"}) == 1, \
            f"{proc.path}: no 'cellbench' (or 'cellbench_scvi') label (the container selector of modules.config)"
        assert d.get("container"), f"{proc.path}: no container"
        assert d.get("conda"), f"{proc.path}: no conda"
        assert "stub:" in proc.text, f"{proc.path}: no stub"
        assert re.search(r"eval\('[^']+'\), emit: versions\n", proc.text), f"{proc.path}: no `versions` output"
        assert "topic:" not in proc.text, f"{proc.path}: a topic output (needs nextflow.preview.topic on 24.10)"
        cmd = resolve(proc.module_dir.replace("_", "-"))
        if "threads" in {p.name for p in cmd.params}:
            assert "${task.cpus}" in proc.script_template, f"{proc.path}: --threads not from task.cpus"


def test_versions_eval_prints_the_version():
    from cellbench import __version__

    evals = {re.search(r"eval\('([^']+)'\)", p.text).group(1) for p in PROCESSES.values()}
    assert len(evals) == 1, evals
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    out = subprocess.run(["bash", "-c", evals.pop()], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.strip() == __version__


def test_config_selectors_match_processes():
    """Every withName selector of modules.config matches a real process (a typo would be ignored)."""
    everything = [q for qs in QUALIFIED.values() for q in qs]
    for kind, pattern, _ in SELECTORS:
        if kind == "withName":
            assert any(re.fullmatch(pattern, q) or re.fullmatch(pattern, q.rsplit(":", 1)[-1]) for q in everything), \
                f"conf/modules.config: withName '{pattern}' matches no process"
    slurm = (ROOT / "conf" / "slurm.config").read_text()
    for pattern in re.findall(r"withName:\s*'([^']+)'", slurm):
        assert any(re.fullmatch(pattern, q) or re.fullmatch(pattern, q.rsplit(":", 1)[-1]) for q in everything), \
            f"conf/slurm.config: '{pattern}' matches nothing"


def test_params_and_schema_agree():
    schema = json.loads((ROOT / "nextflow_schema.json").read_text())
    props = {}
    for group in schema["$defs"].values():
        props.update(group["properties"])
    params = dict(PARAMS)
    for cfg in ("slurm.config", "awsbatch.config", "test.config", "test_models.config", "gpu.config"):
        params.update(ps.read_params(ROOT / "conf" / cfg))
    assert set(params) == set(props), (
        f"in nextflow.config but not the schema: {sorted(set(params) - set(props))}; "
        f"in the schema but not a config: {sorted(set(props) - set(params))}"
    )
    for name, spec in props.items():
        if "default" in spec and not str(spec["default"]).startswith("${"):
            assert spec["default"] == PARAMS.get(name, spec["default"]), f"{name}: schema default != config default"
    for ref in schema["allOf"]:
        assert ref["$ref"].split("/")[-1] in schema["$defs"]


def _sheet(path: Path) -> list[dict]:
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    for r in rows:
        assert None not in r, f"{path}: a row has more fields than the header: {r}"
    return [{k: v for k, v in r.items() if v} for r in rows]


@pytest.mark.parametrize("sheet,schema", [
    ("assets/test_datasets.csv", "assets/schema_datasets.json"),
    ("assets/datasets_catalog.csv", "assets/schema_datasets.json"),
    ("assets/test_models.csv", "assets/schema_models.json"),
    ("assets/test_models_datasets.csv", "assets/schema_datasets.json"),
    ("assets/test_models_runners.csv", "assets/schema_models.json"),
])
def test_samplesheets_validate(sheet, schema):
    import jsonschema

    rows = _sheet(ROOT / sheet)
    spec = json.loads((ROOT / schema).read_text())
    jsonschema.validate(rows, spec, cls=jsonschema.Draft202012Validator)
    key = spec["uniqueEntries"]
    assert len({tuple(r[k] for k in key) for r in rows}) == len(rows), f"{sheet}: duplicate {key}"
    assert set(rows[0]) <= set(spec["items"]["properties"])


def test_task_names_agree():
    """The tasks of the samplesheet schema = the tasks the workflow knows how to check and route."""
    schema = json.loads((ROOT / "assets" / "schema_datasets.json").read_text())
    pattern = schema["items"]["properties"]["tasks"]["pattern"]
    in_schema = set(re.search(r"\^\(([^)]*)\)", pattern).group(1).split("|"))
    utils = ROOT / "subworkflows" / "local" / "utils_cellbench" / "main.nf"
    required = ps.groovy_function_value(utils, "requiredColumns")
    assert set(required) == in_schema
    embedding = set(ps.groovy_function_value(utils, "embeddingTasks"))
    assert embedding == in_schema - {"perturbation"}
    for kind, tasks in ps.groovy_function_value(utils, "baselineTasks").items():
        assert set(tasks) <= in_schema, kind


def test_baseline_names_are_the_reports_baselines():
    from cellbench.cli._report_options import DEFAULT_BASELINES_TEXT

    utils = ROOT / "subworkflows" / "local" / "utils_cellbench" / "main.nf"
    names = set(ps.groovy_function_value(utils, "baselineNames").values())
    assert names == set(DEFAULT_BASELINES_TEXT.split(",")), "aggregate/report would not mark the baselines"
    assert set(PARAMS["baselines"].split(",")) == names
    compare = resolve("compare")
    default = next(p.default for p in compare.params if p.name == "baselines")
    assert set(default.split(",")) == names


def test_catalog_lists_the_reference_datasets():
    rows = _sheet(ROOT / "assets" / "datasets_catalog.csv")
    names = {r["dataset"] for r in rows}
    assert sum(n.startswith("tsv2_") for n in names) == 26
    assert sum(n.endswith("_spermatogenesis") for n in names) == 9
    assert any("replogle_k562" in n for n in names)
    assert {"allen_soundlife_immune_variation", "allen_soundlife_flu_vax_response"} <= names
    for r in rows:
        assert r["h5ad"].startswith("s3://cz-benchmarks-data/datasets/"), r
    sperm = [r for r in rows if r["dataset"].endswith("_spermatogenesis")]
    assert len({r["organism"] for r in sperm}) == 9 and {r["species_group"] for r in sperm} == {"spermatogenesis"}


def test_each_process_gets_only_the_meta_fields_it_uses():
    """processFields() (what the workflow hands each process) = the meta fields its module reads: a
    field more would re-run the task under -resume when an unrelated column changes, a field less
    would put `null` on its command line."""
    for name, proc in PROCESSES.items():
        used = set(re.findall(r"\bmeta\.(\w+)", proc.text))
        key = name.removeprefix("CELLBENCH_").lower()
        if not used:
            assert key not in FIELDS, f"{proc.path}: no meta, but processFields() has {key}"
            continue
        assert key in FIELDS, f"{proc.path}: uses meta.{sorted(used)} but processFields() has no {key}"
        assert used == set(FIELDS[key]), (
            f"{proc.path}: uses meta fields {sorted(used)}, processFields() gives {sorted(FIELDS[key])}")


# the processes that read a representation's extract instead of the dataset, and the task whose obs
# columns (taskObsColumns()) each may use
EXTRACT_READERS = {"CELLBENCH_CLUSTERING": "clustering", "CELLBENCH_EMBEDDING": "embedding",
                   "CELLBENCH_INTEGRATION": "integration", "CELLBENCH_SEQUENTIAL": "sequential",
                   "CELLBENCH_LABEL_FOLD": "label_prediction",
                   "CELLBENCH_CROSS_SPECIES_INTEGRATION": "cross_species_integration",
                   "CELLBENCH_CROSS_SPECIES_LABEL": "cross_species_label"}


def test_extracts_keep_every_obs_column_their_tasks_read():
    """A task fed an extract finds there only the obs columns taskObsColumns() names for it: every
    meta field of its module that names an obs column (a samplesheet column described as one; the
    cross-species lists label_keys / sample_keys too) must be among them, or the task fails on a column
    the extract dropped. Every process that stages an extract is one of EXTRACT_READERS, and each of
    them stages nothing of the dataset or a representation file."""
    schema = json.loads((ROOT / "assets" / "schema_datasets.json").read_text())
    obs_fields = {c for c, spec in schema["items"]["properties"].items() if spec["description"].startswith("obs column")}
    assert {"label_key", "batch_key", "time_key", "sample_key"} <= obs_fields
    columns = ps.groovy_function_value(UTILS, "taskObsColumns")
    assert set(columns) == set(ps.groovy_function_value(UTILS, "embeddingTasks"))
    for name, proc in PROCESSES.items():
        files = {d.name for decls in proc.inputs for d in decls if d.kind == "path"}
        if name not in EXTRACT_READERS:
            assert not files & {"extract", "extracts"}, f"{proc.path}: stages an extract but is not in EXTRACT_READERS"
            continue
        assert files & {"extract", "extracts"} and not files & {"h5ad", "h5ads", "embedding", "embeddings"}, \
            f"{proc.path}: should stage the representation's extract only, stages {sorted(files)}"
        used = set(re.findall(r"\bmeta\.(\w+)", proc.text))
        read = {f for f in used if f in obs_fields} | {f[:-1] for f in used if f[:-1] in obs_fields}
        task = EXTRACT_READERS[name]
        assert read <= set(columns[task]), (
            f"{proc.path}: reads obs columns {sorted(read)}, taskObsColumns() keeps {columns[task]} for {task}")


HOSTILE = "$(touch pwned)`touch pwned2`;touch pwned3 \"x\" $HOME *"


@pytest.mark.parametrize("name", sorted(INPUTS))
def test_values_reach_the_command_verbatim(name, tmp_path):
    """Every value from meta, params or a file name is single-quoted on the command line: a value full
    of shell syntax (no single quote: the schemas exclude those) arrives as one literal argument."""
    proc = PROCESSES[name]
    values = INPUTS[name][0]
    hostile = {}
    if "meta" in values:
        meta = {}
        for k, v in values["meta"].items():
            if isinstance(v, str) and k not in ("baseline",):
                meta[k] = v + HOSTILE
            elif isinstance(v, list) and v and all(isinstance(x, str) for x in v):
                meta[k] = [x + HOSTILE for x in v]
            else:
                meta[k] = v
        hostile["meta"] = meta
    for k, v in values.items():
        if k != "meta":
            # staged file names keep their extension; the hostile part goes before it
            hostile[k] = [re.sub(r"(\.\w+)$", r"x $(touch pwned4)\1", f) for f in v] if isinstance(v, list) \
                else re.sub(r"(\.\w+)$", r"x $(touch pwned4)\1", v)
    shell, staged = render(proc, hostile)
    for rel in staged:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("")
    fake = "cellbench() { printf '%s\\n' \"$@\" > argv.txt; }\n"
    subprocess.run(["bash", "-euo", "pipefail", "-c", fake + shell], cwd=tmp_path, check=True,
                   env=dict(os.environ, HOME="/nonexistent"))
    assert not list(tmp_path.glob("pwned*")), f"{proc.path}: a value was run by the shell"
    argv = (tmp_path / "argv.txt").read_text().splitlines()
    key = name.removeprefix("CELLBENCH_").lower()
    for field in FIELDS.get(key, []):
        v = hostile["meta"][field]
        for item in (v if isinstance(v, list) else [v]):
            if isinstance(item, str) and HOSTILE in item:
                assert item in argv or any(item in a for a in argv), f"{proc.path}: meta.{field} lost: {argv}"
    for a in argv:
        if "touch" in a:
            assert HOSTILE in a or "$(touch pwned4)" in a, f"{proc.path}: a value was split or changed: {a!r}"


def test_seeds_schema_takes_only_seeds_numpy_accepts():
    """--seeds: comma-separated integers 0..4294967295 (the pattern stops signs and more than 10 digits;
    parseSeeds() the values above 2^32-1, which tests/test_pipeline_hostile.py runs on Nextflow)."""
    schema = json.loads((ROOT / "nextflow_schema.json").read_text())
    spec = next(g["properties"]["seeds"] for g in schema["$defs"].values() if "seeds" in g["properties"])
    for ok in ("42", "0", "42,43, 44", "4294967295"):
        assert re.search(spec["pattern"], ok), ok
    for bad in ("-1", "42,-1", "+5", "12345678901", "4.2", "", "42,", "1e3"):
        assert not re.search(spec["pattern"], bad), bad
    assert "4294967295" in spec["errorMessage"]


def test_n_boot_schema_is_the_cli_range():
    """--n_boot: what every command's --n-boot accepts (0, or N_BOOT_MIN..N_BOOT_MAX), checked before any task."""
    from cellbench.cli._options import N_BOOT_MAX, N_BOOT_MIN

    schema = json.loads((ROOT / "nextflow_schema.json").read_text())
    spec = next(g["properties"]["n_boot"] for g in schema["$defs"].values() if "n_boot" in g["properties"])
    allowed = {0, *range(N_BOOT_MIN, N_BOOT_MAX + 1)}
    for n in range(N_BOOT_MAX + 20):
        assert bool(re.search(spec["pattern"], str(n))) == (n in allowed), n
    assert spec["maximum"] == N_BOOT_MAX and PARAMS["n_boot"] in allowed


# ---- MODEL_CONTAINER: a model's own image, run by the container contract (docs/models.md)

CONTAINER = ps.parse_process(ROOT / "modules" / "local" / "model_container" / "main.nf")
CONTAINER_META = {**DATASET, **RUN_FULL, "runner": "container"}


def _container_argv(meta: dict, weights: list, params: dict | None = None) -> list[str]:
    values = {"meta": {k: v for k, v in meta.items() if k in FIELDS["model_container"]}, "h5ad": "pbmc.h5ad",
              "weights": weights}
    env, _ = staged_env(CONTAINER, values)
    args = ps.ext_args_for(QUALIFIED["MODEL_CONTAINER"][0], [], SELECTORS, {**PARAMS, **(params or {})})
    env["task"] = ps.Obj(cpus=CPUS, ext=ps.Obj(args=args, prefix=None), process="MODEL_CONTAINER")
    lines = [argv for argv in ps.command_argv(CONTAINER.render(env)) if argv]
    assert len(lines) == 1, f"{CONTAINER.path}: expected one command line, got {lines}"
    return lines[0]


@pytest.mark.parametrize("device,expected", [("auto", "cpu"), ("cpu", "cpu"), ("cuda", "cuda")])
def test_model_container_runs_the_contract_command(device, expected):
    """The row's command, split into words, then exactly the contract's options (m_common: --input,
    --output, --seed, --device cpu|cuda, --batch-size [--weights]); its output is what it declares."""
    argv = _container_argv(CONTAINER_META, ["ckpt"], {"model_device": device, "model_batch_size": 16})
    assert argv[:3] == ["run-model", "--gene-col", "feature_name"]
    opts = argv[3:]
    given = dict(zip(opts[::2], opts[1::2]))
    assert len(opts) == 2 * len(given)
    assert given == {"--input": "pbmc.h5ad", "--output": "pbmc__scvi.raw.h5ad", "--seed": "42",
                     "--weights": "weights/ckpt", "--device": expected, "--batch-size": "16"}
    assert "--weights" not in _container_argv(CONTAINER_META, [])
    [(pattern, _)] = [(p, o) for p, o in CONTAINER.output_patterns({}) if o.emit == "raw"]
    import fnmatch

    assert fnmatch.fnmatchcase(given["--output"], pattern)
    assert "container \"${meta.image}\"" in CONTAINER.text


def test_model_container_values_reach_the_command_verbatim(tmp_path):
    """Each word of the command and every value is single-quoted: shell syntax in a value (the schemas
    keep it out of the command and image; a dataset name or a file name may still carry it) stays text."""
    meta = dict(CONTAINER_META, id="pbmc" + HOSTILE, model="m" + HOSTILE, command="run-model --flag=x")
    values = {"meta": {k: v for k, v in meta.items() if k in FIELDS["model_container"]},
              "h5ad": "p $(touch pwned4).h5ad", "weights": ["ckpt $(touch pwned4)"]}
    env, staged = staged_env(CONTAINER, values)
    env["task"] = ps.Obj(cpus=CPUS, ext=ps.Obj(args="--device 'cpu' --batch-size '64'", prefix=None))
    for rel in staged:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("")
    fake = "run-model() { printf '%s\\n' \"$@\" > argv.txt; }\n"
    subprocess.run(["bash", "-euo", "pipefail", "-c", fake + CONTAINER.render(env)], cwd=tmp_path, check=True,
                   env=dict(os.environ, HOME="/nonexistent"))
    assert not list(tmp_path.glob("pwned*")), f"{CONTAINER.path}: a value was run by the shell"
    argv = (tmp_path / "argv.txt").read_text().splitlines()
    assert argv[0] == "--flag=x"
    assert argv[argv.index("--input") + 1] == "p $(touch pwned4).h5ad"
    assert argv[argv.index("--weights") + 1] == "weights/ckpt $(touch pwned4)"
    assert argv[argv.index("--output") + 1] == f"pbmc{HOSTILE}__m{HOSTILE}.raw.h5ad"


def test_model_container_stub_creates_its_output(tmp_path):
    values = {"meta": {k: v for k, v in CONTAINER_META.items() if k in FIELDS["model_container"]},
              "h5ad": "pbmc.h5ad", "weights": []}
    env, _ = staged_env(CONTAINER, values)
    env["task"] = ps.Obj(cpus=CPUS, ext=ps.Obj(args="", prefix=None))
    subprocess.run(["bash", "-euo", "pipefail", "-c", CONTAINER.render(env, "stub")], cwd=tmp_path, check=True)
    for pattern, out in CONTAINER.output_patterns({}):
        assert ps.glob_outputs(tmp_path, pattern, set()), f"{CONTAINER.path}: stub makes nothing for '{pattern}'"


def test_model_container_uses_only_its_meta_fields():
    used = set(re.findall(r"\bmeta\.(\w+)", CONTAINER.text))
    assert used == set(FIELDS["model_container"]), (sorted(used), FIELDS["model_container"])


def test_models_schema_runner_columns():
    """runner / image / command / weights: the command pattern of the container contract lets no shell
    syntax through; a runner row needs no embedding (readModels() refuses one with it, on Nextflow)."""
    import jsonschema

    spec = json.loads((ROOT / "assets" / "schema_models.json").read_text())
    props = spec["items"]["properties"]
    assert props["runner"]["enum"] == ["harmony", "scvi", "container"]
    assert props["command"]["pattern"] == "^[A-Za-z0-9_./:=+-]+( [A-Za-z0-9_./:=+-]+)*$"
    for ok in ("cellbench-example-model", "python -m model.run --gene-col=feature_name", "/opt/bin/run"):
        assert re.search(props["command"]["pattern"], ok), ok
    for bad in ("run; rm -rf /", "run $(x)", "run `x`", "run 'a'", "run  two-spaces", "run | tee", " run", "a\nb"):
        assert not re.search(props["command"]["pattern"], bad), bad
    for ok in ("cellbench-e2e/model-example:latest", "ghcr.io/me/m:1.0@sha256:0af3", "/shared/m.sif"):
        assert re.search(props["image"]["pattern"], ok), ok
    for bad in ("img; touch x", "img $(x)", "img'", "", "-rm"):
        assert not re.search(props["image"]["pattern"], bad), bad
    for bad in ("w eights", "w;x", "w'x", "$HOME/w"):
        assert not re.search(props["weights"]["pattern"], bad), bad
    jsonschema.validate([{"model": "h", "dataset": "d", "runner": "harmony"}], spec)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate([{"model": "h", "dataset": "d", "runner": "bash"}], spec)


# ---- --metrics_device: the GPU path of the all-pairs metrics (conf/metrics_device.config)

ALL_PAIRS = ("CELLBENCH_CLUSTERING", "CELLBENCH_EMBEDDING", "CELLBENCH_INTEGRATION")


@pytest.mark.parametrize("device", ["cpu", "cuda", "cuda:1", "torch-cpu"])
def test_metrics_device_reaches_the_all_pairs_commands(device):
    """--metrics_device reaches clustering, embedding and integration as `--device`, which each command
    accepts, and nothing else; cpu adds nothing (the commands, and so -resume's hashes, stay as before)."""
    import shlex

    def args_of(name, proc, metrics_device):
        labels = [re.sub(r"['\"]", "", v) for v in proc.directives.get("label", [])]
        params = {**PARAMS, "metrics_device": metrics_device}
        return shlex.split(ps.ext_args_for(QUALIFIED[name][0], labels, SELECTORS, params) or "")

    for name, proc in PROCESSES.items():
        args, on_cpu = args_of(name, proc, device), args_of(name, proc, "cpu")
        if name in ALL_PAIRS:
            assert "--device" not in on_cpu, f"{name}: {on_cpu}"
        if name in ALL_PAIRS and device != "cpu":
            assert args == [*on_cpu, "--device", device], f"{name}: {args}"
            assert "--device" in {o for p in resolve(proc.module_dir.replace("_", "-")).params for o in p.opts}
        else:  # the model runners' --device comes from --model_device
            assert args == on_cpu, f"{name}: {args}"


def test_metrics_device_config_gives_the_gpu_and_the_torch_image():
    """conf/metrics_device.config: a GPU (accelerator, --gpus all / --nv, Slurm --gres) and the torch image
    only on the cuda path, for the three processes of the option; the schema's pattern is the CLI's."""
    from cellbench.device import DEVICE_PATTERN

    text = (ROOT / "conf" / "metrics_device.config").read_text()
    [selector] = re.findall(r"withName:\s*'([^']+)'", text)
    assert {q for q in ALL_PAIRS if re.fullmatch(selector, q)} == set(ALL_PAIRS)
    assert "includeConfig 'conf/metrics_device.config'" in (ROOT / "nextflow.config").read_text()
    for needle in ("params.scvi_container", "accelerator", "--gpus all", "'--nv'", "--gres=gpu:1", "slurm_account"):
        assert needle in text, needle
    assert ps.read_params(ROOT / "conf" / "gpu.config")["metrics_device"] == "cuda"
    schema = json.loads((ROOT / "nextflow_schema.json").read_text())
    spec = next(g["properties"]["metrics_device"] for g in schema["$defs"].values()
                if "metrics_device" in g["properties"])
    assert spec["pattern"] == DEVICE_PATTERN.pattern and spec["default"] == PARAMS["metrics_device"] == "cpu"
