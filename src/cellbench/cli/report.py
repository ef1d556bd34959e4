"""`cellbench report`: tables, plots, MultiQC content and the MultiQC report from a results folder."""

import click

from cellbench.cli._options import N_BOOT, N_BOOT_TEXT, threads_option
from cellbench.cli._report_options import report_options


@click.command(
    "report",
    help="Render the benchmark report from result JSONs (files or folders, searched recursively) or "
    "from one aggregate table (.tsv/.parquet), without Nextflow. Writes into OUTDIR: aggregate.tsv and "
    ".parquet, comparison.tsv, plots/ (heatmap of models x metrics, ranking per task, one bar chart "
    "per dataset; PNG and SVG), MultiQC custom content (*_mqc.html / *_mqc.json) with "
    "multiqc_config.yaml, and multiqc_report.html when MultiQC is installed (else it says how to run "
    "it). The report is written into a hidden folder beside OUTDIR and renamed into place whole, replacing "
    "an earlier report, so a failure leaves the earlier report or nothing; OUTDIR must therefore be new, "
    "empty or an earlier report (a folder holding other files is refused).\n\n"
    "Example: cellbench report --results results/ --outdir report/",
)
@click.option("-r", "--results", multiple=True, required=True, type=click.Path(exists=True),
              help="Result JSON file or folder, or an aggregate table; repeat for several.")
@click.option("-o", "--outdir", required=True, type=click.Path(file_okay=False), help="Folder to write.")
@click.option("--multiqc/--no-multiqc", default=None,
              help="Run MultiQC on the custom content [default: if installed]; --multiqc fails without it.")
@click.option("--compare-n-boot", default=10000, show_default=True, type=N_BOOT,
              help=f"Bootstrap resamples for the CIs of paired differences. {N_BOOT_TEXT}")
@report_options
@threads_option
def command(results, outdir, multiqc, compare_n_boot, baselines, n_boot, seed, level, threads):
    from cellbench.cli._options import limit_threads
    from cellbench.report.build import build_report
    from cellbench.report.table import parse_baselines

    with limit_threads(threads):
        rep = build_report(
            list(results),
            outdir,
            baselines=parse_baselines(baselines),
            n_boot=n_boot,
            n_boot_compare=compare_n_boot,
            level=level,
            seed=seed,
            multiqc=multiqc,
        )
    click.echo(f"tables: {rep.table}, {rep.parquet}, {rep.comparison}", err=True)
    click.echo(f"plots: {len(rep.figures)} in {rep.outdir / 'plots'}; MultiQC content: {len(rep.mqc_files)} files",
               err=True)
    click.echo(rep.multiqc_note, err=True)
