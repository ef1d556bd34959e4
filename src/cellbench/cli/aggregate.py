"""`cellbench aggregate`: result JSONs -> one tidy table (TSV and parquet)."""

import click

from cellbench.cli._options import threads_option
from cellbench.cli._report_options import report_options


@click.command(
    "aggregate",
    help="Gather result JSON files (and every *.json under folders given) into one tidy table: one row "
    "per task x dataset x model x metric x variant, with n, mean, sd, sem, min, max over seeds and a "
    "confidence interval (task-time bootstrap over cells, bootstrap over CV folds, or a t interval "
    "over seeds; column ci_method says which). Writes PREFIX.tsv and PREFIX.parquet, rows in a "
    "fixed order. A file that is not a cellbench result, or a result of another major schema_version "
    "(any 1.x is read), is an error naming it; nothing is written then.\n\n"
    "Example: cellbench aggregate --output-prefix results/aggregate results/",
)
@click.argument("results", nargs=-1, required=True, type=click.Path(exists=True))
@click.option(
    "-o",
    "--output-prefix",
    required=True,
    help="Write PREFIX.tsv and PREFIX.parquet (folders are created).",
)
@report_options
@threads_option
def command(results, output_prefix, baselines, n_boot, seed, level, threads):
    from cellbench.cli._options import limit_threads
    from cellbench.report.table import aggregate, find_result_files, parse_baselines
    from cellbench.report.tablefile import write_table

    files = find_result_files(results)
    if not files:
        raise click.ClickException(f"no result JSON files in {', '.join(results)}")
    with limit_threads(threads):
        table = aggregate(files, baselines=parse_baselines(baselines), n_boot=n_boot, level=level, seed=seed)
    tsv, parquet = write_table(table, output_prefix)
    click.echo(f"{len(files)} result files -> {len(table)} rows: {tsv}, {parquet}", err=True)
