"""The report's figures (matplotlib, Agg backend), each written as PNG and SVG.

- heatmap: models x headline metrics, colour = score scaled per metric (1 best, 0 worst, averaged
  over datasets), text = the raw mean; baselines labelled and set apart at the bottom.
- ranking: per task, each model's mean rank across datasets with the best-worst range.
- bars: per dataset, one panel per task, bars = models, error bars = CI (else +- sd).
Every function returns a `Figure` record with the files and how many marks it drew, so a test can
tell an empty plot from a full one. What each figure shows (rows, values, order, labels) comes from
frames.py; this module only draws it.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

from cellbench.report.frames import (
    BarPanel,
    BarsData,
    RankPanel,
    bars_data,
    fmt_value,
    heatmap_data,
    model_label,
    rank_panels,
)

DPI = 96
MODEL_COLOURS = ["#4477AA", "#EE6677", "#228833", "#CCBB44", "#66CCEE", "#AA3377", "#332288", "#882255",
                 "#117733", "#DDCC77"]  # Paul Tol's colour-blind safe palettes
BASELINE_COLOURS = ["#BBBBBB", "#888888", "#555555", "#DDDDDD"]


@dataclass
class Figure:
    name: str
    title: str
    png: Path
    svg: Path
    n_marks: int  # cells / bars / dots drawn with a finite value


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    plt.rcParams.update({"svg.hashsalt": "cellbench", "font.size": 9, "axes.titlesize": 10})
    return plt


def safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_") or "x"


def colours(models: list[str], baselines: set[str]) -> dict[str, str]:
    out, i, j = {}, 0, 0
    for m in models:
        if m in baselines:
            out[m] = BASELINE_COLOURS[j % len(BASELINE_COLOURS)]
            j += 1
        else:
            out[m] = MODEL_COLOURS[i % len(MODEL_COLOURS)]
            i += 1
    return out


def _save(fig, plt, outdir: Path, name: str, title: str, n_marks: int) -> Figure:
    outdir.mkdir(parents=True, exist_ok=True)
    png, svg = outdir / f"{name}.png", outdir / f"{name}.svg"
    fig.savefig(png, dpi=DPI, metadata={"Software": None})
    fig.savefig(svg, metadata={"Date": None, "Creator": None})
    plt.close(fig)
    return Figure(name, title, png, svg, n_marks)


def heatmap(head, outdir: Path, name: str = "heatmap") -> Figure:
    """Models x headline metrics heatmap of scaled scores, annotated with the raw means."""
    import numpy as np

    plt = _pyplot()
    data = heatmap_data(head)
    scaled, raw = data.scaled, data.raw
    n_r, n_c = len(data.models), len(data.xlabels)
    fig_w = min(26.0, max(6.5, 2.6 + 0.95 * n_c))
    fig_h = max(3.0, 2.4 + 0.42 * n_r)
    fig, ax = plt.subplots(figsize=(fig_w, fig_h), layout="constrained")
    cmap = plt.get_cmap("viridis").with_extremes(bad="#eeeeee")
    im = ax.imshow(np.ma.masked_invalid(scaled), cmap=cmap, vmin=0, vmax=1, aspect="auto")
    n_marks = 0
    for i in range(n_r):
        for j in range(n_c):
            if np.isfinite(scaled[i, j]):
                n_marks += 1
                dark = scaled[i, j] < 0.55
                ax.text(j, i, fmt_value(raw[i, j]), ha="center", va="center", fontsize=8,
                        color="white" if dark else "black")
            else:
                ax.text(j, i, "–", ha="center", va="center", fontsize=8, color="#999999")
    ax.set_xticks(range(n_c), data.xlabels, rotation=40, ha="right",
                  rotation_mode="anchor", fontsize=8)
    ax.set_yticks(range(n_r), data.ylabels)
    for tick, is_base in zip(ax.get_yticklabels(), data.baseline):
        if is_base:
            tick.set_fontstyle("italic")
            tick.set_color("#555555")
    if 0 < data.n_models < n_r:
        ax.axhline(data.n_models - 0.5, color="white", lw=3)
    # task groups: separators and names above the columns
    for start, end, task in data.task_groups:
        if end < n_c:
            ax.axvline(end - 0.5, color="white", lw=3)
        ax.text((start + end - 1) / 2, -0.7, task, ha="center", va="bottom", fontsize=9,
                fontweight="bold", clip_on=False)
    ax.tick_params(length=0)
    for s in ax.spines.values():
        s.set_visible(False)
    cbar = fig.colorbar(im, ax=ax, fraction=0.04, pad=0.01)
    cbar.set_label("scaled score (1 = best of these models)")
    ax.set_title(data.title, pad=30)
    return _save(fig, plt, outdir, name, "Models x metrics", n_marks)


def _rank_panel(ax, panel: RankPanel) -> int:
    """Draw one task's ranks; return the number of models drawn."""
    g = panel.rows
    y = list(range(len(g)))
    for yi, row in zip(y, g.itertuples(index=False)):
        c = "#888888" if row.baseline else "#4477AA"
        ax.plot([row.best_rank, row.worst_rank], [yi, yi], color=c, lw=2.2, alpha=0.45,
                solid_capstyle="round")
        ax.plot(row.mean_rank, yi, "o", color=c, mfc="white" if row.baseline else c, ms=7, mew=1.8)
        ax.text(row.mean_rank, yi + 0.22, f"{row.mean_rank:.2g}", ha="center", va="bottom", fontsize=7)
    ax.set_yticks(y, panel.ylabels)
    nm = panel.n_models
    ax.set_xlim(0.5, max(nm, 2) + 0.5)
    ax.set_ylim(-0.6, len(g) - 0.3)
    ax.set_xticks(range(1, max(nm, 2) + 1))
    ax.set_title(panel.title)
    ax.set_xlabel("rank (1 = best)")
    ax.grid(axis="x", color="#dddddd", lw=0.6)
    ax.set_axisbelow(True)
    for s in ("top", "right"):
        ax.spines[s].set_visible(False)
    return len(g)


def ranking(rank_df, outdir: Path, name: str = "ranking") -> Figure:
    """Per task: mean rank of each model across datasets (1 = best), with the best-worst range."""
    plt = _pyplot()
    panels = rank_panels(rank_df)
    n = max(1, len(panels))
    ncols = min(3, n)
    nrows = math.ceil(n / ncols)
    max_models = int(rank_df["n_models"].max()) if len(rank_df) else 1
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.4 * ncols, 0.7 + (0.9 + 0.32 * max_models) * nrows),
                             layout="constrained", squeeze=False)
    n_marks = 0
    for k, ax in enumerate(axes.ravel()):
        if k >= len(panels):
            ax.set_visible(False)
            continue
        n_marks += _rank_panel(ax, panels[k])
    fig.suptitle("Ranking of models per task (dot: mean rank over datasets; bar: best to worst dataset)",
                 fontsize=10)
    return _save(fig, plt, outdir, name, "Ranking per task", n_marks)


def _pack_rows(tasks: list[str], sizes: dict[str, int], per_row: int = 12) -> list[list[str]]:
    """Greedy rows of task panels, each row holding at most `per_row` metric groups (at least one task)."""
    rows, cur, used = [], [], 0
    for t in tasks:
        if cur and used + sizes[t] > per_row:
            rows.append(cur)
            cur, used = [], 0
        cur.append(t)
        used += sizes[t]
    if cur:
        rows.append(cur)
    return rows


def _bar_panel(ax, panel: BarPanel, data: BarsData, col: dict, handles: dict) -> int:
    """Draw one task's bar groups; return the number of bars drawn (`handles` gets each model's bars)."""
    for s in panel.series:
        is_base = bool(data.baseline.get(s.model))
        bars = ax.bar(s.xs, s.ys, panel.width * 0.92, color=col[s.model], edgecolor="#333333", lw=0.5,
                      hatch="//" if is_base else None, label=model_label(s.model, is_base))
        ax.errorbar(s.xs, s.ys, yerr=[s.err_low, s.err_high], fmt="none", ecolor="#222222", elinewidth=1,
                    capsize=2.5)
        handles[s.model] = bars
    n_groups = len(panel.ticks)
    ax.set_xticks(range(n_groups), panel.ticks, fontsize=7.5)
    ax.set_xlim(-0.5, n_groups - 0.5)
    ax.set_title(panel.task, loc="left", fontweight="bold")
    ax.axhline(0, color="#444444", lw=0.6)
    if panel.from_zero:
        ax.set_ylim(bottom=0)
    ax.grid(axis="y", color="#e5e5e5", lw=0.6)
    ax.set_axisbelow(True)
    for s in ("top", "right"):
        ax.spines[s].set_visible(False)
    return sum(len(s.xs) for s in panel.series)


def dataset_bars(head, dataset: str, outdir: Path, name: str | None = None, level: float = 0.95) -> Figure:
    """One dataset: a panel per task (packed into rows), groups = headline metrics, bars = models."""
    plt = _pyplot()
    data = bars_data(head, dataset, level)
    col = colours(data.models, {m for m in data.models if data.baseline.get(m)})
    panels = {p.task: p for p in data.panels}
    sizes = {p.task: len(p.ticks) for p in data.panels}
    group_w = 0.35 + 0.28 * max(2, data.n_models_here)  # inches per metric group
    per_row = max(2, int(11.0 / group_w))  # about 11 inches of bars per row: readable at page width
    rows = _pack_rows(list(panels), sizes, per_row)
    widest = max(sum(max(1.4, sizes[t]) for t in r) for r in rows)
    fig_w = min(22.0, max(7.0, 0.9 + group_w * widest))
    fig = plt.figure(figsize=(fig_w, 0.9 + 2.5 * len(rows)), layout="constrained")
    subfigs = fig.subfigures(len(rows), 1, squeeze=False)[:, 0]
    n_marks = 0
    handles = {}
    for sub, row_tasks in zip(subfigs, rows):
        ratios = [max(1.4, sizes[t]) for t in row_tasks]
        total = sum(ratios)
        if total < widest:  # keep bar widths equal across rows: pad the row with an empty slot
            ratios.append(widest - total)
        axes = sub.subplots(1, len(ratios), width_ratios=ratios, squeeze=False)[0]
        for ax in axes[len(row_tasks):]:
            ax.set_visible(False)
        for ax, task in zip(axes, row_tasks):
            n_marks += _bar_panel(ax, panels[task], data, col, handles)
    if handles:
        order = data.legend
        fig.legend([handles[m] for m in order], [model_label(m, bool(data.baseline.get(m))) for m in order],
                   loc="outside lower center", ncols=min(len(order), 6), frameon=False, fontsize=8)
    fig.suptitle(data.title, fontsize=10)
    return _save(fig, plt, outdir, name or f"bars_{safe_name(dataset)}", f"{dataset}", n_marks)
