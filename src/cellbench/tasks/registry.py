"""Every task in one table: its name in results, the commands that run it, the columns it needs and
the metrics it writes.

`cellbench run` reads its tasks and their options from here; the pipeline keeps its own copy in
Groovy (subworkflows/local/utils_cellbench/main.nf: `requiredColumns`, `taskObsColumns`,
`embeddingTasks`), which tests/test_registry.py holds equal to this one. Metric names are those of
`cellbench.metrics.registry.METRICS` (checked there too, so this module imports nothing).
"""

from __future__ import annotations

from dataclasses import dataclass

_CLASSIFICATION = ("accuracy", "f1", "precision", "recall", "auroc")
_MEAN_FOLD = tuple(f"mean_fold_{score}" for score in _CLASSIFICATION)
_INTEGRATION = ("entropy_per_cell", "batch_silhouette")


@dataclass(frozen=True)
class TaskSpec:
    """One task as results name it.

    command: the click command that computes it in one process (what `cellbench run` invokes);
    pipeline: the commands the pipeline runs for it, in order (a split task fans out);
    obs_columns: the options / samplesheet fields naming the obs columns it reads;
    required: the samplesheet fields a dataset row must fill to run it;
    options: further options of `command` that `cellbench run` forwards;
    per_representation: scored once per representation (embedding); else per prediction;
    in_run: `cellbench run` (one dataset, no species groups or predictions) can run it;
    part_of: the task whose result merges this one's (a fold of label prediction), else None.
    """

    name: str
    command: str
    pipeline: tuple[str, ...]
    obs_columns: tuple[str, ...]
    required: tuple[str, ...]
    metrics: tuple[str, ...]
    options: tuple[str, ...] = ()
    per_representation: bool = True
    in_run: bool = False
    part_of: str | None = None


_SPECIES = ("label_key", "species_group", "organism")

_SPECS = [
    TaskSpec("clustering", "clustering", ("clustering",), ("label_key",), ("label_key",),
             ("adjusted_rand_index", "normalized_mutual_info"), options=("knn_mode", "device"), in_run=True),
    TaskSpec("embedding", "embedding", ("embedding",), ("label_key",), ("label_key",),
             ("silhouette_score",), options=("max_cells", "device"), in_run=True),
    TaskSpec("integration", "integration", ("integration",), ("label_key", "batch_key"), ("label_key", "batch_key"),
             _INTEGRATION, options=("max_cells", "device"), in_run=True),
    TaskSpec("label_prediction", "label-prediction", ("label-split", "label-fold", "label-merge"), ("label_key",),
             ("label_key",), _MEAN_FOLD, in_run=True),
    TaskSpec("sequential", "sequential", ("sequential",), ("time_key",), ("time_key",),
             ("silhouette_score", "sequential_alignment"), options=("time_order",), in_run=True),
    TaskSpec("label_prediction_fold", "label-fold", ("label-split", "label-fold"), ("label_key",), ("label_key",),
             _CLASSIFICATION, part_of="label_prediction"),
    TaskSpec("cross_species_integration", "cross-species-integration", ("cross-species-integration",),
             ("label_key", "sample_key"), _SPECIES, _INTEGRATION),
    TaskSpec("cross_species_label", "cross-species-label", ("cross-species-label",), ("label_key", "sample_key"),
             _SPECIES, _CLASSIFICATION + _MEAN_FOLD),
    TaskSpec("perturbation", "perturbation", ("perturbation-prepare", "perturbation"), ("condition_key",),
             ("condition_key", "control_name"),
             ("spearman_correlation_calculation", "mean_squared_error", "pearson_delta", "jaccard"),
             per_representation=False),
]

#: task name (as in results) -> its spec; the `in_run` ones first, in the order `cellbench run` runs them.
TASKS: dict[str, TaskSpec] = {spec.name: spec for spec in _SPECS}

#: The tasks `cellbench run` can run, in its order.
RUN_TASKS: tuple[str, ...] = tuple(name for name, spec in TASKS.items() if spec.in_run)


def task(name: str) -> TaskSpec:
    """The spec of a task; a KeyError naming the known ones for anything else."""
    try:
        return TASKS[name]
    except KeyError:
        raise KeyError(f"unknown task '{name}' (known: {', '.join(TASKS)})") from None
