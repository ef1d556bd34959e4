"""Options shared by `cellbench aggregate`, `compare` and `report` (click only at import time)."""

import click

from cellbench.cli._options import N_BOOT, N_BOOT_TEXT, seed_option

DEFAULT_BASELINES_TEXT = "pca,raw_expression,no_change,other_mean"


def report_options(f):
    """--baselines, --n-boot, --seed, --level."""
    f = click.option(
        "--level",
        default=0.95,
        show_default=True,
        type=click.FloatRange(0, 1, min_open=True, max_open=True),
        help="Coverage of the confidence intervals.",
    )(f)
    f = seed_option("Seed of the bootstrap resampling.")(f)
    f = click.option(
        "--n-boot",
        default=1000,
        show_default=True,
        type=N_BOOT,
        help=f"Bootstrap resamples for fold / variant intervals (0: none). {N_BOOT_TEXT}",
    )(f)
    f = click.option(
        "--baselines",
        default=DEFAULT_BASELINES_TEXT,
        show_default=True,
        help="Comma-separated model names that are baselines (marked in tables and plots).",
    )(f)
    return f
