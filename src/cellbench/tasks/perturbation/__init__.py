"""Genetic perturbation expression prediction: does predicted expression move like the real one?

Two steps. First the truth, once per dataset (`prepare`). Its two hard parts are:
- a map from every treated cell to one control cell, the reference's `control_cells_map`;
- Wilcoxon differential expression of each condition's cells against its matched controls
  (per condition: filter cells/genes, normalize_total to 1e4, log1p, scanpy rank_genes_groups with
  the controls as reference), the reference's `de_results_wilcoxon`.
cz-benchmarks' own perturbation datasets ship both in the h5ad: `prepare_from_shipped` takes them as
they are, so scores compare with published cz-benchmarks numbers. For other datasets
`prepare_perturbation` recomputes them as the reference's helpers do (`de`: the map is seeded,
within a batch when a match key is given). Either way the truth then holds
- the DE gene filter (pval_adj < 1e-4 and |logfoldchange| >= 1) and the seeded 50 % sample of those
  genes that is evaluated, for conditions where that sample has at least 5 genes (the reference's
  `SingleCellPerturbationDataset` / `sample_de_genes`, with its legacy-MT19937 draws so the same DE
  table gives the same genes);
- the observed mean log-normalized expression (normalize_total 1e4, log1p, all genes) of each
  condition's treated cells and of its matched controls: the truth for MSE and Pearson delta.

`evaluate_prediction` / `evaluate_baseline` (`evaluate`) then score predicted expression per
condition (`scoring`):
- `spearman_correlation_calculation` (the reference's metric): Spearman of the true DE
  logfoldchanges vs the predicted effect over the evaluated genes, where the effect is
  ln((mean_treated + 1e-8) / (mean_control + 1e-8)) of the predictions ("ratio"), or, as the
  reference silently does when any of those means is <= 0, mean_treated - mean_control
  ("difference"); the params say which was used;
- `mean_squared_error` of predicted vs observed mean treated expression, over the condition's top 20
  DE genes (largest |Wilcoxon score|) and over all genes;
- `pearson_delta`: Pearson r of the predicted change (predicted treated minus predicted control
  means) and the observed change (observed treated minus matched control means), over the top 20
  DE genes and over all genes; undefined (a constant change, e.g. "no_change") scores 0, with
  params raw_value "NaN" saying so;
- `jaccard`: overlap of the true DE set (the filtered genes) with the predicted one, the same
  number of genes with the largest nonzero |predicted mean change| ("overlap at N");
and the mean of each over the evaluated conditions (params condition "MEAN").
MSE and Pearson delta compare predictions with the observed log-normalized expression, so they
assume predictions in that scale (log1p of counts per 10,000); Spearman and Jaccard use only ranks
within the prediction. Their gene-wise means are float64 sums in a fixed order (`mean_rows`), so a
sparse and a dense prediction give the same bytes.

Baselines: "no_change" predicts the matched control mean for every condition; "other_mean"
predicts the mean over the other conditions of their observed treated means. A model that does not
beat them is visible in the same metrics.

The data model (`PreparedPerturbation`, `PrepareSettings`, `DE_COLUMNS`) lives in
`cellbench.perturbation_data`, shared with io; it is re-exported here.
"""

from cellbench.perturbation_data import DE_COLUMNS, PreparedPerturbation, PrepareSettings, filter_de
from cellbench.tasks.perturbation.de import differential_expression, match_controls, sample_evaluated_genes
from cellbench.tasks.perturbation.evaluate import (
    BASELINES,
    baseline_means,
    check_request,
    evaluate_baseline,
    evaluate_prediction,
    score_perturbation,
    select_conditions,
)
from cellbench.tasks.perturbation.expression import log_normalize, mean_rows
from cellbench.tasks.perturbation.prepare import (
    check_expression,
    observed_truth,
    prepare_from_shipped,
    prepare_perturbation,
    prepare_truth,
)
from cellbench.tasks.perturbation.scoring import (
    EPS,
    ConditionPrediction,
    Effect,
    condition_metrics,
    mean_over_conditions,
    predicted_de_set,
    predicted_effect,
    spearman_for_condition,
    top_de_genes,
)

__all__ = [
    "BASELINES",
    "DE_COLUMNS",
    "EPS",
    "ConditionPrediction",
    "Effect",
    "PrepareSettings",
    "PreparedPerturbation",
    "baseline_means",
    "check_expression",
    "check_request",
    "condition_metrics",
    "differential_expression",
    "evaluate_baseline",
    "evaluate_prediction",
    "filter_de",
    "log_normalize",
    "match_controls",
    "mean_over_conditions",
    "mean_rows",
    "observed_truth",
    "predicted_de_set",
    "predicted_effect",
    "prepare_from_shipped",
    "prepare_perturbation",
    "prepare_truth",
    "sample_evaluated_genes",
    "score_perturbation",
    "select_conditions",
    "spearman_for_condition",
    "top_de_genes",
]
