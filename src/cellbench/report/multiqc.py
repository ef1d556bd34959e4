"""MultiQC custom content (*_mqc files) and config for the cellbench report, and running MultiQC.

Each section is its own custom-content module (HTML with embedded PNG for the figures, MultiQC
tables for the numbers); `custom_content.order` in the written config keeps them in reading order.
"""

from __future__ import annotations

import base64
import html
import json
import logging
import math
import shutil
import subprocess
import sys
from pathlib import Path

from cellbench.report.variants import is_mean_value, metric_label, row_params

log = logging.getLogger(__name__)

SECTION_ORDER = [
    "cellbench_overview",
    "cellbench_heatmap",
    "cellbench_ranking",
    "cellbench_ranking_table",
    "cellbench_bars",
    "cellbench_results",
    "cellbench_comparison",
]


# The report is read as a document: no welcome banner. Inline in the overview section (not a
# custom_css_files entry) so it travels with the *_mqc files into any MultiQC run.
STYLE = "<style>#mqc_welcome { display: none !important; }</style>"


def _html_section(path: Path, sid: str, name: str, description: str, body: str) -> Path:
    header = {"id": sid, "section_name": name, "description": description}
    text = "<!--\n" + json.dumps(header, indent=1) + "\n-->\n" + body + "\n"
    from cellbench.io.atomic import write_text

    write_text(path, text)
    return path


def _img(png: Path, alt: str) -> str:
    data = base64.b64encode(png.read_bytes()).decode("ascii")
    return (
        f'<img src="data:image/png;base64,{data}" alt="{html.escape(alt)}" '
        f'style="max-width:100%;height:auto;display:block;margin:6px 0 14px 0" />'
    )


def _figure_body(fig) -> str:
    """A figure embedded as PNG, with the names of its files next to the report."""
    return _img(fig.png, fig.title) + f"<p><small>Files: plots/{fig.png.name}, plots/{fig.svg.name}</small></p>"


def _json_section(path: Path, content: dict) -> Path:
    from cellbench.io.atomic import write_text

    write_text(path, json.dumps(content, indent=1, sort_keys=False, allow_nan=False) + "\n")
    return path


def _num(v):
    """A JSON-safe number (None for NaN / NA)."""
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def overview_html(meta: dict) -> str:
    rows = "".join(
        f"<tr><th style='padding-right:14px'>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>"
        for k, v in meta["facts"]
    )
    methods = "".join(
        f"<li><code>{html.escape(m)}</code>: {html.escape(meta['ci_text'].get(m, ''))} ({n} rows)</li>"
        for m, n in meta["ci_methods"]
    )
    files = "".join(f"<li><code>{html.escape(f)}</code></li>" for f in meta["files"])
    return (
        STYLE + f"<table class='table table-condensed' style='width:auto'>{rows}</table>"
        "<p><b>How to read the numbers.</b> Every value is the mean over seeds; <i>sd</i> is the sample "
        "standard deviation over seeds (n - 1) and <i>n</i> the number of seeds with a value. "
        "Confidence intervals (CI) come from:</p>"
        f"<ul>{methods}</ul>"
        "<p>Baselines are marked <i>(baseline)</i> in every plot and table. Full tables next to this report:</p>"
        f"<ul>{files}</ul>"
    )


def _fmt_headers(columns: dict[str, tuple[str, str, str | None]]) -> dict:
    out = {}
    for col, (title, desc, fmt) in columns.items():
        h = {"title": title, "description": desc, "scale": False}
        if fmt:
            h["format"] = fmt
        out[col] = h
    return out


def _table_content(sid: str, name: str, description: str, *, table_id: str, title: str, col1_header: str,
                   columns: dict[str, tuple[str, str, str | None]], data: dict) -> dict:
    """A MultiQC custom-content table: `columns` gives each column's (title, description, format)."""
    return {
        "id": sid,
        "section_name": name,
        "description": description,
        "plot_type": "table",
        "pconfig": {"id": table_id, "title": title, "col1_header": col1_header, "sort_rows": False,
                    "no_violin": True},
        "headers": _fmt_headers(columns),
        "data": data,
    }


def results_table_content(head) -> dict:
    """Headline rows; the row name says what (task, metric, model), the columns the numbers."""
    many = head["dataset"].nunique() > 1
    data = {}
    for r in head.itertuples(index=False):
        model = f"{r.model} (baseline)" if r.baseline else r.model
        rid = (f"{r.dataset} · " if many else "") + f"{r.task} · {r.label} · {model}"
        data[rid] = {
            "dataset": r.dataset,
            "mean": _num(r.mean),
            "sd": _num(r.sd),
            "ci_low": _num(r.ci_low),
            "ci_high": _num(r.ci_high),
            "n": _num(r.n),
            "ci_method": r.ci_method,
        }
    return _table_content(
        "cellbench_results",
        "Results table",
        "Headline metrics per dataset, task and model (mean over seeds, sd, CI, n). "
        "Per-classifier and per-condition rows are in aggregate.tsv.",
        table_id="cellbench_results_table",
        title="cellbench: results",
        col1_header="task · metric · model",
        columns={
            "dataset": ("dataset", "Dataset", None),
            "mean": ("mean", "Mean over seeds", "{:,.4f}"),
            "sd": ("sd", "Standard deviation over seeds (n-1)", "{:,.4f}"),
            "ci_low": ("CI low", "Lower end of the confidence interval", "{:,.4f}"),
            "ci_high": ("CI high", "Upper end of the confidence interval", "{:,.4f}"),
            "n": ("n", "Number of values (seeds; variants for averaged rows)", "{:,.0f}"),
            "ci_method": ("CI method", "Where the interval comes from (see the overview)", None),
        },
        data=data,
    )


def _comparison_label(metric: str, params_json: str) -> str:
    """The metric with its variant, leaving out MEAN(...) summaries (as the plots do)."""
    params = row_params(params_json)
    return metric_label(metric, {k: v for k, v in params.items() if not is_mean_value(v)})


def comparison_content(comp) -> dict:
    data = {}
    for r in comp.itertuples(index=False):
        b = r.model_b + (" (baseline)" if r.kind == "vs_baseline" else "")
        rid = f"{r.task} · {_comparison_label(r.metric, r.params)}: {r.model_a} vs {b}"
        data[rid] = {
            "n": _num(r.n),
            "wlt": f"{r.wins}/{r.ties}/{r.losses}",
            "mean_diff": _num(r.mean_diff),
            "diff_ci_low": _num(r.diff_ci_low),
            "diff_ci_high": _num(r.diff_ci_high),
            "wilcoxon_p": _num(r.wilcoxon_p),
            "wilcoxon_p_bh": _num(r.wilcoxon_p_bh),
        }
    return _table_content(
        "cellbench_comparison",
        "Paired comparisons",
        "Each model against each other model and against the baselines (A vs B), paired by "
        "dataset (perturbation: dataset x condition). Empty CI / p where there are fewer than 2 units. "
        "Full table: comparison.tsv.",
        table_id="cellbench_comparison_table",
        title="cellbench: paired comparisons",
        col1_header="task · metric: A vs B",
        columns={
            "n": ("n", "Paired units (datasets, or dataset x condition)", "{:,.0f}"),
            "wlt": ("A W/T/L", "Units where A is better (wins) / equal (ties) / worse (losses) than B", None),
            "mean_diff": ("mean A-B", "Mean paired difference A - B", "{:,.4f}"),
            "diff_ci_low": ("CI low", "Bootstrap CI of the mean difference, lower end", "{:,.4f}"),
            "diff_ci_high": ("CI high", "Bootstrap CI of the mean difference, upper end", "{:,.4f}"),
            "wilcoxon_p": ("p", "Two-sided Wilcoxon signed-rank p-value", "{:,.3g}"),
            "wilcoxon_p_bh": ("p BH", "Wilcoxon p, Benjamini-Hochberg adjusted over all comparisons", "{:,.3g}"),
        },
        data=data,
    )


def ranking_content(rank_df) -> dict:
    data = {}
    for r in rank_df.itertuples(index=False):
        rid = f"{r.task} | {r.model}" + (" (baseline)" if r.baseline else "")
        data[rid] = {
            "task": r.task,
            "mean_rank": _num(r.mean_rank),
            "best_rank": _num(r.best_rank),
            "worst_rank": _num(r.worst_rank),
            "n_datasets": _num(r.n_datasets),
            "n_models": _num(r.n_models),
        }
    return _table_content(
        "cellbench_ranking_table",
        "Mean ranks per task",
        "The numbers behind the ranking plot.",
        table_id="cellbench_ranking_tab",
        title="cellbench: mean ranks",
        col1_header="task | model",
        columns={
            "task": ("task", "Task", None),
            "mean_rank": ("mean rank", "Mean over datasets of the rank (1 = best) over headline metrics", "{:,.2f}"),
            "best_rank": ("best", "Best dataset rank", "{:,.2f}"),
            "worst_rank": ("worst", "Worst dataset rank", "{:,.2f}"),
            "n_datasets": ("datasets", "Datasets ranked", "{:,.0f}"),
            "n_models": ("models", "Models ranked", "{:,.0f}"),
        },
        data=data,
    )


def write_custom_content(outdir: Path, *, head, rank_df, comp, figures: dict, meta: dict) -> list[Path]:
    """Write the *_mqc files for every section into outdir; return their paths (reading order)."""
    outdir = Path(outdir)
    paths = []
    paths.append(
        _html_section(
            outdir / "cellbench_overview_mqc.html",
            "cellbench_overview",
            "cellbench: overview",
            "What was benchmarked, and how to read the numbers.",
            overview_html(meta),
        )
    )
    hm = figures["heatmap"]
    paths.append(
        _html_section(
            outdir / "cellbench_heatmap_mqc.html",
            "cellbench_heatmap",
            "Models x metrics",
            "Colour: each metric scaled to [0, 1] across models within a dataset (1 = best, direction-aware: "
            "lower is better for errors), averaged over datasets; text: the mean value. Grey: not scored. "
            "Baselines sit below the white line, in italics.",
            _figure_body(hm),
        )
    )
    rk = figures["ranking"]
    paths.append(
        _html_section(
            outdir / "cellbench_ranking_mqc.html",
            "cellbench_ranking",
            "Ranking per task",
            "Per task, each dataset ranks the models on every headline metric (1 = best, ties share the "
            "mean rank); a model's dataset rank is the mean over metrics, the dot the mean over datasets, "
            "the bar the best to worst dataset. Hollow grey dots: baselines.",
            _figure_body(rk),
        )
    )
    if len(rank_df):
        paths.append(_json_section(outdir / "cellbench_ranking_table_mqc.json", ranking_content(rank_df)))
    bars = figures["bars"]
    body = "".join(f"<h4>{html.escape(f.title)}</h4>{_figure_body(f)}" for f in bars)
    paths.append(
        _html_section(
            outdir / "cellbench_bars_mqc.html",
            "cellbench_bars",
            "Per dataset",
            "Mean over seeds per model; error bars are the confidence interval of the row (see the "
            "overview for its source), or ± one standard deviation over seeds where no interval exists. "
            "Hatched: baselines.",
            body,
        )
    )
    paths.append(_json_section(outdir / "cellbench_results_mqc.json", results_table_content(head)))
    if len(comp):
        paths.append(_json_section(outdir / "cellbench_comparison_mqc.json", comparison_content(comp)))
    return paths


def write_config(outdir: Path, meta: dict) -> Path:
    """multiqc_config.yaml for the report (offline: no version check; our section order).

    Written as JSON, which is YAML too, so writing it needs no YAML library.
    """
    from cellbench.io.atomic import write_text

    cfg = {
        "title": "cellbench report",
        "subtitle": meta.get("subtitle", ""),
        "intro_text": "Benchmark results of single-cell model representations (cellbench, "
        "cz-benchmarks compatible tasks).",
        "no_version_check": True,
        "show_analysis_paths": False,
        "show_analysis_time": False,
        "skip_generalstats": True,
        "fn_clean_sample_names": False,
        "disable_version_detection": True,
        "custom_content": {"order": SECTION_ORDER},
        "report_section_order": {
            sid: {"order": 1000 - 10 * i} for i, sid in enumerate(SECTION_ORDER)
        },
    }
    path = Path(outdir) / "multiqc_config.yaml"
    write_text(path, json.dumps(cfg, indent=2) + "\n")
    return path


def multiqc_command() -> list[str] | None:
    """How to run MultiQC here: this interpreter's module if importable, else a `multiqc` on PATH."""
    import importlib.util

    if importlib.util.find_spec("multiqc") is not None:
        return [sys.executable, "-m", "multiqc"]
    exe = shutil.which("multiqc")
    return [exe] if exe else None


def run_multiqc(outdir: Path, files: list[Path], config: Path, *, command: list[str] | None = None) -> Path:
    """Run MultiQC on the custom content files; return the report path (a failure raises)."""
    command = command or multiqc_command()
    if command is None:
        raise FileNotFoundError("multiqc is not installed")
    outdir = Path(outdir)
    args = command + [
        "--force",
        "--no-ansi",
        "--config",
        str(config),
        "--outdir",
        str(outdir),
        "--filename",
        "multiqc_report.html",
        *[str(f) for f in files],
    ]
    log.info("running %s", " ".join(args[:3]) + " ...")
    proc = subprocess.run(args, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-15:])
        raise RuntimeError(f"MultiQC failed (exit {proc.returncode}):\n{tail}")
    report = outdir / "multiqc_report.html"
    if not report.exists():
        raise RuntimeError("MultiQC ran but wrote no multiqc_report.html")
    return report
