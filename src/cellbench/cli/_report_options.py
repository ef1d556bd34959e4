"""Options shared by `cellbench aggregate`, `compare` and `report` (click only at import time)."""

import click

from cellbench.cli._options import N_BOOT, N_BOOT_TEXT, seed_option
from cellbench.report.table import DEFAULT_BASELINES

DEFAULT_BASELINES_TEXT = ",".join(DEFAULT_BASELINES)


def baselines_option(help_text: str):
    """--baselines: comma-separated model names, the defaults of every report command."""
    return click.option("--baselines", default=DEFAULT_BASELINES_TEXT, show_default=True, help=help_text)


def level_option(help_text: str):
    """--level: the coverage of confidence intervals, strictly between 0 and 1."""
    return click.option("--level", default=0.95, show_default=True,
                        type=click.FloatRange(0, 1, min_open=True, max_open=True), help=help_text)


def report_options(f):
    """--baselines, --n-boot, --seed, --level."""
    f = level_option("Coverage of the confidence intervals.")(f)
    f = seed_option("Seed of the bootstrap resampling.")(f)
    f = click.option(
        "--n-boot",
        default=1000,
        show_default=True,
        type=N_BOOT,
        help=f"Bootstrap resamples for fold / variant intervals (0: none). {N_BOOT_TEXT}",
    )(f)
    f = baselines_option("Comma-separated model names that are baselines (marked in tables and plots).")(f)
    return f
