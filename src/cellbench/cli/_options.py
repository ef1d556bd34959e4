"""Options shared by the task commands, and the glue that turns them into arrays and a result file.

Every task command takes the same dataset / representation / output options, so the pipeline's
modules all read alike: `cellbench TASK --input D.h5ad [--embedding E] [--obsm-key K] --model-name M
--label-key L --output R.json --seed S --threads N [--n-boot B]`.
"""

from __future__ import annotations

import functools

import click

#: Seeds are 0..2**32 - 1: what numpy's legacy RandomState and scikit-learn's random_state accept,
#: so every seeded step takes the same seed and none fails half-way through a run.
SEED_MAX = 2**32 - 1
#: Bootstrap resamples: 0 switches intervals off; below N_BOOT_MIN the percentiles of a 95% interval
#: are not estimated at all, above N_BOOT_MAX the run time grows with no visible gain in precision.
N_BOOT_MIN, N_BOOT_MAX = 10, 10000
N_BOOT_TEXT = f"Allowed: 0, or {N_BOOT_MIN} to {N_BOOT_MAX}."


class SeedType(click.ParamType):
    """A seed: an integer 0..SEED_MAX (a usage error otherwise, before any work)."""

    name = "seed"

    def convert(self, value, param, ctx):
        if isinstance(value, int) and not isinstance(value, bool):
            seed = value
        else:
            try:
                seed = int(str(value).strip(), 10)
            except ValueError:
                self.fail(f"'{value}' is not an integer seed (seeds are 0 to {SEED_MAX})", param, ctx)
        if not 0 <= seed <= SEED_MAX:
            self.fail(f"{seed} is out of range (seeds are 0 to {SEED_MAX})", param, ctx)
        return seed


class SeedListType(click.ParamType):
    """Comma-separated seeds ('42,7'), each a SeedType, none twice; gives a list of ints."""

    name = "seeds"

    def convert(self, value, param, ctx):
        if isinstance(value, list):
            return value
        parts = [v.strip() for v in str(value).split(",") if v.strip()]
        if not parts:
            self.fail("give at least one seed", param, ctx)
        seeds = [SEED.convert(v, param, ctx) for v in parts]
        twice = next((s for i, s in enumerate(seeds) if s in seeds[:i]), None)
        if twice is not None:
            self.fail(f"seed {twice} is given twice", param, ctx)
        return seeds


class NBootType(click.ParamType):
    """Bootstrap resamples: 0 (no interval) or N_BOOT_MIN..N_BOOT_MAX."""

    name = "integer"

    def convert(self, value, param, ctx):
        n = click.INT.convert(value, param, ctx)
        if n != 0 and not N_BOOT_MIN <= n <= N_BOOT_MAX:
            self.fail(f"{n} resamples: give 0 (no interval) or {N_BOOT_MIN} to {N_BOOT_MAX}", param, ctx)
        return n


SEED = SeedType()
N_BOOT = NBootType()


def seed_option(help_text: str, *, default: int | None = 42):
    """The --seed option of every command that takes one: one range check for all of them."""
    return click.option("--seed", default=default, show_default=default is not None, type=SEED,
                        help=f"{help_text} Integer 0 to {SEED_MAX}.")


def seeds_option(f):
    """--seeds of `cellbench run`: a comma-separated list of seeds, each checked as --seed is."""
    return click.option(
        "--seeds", default="42", show_default=True, type=SeedListType(),
        help=f"Comma-separated seeds, each 0 to {SEED_MAX} and none twice; every unit runs once per seed.",
    )(f)


def dataset_options(f):
    """--input and --dataset-name."""
    f = click.option(
        "--dataset-name",
        default=None,
        help="Name of the dataset in results [default: the input file's stem].",
    )(f)
    f = click.option(
        "-i",
        "--input",
        "input_path",
        required=True,
        type=click.Path(dir_okay=False),
        help="The dataset (.h5ad) with the obs columns (labels, batches, time points).",
    )(f)
    return f


def representation_options(f):
    """--embedding, --obsm-key, --layer, --model-name."""
    f = click.option(
        "--model-name",
        default=None,
        help="Name of the representation in results [default: obsm key, embedding file stem, or 'X'].",
    )(f)
    f = click.option("--layer", default=None, help="Use this layer of the file as the representation.")(f)
    f = click.option(
        "--obsm-key", default=None, help="Use this obsm key of the file (e.g. X_scGPT) as the representation."
    )(f)
    f = click.option(
        "--embedding",
        default=None,
        type=click.Path(dir_okay=False),
        help="Separate representation file: .h5ad (aligned by cell id) or .npy (same cell order). "
        "Without it the representation comes from --input.",
    )(f)
    return f


def max_cells_option(f):
    """--max-cells: above this many cells, the all-pairs metrics become seeded sampled estimates."""
    return click.option(
        "--max-cells", default=None, type=click.IntRange(min=2),
        help="Atlas scale: above this many cells, estimate the metrics that need every pair or every "
        "neighbourhood (silhouette_score, entropy_per_cell) from a seeded sample of this many cells "
        "(each sampled cell's value exact, against all cells; the interval covers the sampling). The "
        "metric's params then carry n_sample. [default: exact at any size]",
    )(f)


def _check_device(ctx, param, value):
    """--device: the name checked and the device opened before any work (a usage error otherwise)."""
    from cellbench import device

    try:
        device.check_name(value)
        if value != "cpu":
            device.torch_device(value)
    except (ValueError, device.DeviceUnavailable) as err:
        raise click.BadParameter(str(err), ctx, param) from None
    return value


def device_option(f):
    """--device of the commands whose metrics make all-pairs products (`cellbench.device`)."""
    return click.option(
        "--device", default="cpu", show_default=True, callback=_check_device,
        help="Where the all-pairs products of the exact neighbour search and the silhouette run: cpu, or "
        "cuda / cuda:N (the GPU path: pip install 'cellbench[gpu]'; the same neighbours, silhouettes within "
        "float32 rounding), or torch-cpu (the GPU code on the CPU, for testing).",
    )(f)


def n_boot_option(f):
    """--n-boot: resamples of the task-time bootstrap intervals (`ci` of a metric); 0 switches them off."""
    return click.option(
        "--n-boot",
        default=1000,
        show_default=True,
        type=N_BOOT,
        help="Bootstrap resamples for the confidence interval stored with each metric that is a mean over "
        "cells, folds or conditions (seeded with the run's seed; the value itself never changes); 0: no interval. "
        f"{N_BOOT_TEXT} Metrics without such a decomposition (e.g. ARI, NMI) have none.",
    )(f)


def threads_option(f):
    """--threads for commands that only need to cap BLAS pools (aggregate, report, label-merge)."""
    return click.option(
        "--threads",
        default=1,
        show_default=True,
        type=click.IntRange(min=1),
        help="Threads for BLAS (the pipeline passes task.cpus).",
    )(f)


def run_options(f):
    """--output, --seed, --threads, --n-boot."""
    f = n_boot_option(f)
    f = click.option(
        "--threads",
        default=1,
        show_default=True,
        type=click.IntRange(min=1),
        help="Threads for BLAS and parallel steps (the pipeline passes task.cpus).",
    )(f)
    f = seed_option("Seed of every random step.")(f)
    f = click.option(
        "-o",
        "--output",
        required=True,
        type=click.Path(dir_okay=False),
        help="Result JSON file to write (written atomically).",
    )(f)
    return f


def limit_threads(threads: int):
    """Cap BLAS/OpenMP pools (works after numpy is imported, unlike environment variables)."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=threads)


def task_command(f):
    """Decorate a command body: start a stopwatch and pass it as `stopwatch`."""

    @functools.wraps(f)
    def wrapper(*args, **kwargs):
        from cellbench.io.results import Stopwatch

        return f(*args, stopwatch=Stopwatch(), **kwargs)

    return wrapper
