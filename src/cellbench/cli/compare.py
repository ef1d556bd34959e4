"""`cellbench compare`: paired comparisons of models over datasets from an aggregate table."""

import click

from cellbench.cli._options import N_BOOT, N_BOOT_TEXT, seed_option
from cellbench.cli._report_options import baselines_option, level_option


@click.command(
    "compare",
    help="Paired comparison of models, per task x metric x variant, over the datasets both were "
    "scored on (the per-dataset mean over seeds): A's wins/ties/losses (direction-aware), mean of "
    "A - B with a percentile bootstrap CI, a two-sided Wilcoxon signed-rank p-value and its "
    "Benjamini-Hochberg adjustment. Default: every pair of models and every model against every "
    "baseline; --model-a alone: A against all others. Input: the table of `cellbench aggregate` "
    "(.tsv or .parquet), checked first: a missing column, a row with too few or too many columns (a table "
    "cut short) or a value of the wrong type is an error naming the file and the row. Output: a TSV.\n\n"
    "Example: cellbench compare --table results/aggregate.tsv --output results/comparison.tsv",
)
@click.option("-t", "--table", "table_path", required=True, type=click.Path(exists=True, dir_okay=False),
              help="Aggregate table (.tsv or .parquet) from `cellbench aggregate`.")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="Comparison TSV to write.")
@click.option("--model-a", default=None, help="Compare this model ...")
@click.option("--model-b", default=None, help="... with this one (both: one pair).")
@baselines_option("Comma-separated model names that are baselines.")
@click.option("--unit", type=click.Choice(["dataset", "seed"]), default="dataset", show_default=True,
              help="Paired unit: a dataset (mean over seeds), or a dataset x seed (only for metrics that "
              "change with the seed; a deterministic metric repeated over seeds is not more evidence).")
@click.option("--pool", default="condition", show_default=True,
              help="Comma-separated variant keys whose values are paired units, not separate metrics "
              "(perturbation conditions); '' for none.")
@click.option("--n-boot", default=10000, show_default=True, type=N_BOOT,
              help=f"Bootstrap resamples for the CI of the mean difference. {N_BOOT_TEXT}")
@seed_option("Seed of the bootstrap.")
@level_option("CI coverage.")
@click.option("--tie-tolerance", default=1e-12, show_default=True, type=click.FloatRange(min=0),
              help="Absolute difference at or below which two models tie on a unit.")
def command(table_path, output, model_a, model_b, baselines, unit, pool, n_boot, seed, level, tie_tolerance):
    from cellbench.report.compare import compare, write_comparison
    from cellbench.report.table import parse_baselines
    from cellbench.report.tablefile import mark_baselines, read_table

    base = parse_baselines(baselines)
    table = mark_baselines(read_table(table_path), base)
    comp = compare(
        table,
        model_a=model_a,
        model_b=model_b,
        baselines=base,
        unit=unit,
        pool=[p.strip() for p in pool.split(",") if p.strip()],
        n_boot=n_boot,
        level=level,
        seed=seed,
        tie_tolerance=tie_tolerance,
    )
    write_comparison(comp, output)
    click.echo(f"{len(comp)} comparisons -> {output}", err=True)
