"""The `cellbench` command line: one small click command per unit of work.

Commands are registered by name in COMMANDS and imported only when run, so `cellbench --help` and
every process the pipeline starts pay only for the libraries their own command needs. Each command
lives in `cellbench/cli/<name with _>.py` as a click command called `command`, and imports numpy,
anndata and friends inside its body, never at module level.
"""

from __future__ import annotations

import importlib
import logging
import sys

import click

from cellbench import __version__

# name -> one-line summary (shown by `cellbench --help` without importing the command's module)
COMMANDS: dict[str, str] = {
    "run": "Run a whole small benchmark on one dataset in this process (all tasks, baselines, report).",
    "baseline": "Compute a baseline representation (PCA from raw counts) and write it as an .h5ad.",
    "model-harmony": "Run the built-in harmony runner (PCA of the counts, batch-corrected) into an embedding .h5ad.",
    "model-scvi": "Train the built-in scVI runner on the counts into an embedding .h5ad (needs cellbench[scvi]).",
    "model-check": "Check a container model's raw output against the contract; write it with its provenance.",
    "extract": "Write the compact input (obs columns + one representation) of one dataset x representation's tasks.",
    "clustering": "Leiden clustering of a representation vs labels: ARI and NMI.",
    "embedding": "Silhouette score of a representation with respect to labels.",
    "integration": "Batch integration: entropy per cell and batch silhouette.",
    "sequential": "Sequential organization: silhouette and sequential alignment along time labels.",
    "label-split": "Filter small classes and assign stratified CV folds; writes a folds TSV.",
    "label-fold": "Train and score one classifier on one CV fold (one unit of label prediction).",
    "label-merge": "Merge per-fold label prediction results into the 20 mean_fold_* metrics.",
    "label-prediction": "Label prediction, all folds and classifiers in this process.",
    "cross-species-integration": "Entropy and batch silhouette of per-species embeddings stacked (batch = species).",
    "cross-species-label": "Cross-species label prediction for one (train species, test species) pair.",
    "perturbation-prepare": "Differential expression, evaluated genes and control map of a perturbation dataset.",
    "perturbation": "Score predicted expression under perturbation against the prepared truth.",
    "aggregate": "Gather result JSONs into one tidy table (TSV and parquet) with mean, sd, CI and n.",
    "compare": "Paired comparison of models over datasets: wins, mean difference with CI, Wilcoxon p.",
    "report": "Plots and MultiQC custom content (and the MultiQC report) from a folder of results.",
    "schema": "Print the JSON schema of result files.",
}


class LazyGroup(click.Group):
    """A click group whose subcommands are imported on first use."""

    def list_commands(self, ctx):
        return sorted(COMMANDS)

    def get_command(self, ctx, name):
        if name not in COMMANDS:
            return None
        module = importlib.import_module(f"cellbench.cli.{name.replace('-', '_')}")
        return module.command

    def format_commands(self, ctx, formatter):
        rows = [(name, COMMANDS[name]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def invoke(self, ctx):
        """Bad input and failed reads/writes (read-only, full or missing folder) end in one line, no traceback."""
        from cellbench.errors import InputError, os_error_line

        try:
            return super().invoke(ctx)
        except InputError as exc:
            raise click.ClickException(str(exc)) from None
        except OSError as exc:
            raise click.ClickException(os_error_line(exc)) from None


@click.group(
    cls=LazyGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    epilog="Example: cellbench run --input tests/data/pbmc68k_reduced.h5ad --label-key bulk_labels "
    "--batch-key phase --obsm-key X_pca --outdir demo_results\n\n"
    "Every command writes its results to files and logs to stderr; `cellbench COMMAND --help` says more.",
)
@click.version_option(__version__, prog_name="cellbench")
@click.option("-v", "--verbose", count=True, help="More log output on stderr (-vv for debug).")
@click.option("-q", "--quiet", is_flag=True, help="Only warnings and errors on stderr.")
def cli(verbose: int, quiet: bool):
    """cellbench: score single-cell model outputs (embeddings, predicted expression) on the
    cz-benchmarks task suite, one unit of work per command, results as versioned JSON."""
    level = logging.WARNING if quiet else (logging.DEBUG if verbose > 1 else logging.INFO)
    logging.basicConfig(stream=sys.stderr, level=level, format="cellbench %(levelname)s: %(message)s")
    for noisy in ("numba", "matplotlib", "h5py", "fontTools", "PIL"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # faiss's loader reports which CPU build it loaded ("Could not load library with AVX2/AVX512 support")
    # at INFO; that is a debug detail, not a problem: shown with -vv only.
    logging.getLogger("faiss").setLevel(logging.NOTSET if verbose > 1 else logging.WARNING)


def main():
    cli(prog_name="cellbench")
