"""Every metric a task writes, in one table: its result name, implementation, direction and source.

`METRICS` is keyed by the `metric_type` written to result files. Before it, a newcomer had to grep
the tasks for the names, guess the direction from the name and find the implementation by hand.
Implementations are dotted paths, so reading the table imports no metric module (and no sklearn).
tests/test_registry.py checks that every metric_type in src/ is here, that each module of this
package provides one, and that docs/TASKS.md's metric table lists them all.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class MetricSpec:
    """One metric as results name it.

    `array_level`: `function` called on arrays gives the value, and `cellbench.metrics` exports it
    under `name`; otherwise `function` is the helper that computes it among others (a fold's five
    classification scores, the mean over folds). `estimators`: seeded estimates of the same value
    for atlases too large for the exact one (the tasks' `--max-cells`, params {"n_sample": m}).
    """

    name: str
    function: str
    higher_is_better: bool
    tasks: tuple[str, ...]
    reference: str
    description: str
    array_level: bool = True
    estimators: tuple[str, ...] = ()

    def load(self) -> Callable:
        """The implementation (imports its module)."""
        module, _, attr = self.function.rpartition(".")
        return getattr(importlib.import_module(module), attr)


_M = "cellbench.metrics."
_CZ = "cz-benchmarks 0.15.1, https://github.com/chanzuckerberg/cz-benchmarks"
_SCIB = "Luecken et al. 2022, Nat. Methods 19:41-50 (scib); scib-metrics, https://github.com/YosefLab/scib-metrics"
_GEARS = "Roohani et al. 2024, Nat. Biotechnol. 42:927-935 (GEARS)"
_SKLEARN = "scikit-learn, https://scikit-learn.org/stable/modules/model_evaluation.html"

#: The five per-fold classification scores (cellbench.metrics.classification.SCORES) and what they say.
_CLASSIFICATION = {
    "accuracy": "share of test cells whose label is predicted right",
    "f1": "F1 score (binary with 2 classes, else macro average)",
    "precision": "precision (binary with 2 classes, else macro average)",
    "recall": "recall (binary with 2 classes, else macro average)",
    "auroc": "area under the ROC curve of predict_proba (macro, one-vs-rest)",
}


def _classification_specs() -> list[MetricSpec]:
    """Each classification score of one fold (or species pair), then each mean over folds."""
    source = f"{_SKLEARN}; {_CZ}"
    per_fold = [
        MetricSpec(score, _M + "classification.fold_scores", True, ("label_prediction_fold", "cross_species_label"),
                   source, f"Classifier's {what}, on one fold or one species pair.", array_level=False)
        for score, what in _CLASSIFICATION.items()
    ]
    means = [
        MetricSpec(f"mean_fold_{score}", _M + "classification.nan_mean", True, ("label_prediction", "cross_species_label"),
                   source, f"Mean over cross-validation folds of the classifier's {what}.", array_level=False)
        for score, what in _CLASSIFICATION.items()
    ]
    return per_fold + means


_SPECS = [
    MetricSpec(
        "adjusted_rand_index", _M + "adjusted_rand_index.adjusted_rand_index", True, ("clustering",),
        f"Hubert & Arabie 1985, J. Classif. 2:193-218; {_SKLEARN}",
        "Agreement of Leiden clusters with the labels, corrected for chance.",
    ),
    MetricSpec(
        "normalized_mutual_info", _M + "normalized_mutual_info.normalized_mutual_info", True, ("clustering",),
        f"Strehl & Ghosh 2002, JMLR 3:583-617; {_SKLEARN}",
        "Mutual information of Leiden clusters and labels, normalised by their mean entropy.",
    ),
    MetricSpec(
        "silhouette_score", _M + "silhouette_label.silhouette_label", True, ("embedding", "sequential"),
        f"Rousseeuw 1987, J. Comput. Appl. Math. 20:53-65; {_SCIB}",
        "Mean silhouette width of the representation w.r.t. the labels, rescaled to [0, 1].",
        estimators=(_M + "silhouette_sampled.sampled_silhouette_widths",),
    ),
    MetricSpec(
        "entropy_per_cell", _M + "entropy_per_cell.entropy_per_cell", True,
        ("integration", "cross_species_integration"), _CZ,
        "Mean normalised batch entropy of each cell's k nearest neighbours (1 = batches mixed).",
        estimators=(_M + "entropy_sampled.sampled_entropy_values",),
    ),
    MetricSpec(
        "batch_silhouette", _M + "silhouette_batch.silhouette_batch", True,
        ("integration", "cross_species_integration"), _SCIB,
        "1 - abs(silhouette w.r.t. batch) within label groups, averaged over groups (1 = batches mixed).",
    ),
    MetricSpec(
        "sequential_alignment", _M + "sequential_alignment.sequential_alignment", True, ("sequential",), _CZ,
        "How close in time a cell's nearest neighbours are, against a random baseline (1 = same time).",
    ),
    *_classification_specs(),
    MetricSpec(
        "spearman_correlation_calculation", _M + "spearman.spearman_correlation", True, ("perturbation",),
        f"Spearman 1904, Am. J. Psychol. 15:72-101; {_CZ}",
        "Rank agreement of true DE log fold changes and predicted effects over the evaluated genes.",
    ),
    MetricSpec(
        "mean_squared_error", _M + "mean_squared_error.mean_squared_error", False, ("perturbation",), _GEARS,
        "Mean squared error of predicted vs true mean expression (top DE genes, all genes).",
    ),
    MetricSpec(
        "pearson_delta", _M + "pearson_delta.pearson_delta", True, ("perturbation",), _GEARS,
        "Pearson r of predicted vs true change from control (top DE genes, all genes).",
    ),
    MetricSpec(
        "jaccard", _M + "jaccard.jaccard_index", True, ("perturbation",), f"Jaccard 1912, New Phytol. 11:37-50; {_CZ}",
        "Overlap of the predicted and the true sets of differentially expressed genes.",
    ),
]

#: metric_type -> its spec, in the order the docs table lists them.
METRICS: dict[str, MetricSpec] = {spec.name: spec for spec in _SPECS}


def metric(name: str) -> MetricSpec:
    """The spec of a metric_type; a KeyError naming the known ones for anything else."""
    try:
        return METRICS[name]
    except KeyError:
        raise KeyError(f"unknown metric '{name}' (known: {', '.join(METRICS)})") from None


def higher_is_better(name: str) -> bool:
    """Whether a larger value of this metric is better (the report's ranking direction)."""
    return metric(name).higher_is_better
