"""`cellbench report` as a function: results -> tables, plots, MultiQC content and report.

The report is written into a temporary folder beside OUTDIR and renamed into place whole
(cellbench.io.atomic.atomic_dir), so a failure (a full disk, a bad input, MultiQC failing) leaves
the previous report, or nothing, never half of one. Replacing OUTDIR whole would delete anything else
in it, so a folder holding files the report does not write is refused.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

log = logging.getLogger(__name__)

#: What a report folder holds (REPORT_ENTRIES); OUTDIR may hold these and nothing else.
REPORT_ENTRIES = re.compile(r"aggregate\.(tsv|parquet)|comparison\.tsv|plots|multiqc_.*|.*_mqc\.(html|json)")

CI_TEXT = {
    "bootstrap_cells": "percentile bootstrap over cells, computed by the task from its per-cell values "
    "(several seeds: interval ends averaged)",
    "bootstrap_folds": "percentile bootstrap over cross-validation folds (each fold resampled whole, "
    "with all its classifiers; within each seed)",
    "bootstrap_variants": "percentile bootstrap over the averaged variants (e.g. perturbation conditions)",
    "t_seeds": "Student-t interval of the mean over seeds (seed-to-seed variation only)",
    "none": "no interval: a single value, or the same value from every seed (the metric does not depend "
    "on the seed), and nothing to resample; the task can add per-cell intervals",
}


@dataclass
class Report:
    outdir: Path
    table: Path
    parquet: Path
    comparison: Path
    figures: list = field(default_factory=list)
    mqc_files: list[Path] = field(default_factory=list)
    config: Path | None = None
    html: Path | None = None
    multiqc_note: str = ""

    def moved(self, old: Path, new: Path) -> Report:
        """The same report with every path under `old` (the temporary folder) under `new` instead."""
        def at(p):
            return None if p is None else new / Path(p).relative_to(old)

        figures = [replace(f, png=at(f.png), svg=at(f.svg)) for f in self.figures]
        return replace(self, outdir=new, table=at(self.table), parquet=at(self.parquet), comparison=at(self.comparison),
                       figures=figures, mqc_files=[at(p) for p in self.mqc_files], config=at(self.config),
                       html=at(self.html))


def check_report_folder(outdir: Path) -> None:
    """OUTDIR is new, empty, or an earlier report (which the new one replaces whole); else an InputError."""
    from cellbench.errors import InputError

    if not (outdir.exists() or outdir.is_symlink()):
        return
    if not outdir.is_dir():
        raise InputError(f"{outdir}: report folder is a file")
    foreign = sorted(e.name for e in outdir.iterdir() if not REPORT_ENTRIES.fullmatch(e.name))
    if foreign:
        raise InputError(f"{outdir}: holds '{foreign[0]}', which is not part of a report; the report replaces "
                         f"its folder whole, so give a new or empty folder, or an earlier report's")


def build_report(
    results: Sequence[str | Path],
    outdir: str | Path,
    *,
    baselines: Sequence[str],
    n_boot: int = 1000,
    n_boot_compare: int = 10000,
    level: float = 0.95,
    seed: int = 42,
    multiqc: bool | None = None,
) -> Report:
    """Aggregate (or read the table), compare, plot, write MultiQC content and run MultiQC.

    multiqc: True = run it and fail if it cannot; None = run it if installed; False = never.
    Everything is written to a temporary folder that replaces `outdir` whole at the end.
    """
    from cellbench.errors import InputError
    from cellbench.io.atomic import atomic_dir
    from cellbench.report import multiqc as mq
    from cellbench.report.table import load_table_or_results

    outdir = Path(outdir)
    check_report_folder(outdir)
    command = None if multiqc is False else mq.multiqc_command()
    if multiqc and command is None:
        raise InputError("MultiQC is not installed: `pip install multiqc`, or give --no-multiqc")
    table, n_files = load_table_or_results(
        results, baselines=baselines, n_boot=n_boot, level=level, seed=seed, exclude=[outdir]
    )
    if table.empty:
        raise InputError(f"{', '.join(map(str, results))}: the results hold no metrics")
    with atomic_dir(outdir) as work:
        rep = _write_report(work, table, n_files, results, baselines=baselines, n_boot=n_boot,
                            n_boot_compare=n_boot_compare, level=level, seed=seed)
        if command is not None:
            rep.html = mq.run_multiqc(work, rep.mqc_files, rep.config, command=command)
    rep = rep.moved(work, outdir)
    if multiqc is False:
        rep.multiqc_note = "MultiQC not run (--no-multiqc)."
    elif command is None:
        rep.multiqc_note = (f"MultiQC is not installed: `pip install multiqc`, then `multiqc --config {rep.config} "
                            f"--outdir {outdir} {outdir}/*_mqc.*`")
    else:
        rep.multiqc_note = f"MultiQC report: {rep.html}"
    return rep


def _ci_methods(table, head) -> list[tuple[str, int]]:
    """(interval source, rows) of the table, plus the headline's averaged variants."""
    ci_counts = table["ci_method"].value_counts().sort_index()
    ci_methods = [(m, int(n)) for m, n in ci_counts.items()]
    if (head["ci_method"] == "bootstrap_variants").any():
        ci_methods.append(("bootstrap_variants", int((head["ci_method"] == "bootstrap_variants").sum())))
    return ci_methods


def _meta(table, head, n_files: int, results, *, n_boot, n_boot_compare, level, seed) -> dict:
    """What the overview section says: subtitle, facts, interval sources, files."""
    from cellbench import __version__

    seeds = sorted({int(s) for ss in table["seeds"] for s in str(ss).split(",") if s})
    models = sorted(set(table.loc[~table["baseline"], "model"]))
    base = sorted(set(table.loc[table["baseline"], "model"]))
    return {
        "subtitle": f"{len(models)} model(s) and {len(base)} baseline(s) on {table['dataset'].nunique()} dataset(s)",
        "facts": [
            ("result files", n_files if n_files else f"(aggregate table {results[0]})"),
            ("tasks", ", ".join(sorted(set(table["task"])))),
            ("datasets", ", ".join(sorted(set(table["dataset"])))),
            ("models", ", ".join(models) or "-"),
            ("baselines", ", ".join(base) or "-"),
            ("seeds", ", ".join(map(str, seeds)) or "-"),
            ("table rows", len(table)),
            ("intervals", (f"{level:.0%} level; bootstrap: percentile, {n_boot} resamples (comparisons "
                           f"{n_boot_compare}), seed {seed}")),
            ("cellbench", __version__),
        ],
        "ci_methods": _ci_methods(table, head),
        "ci_text": CI_TEXT,
        "files": ["aggregate.tsv", "aggregate.parquet", "comparison.tsv", "plots/*.png, plots/*.svg"],
    }


def _write_report(outdir: Path, table, n_files: int, results, *, baselines, n_boot, n_boot_compare, level,
                  seed) -> Report:
    """Tables, comparison, plots, MultiQC content and config of `table`, written into `outdir`."""
    from cellbench.report import multiqc as mq
    from cellbench.report import plots
    from cellbench.report.compare import compare, write_comparison
    from cellbench.report.summary import headline, is_headline_params, ranks
    from cellbench.report.tablefile import write_table
    from cellbench.report.variants import row_params

    tsv, parquet = write_table(table, outdir / "aggregate")
    comp = compare(table, baselines=baselines, n_boot=n_boot_compare, level=level, seed=seed)
    comp_path = outdir / "comparison.tsv"
    write_comparison(comp, comp_path)

    head = headline(table, n_boot=n_boot, seed=seed, level=level)
    rank_df = ranks(head)
    plot_dir = outdir / "plots"
    figs = {
        "heatmap": plots.heatmap(head, plot_dir),
        "ranking": plots.ranking(rank_df, plot_dir),
        "bars": [plots.dataset_bars(head, d, plot_dir, level=level) for d in sorted(set(head["dataset"]))],
    }
    # the report's comparison table: headline metrics only (all of them are in comparison.tsv)
    comp_head = comp[comp["params"].map(lambda p: is_headline_params(row_params(p)))] if len(comp) else comp
    meta = _meta(table, head, n_files, results, n_boot=n_boot, n_boot_compare=n_boot_compare, level=level,
                 seed=seed)
    mqc_files = mq.write_custom_content(outdir, head=head, rank_df=rank_df, comp=comp_head, figures=figs,
                                        meta=meta)
    config = mq.write_config(outdir, meta)
    return Report(outdir, tsv, parquet, comp_path, [figs["heatmap"], figs["ranking"], *figs["bars"]],
                  mqc_files, config)
