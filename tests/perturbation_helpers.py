"""Test-only helpers for the perturbation task (not part of cellbench itself)."""

from __future__ import annotations

from cellbench.perturbation_data import PreparedPerturbation


def reference_task_uns(prepared: PreparedPerturbation) -> dict:
    """The adata.uns that cz-benchmarks' PerturbationExpressionPredictionTask reads, built from the
    prepared truth (for parity checks): filtered DE as de_results (condition, gene_id,
    logfoldchange), the treated -> control map, the evaluated genes and the config."""
    de = prepared.de_filtered()[["condition", "gene", "logfoldchange"]].rename(columns={"gene": "gene_id"})
    control_map = {
        str(cond): dict(zip(pairs["treated"].astype(str), pairs["control"].astype(str)))
        for cond, pairs in prepared.control_map.groupby("condition", sort=True)
    }
    return {
        "de_results": de.reset_index(drop=True),
        "control_cells_map": control_map,
        "target_conditions_dict": {k: list(v) for k, v in prepared.evaluated_genes.items()},
        "metric_column": "logfoldchange",
        "config": {"condition_key": "condition", "control_name": prepared.settings.control_name},
    }
