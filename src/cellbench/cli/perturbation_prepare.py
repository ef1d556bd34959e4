"""`cellbench perturbation-prepare`: the truth a perturbation prediction is scored against."""

import click

from cellbench.cli._options import seed_option


@click.command(
    "perturbation-prepare",
    help="Prepare a perturbation dataset for scoring. A dataset in cz-benchmarks' own format ships its "
    "Wilcoxon DE table and treated -> control map (uns['de_results_wilcoxon'], uns['control_cells_map']): "
    "with --de-source auto (the default) or shipped they are used as they are, so scores compare with "
    "published cz-benchmarks numbers (--match-key, --obs-query, --min-cells, --min-genes-per-cell and "
    "--min-cells-per-gene do not apply). Otherwise (or with --de-source recompute) cellbench computes them: "
    "map every "
    "treated cell to a control cell (seeded; within --match-key groups when given), run Wilcoxon "
    "differential expression of each condition against its matched controls (scanpy rank_genes_groups "
    "after normalize_total 1e4 + log1p). Both paths then keep DE genes with pval_adj < --pval-threshold and "
    "|logfoldchange| >= --min-abs-logfoldchange, draw the seeded --fraction-evaluated of them that is "
    "scored (conditions with at least --min-evaluated-genes), and average the observed log-normalized "
    "expression of each condition's treated cells and matched controls. Input: an .h5ad of raw counts "
    "(X or --layer) with control and perturbed cells and an obs column --condition-key; conditions with "
    "fewer than --min-cells cells are skipped (listed in the file). Output: one .h5ad (written "
    "atomically) holding all of it: obs = conditions, var = genes, X = treated means, "
    "layers['control_mean'], uns['de'], uns['evaluated_genes'], uns['control_map'], uns['settings'] "
    "(its de_source says which path was taken); `cellbench perturbation` needs nothing else.\n\n"
    "Example: cellbench perturbation-prepare --input papalexi.h5ad --condition-key condition "
    "--control-name ctrl --obs-query 'grna_umi_max >= 5 and grna_umi_frac >= 0.8' --output prepared.h5ad",
)
@click.option("-i", "--input", "input_path", required=True, type=click.Path(dir_okay=False),
              help="Perturbation dataset (.h5ad) of raw counts with control and perturbed cells.")
@click.option("--dataset-name", default=None, help="Name of the dataset in results [default: the input file's stem].")
@click.option("--layer", default=None, help="Take raw counts from this layer instead of X.")
@click.option("--condition-key", default="condition", show_default=True, help="obs column naming each cell's perturbation.")
@click.option("--control-name", default="ctrl", show_default=True, help="Value of --condition-key for control cells.")
@click.option("--condition", "conditions", multiple=True,
              help="Prepare only this condition (repeatable) [default: every non-control condition].")
@click.option("--match-key", default=None, help="Match treated to control cells within groups of this obs column (e.g. a batch).")
@click.option("--obs-query", default=None,
              help="Keep only cells matching this filter on obs columns, e.g. 'grna_umi_frac >= 0.8 and "
              "condition != \"ctrl\"'. Grammar (parsed, never evaluated as Python): column (or `quoted "
              "column`) == != < <= > >= a number, 'string', \"string\", True or False; column [not] in "
              "[values]; and, or, not, parentheses (docs/pipeline.md).")
@click.option("--min-cells", default=50, show_default=True, type=click.IntRange(min=1),
              help="Skip conditions with fewer cells.")
@click.option("--min-genes-per-cell", default=0, show_default=True, type=click.IntRange(min=0),
              help="Drop cells with fewer detected genes before DE (the reference's helper uses 1000, for "
              "whole-transcriptome data).")
@click.option("--min-cells-per-gene", default=10, show_default=True, type=click.IntRange(min=0),
              help="Drop genes detected in fewer cells before DE.")
@click.option("--pval-threshold", default=1e-4, show_default=True, type=float, help="DE genes: pval_adj below this.")
@click.option("--min-abs-logfoldchange", default=1.0, show_default=True, type=float,
              help="DE genes: |logfoldchange| at least this.")
@click.option("--fraction-evaluated", default=0.5, show_default=True, type=click.FloatRange(0, 1),
              help="Share of each condition's DE genes that is scored.")
@click.option("--min-evaluated-genes", default=5, show_default=True, type=click.IntRange(min=0),
              help="Score a condition only if that share is at least this many genes.")
@click.option("--de-source", type=click.Choice(["auto", "shipped", "recompute"]), default="auto", show_default=True,
              help="auto: use the DE table and control map the dataset ships when it has both, else recompute; "
              "shipped: require them; recompute: ignore them.")
@click.option("--de-gene-col", default="gene_id", show_default=True,
              help="Gene column of the shipped DE table (the reference's de_gene_col).")
@seed_option("Seed of the control matching and the gene draw.")
@click.option("--threads", default=1, show_default=True, type=click.IntRange(min=1), help="Threads for BLAS.")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="Prepared .h5ad to write.")
def command(input_path, dataset_name, layer, condition_key, control_name, conditions, match_key, obs_query, min_cells,
            min_genes_per_cell, min_cells_per_gene, pval_threshold, min_abs_logfoldchange, fraction_evaluated,
            min_evaluated_genes, de_source, de_gene_col, seed, threads, output):
    import logging

    from cellbench.cli._options import limit_threads
    from cellbench.errors import InputError
    from cellbench.io.perturbation import load_perturbation_dataset, write_prepared
    from cellbench.io.results import sha256_file
    from cellbench.io.task_inputs import default_dataset_name
    from cellbench.perturbation_data import PrepareSettings
    from cellbench.tasks.perturbation import prepare_truth

    data = load_perturbation_dataset(
        input_path, condition_key=condition_key, control_name=control_name, layer=layer, match_key=match_key,
        obs_query=obs_query, de_source=de_source, de_gene_col=de_gene_col,
        recompute_options_given=_options_given(PrepareSettings.RECOMPUTE_ONLY),
    )
    shipped = data.shipped is not None
    settings = PrepareSettings(
        condition_key=condition_key, control_name=control_name, match_key=match_key, min_cells=min_cells,
        min_genes_per_cell=min_genes_per_cell, min_cells_per_gene=min_cells_per_gene, pval_threshold=pval_threshold,
        min_abs_logfoldchange=min_abs_logfoldchange, fraction_evaluated=fraction_evaluated,
        min_evaluated_genes=min_evaluated_genes, seed=seed, obs_query=obs_query,
        de_source="shipped" if shipped else "recomputed", de_gene_col=de_gene_col if shipped else None,
    )
    try:
        with limit_threads(threads):
            prepared = prepare_truth(
                data.counts, data.genes, data.cell_ids, data.conditions, settings, batches=data.batches,
                shipped=data.shipped, only=list(conditions) if conditions else None,
            )
    except InputError as exc:
        raise InputError(f"{input_path}: {exc}") from None
    name = default_dataset_name(input_path, dataset_name)
    write_prepared(prepared, output, dataset=name, dataset_sha256=sha256_file(input_path))
    logging.getLogger("cellbench").info(
        "%s: %d conditions prepared (%d with evaluated DE genes), %d skipped; DE table and control map %s",
        output, prepared.conditions.size, len(prepared.evaluated_genes), len(prepared.skipped), settings.de_source,
    )


def _options_given(names) -> tuple[str, ...]:
    """Those of `names` (option parameter names) given on the command line, not left at their default."""
    ctx = click.get_current_context()
    return tuple(n for n in names if ctx.get_parameter_source(n) not in (click.core.ParameterSource.DEFAULT, None))
