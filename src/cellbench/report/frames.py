"""What each figure shows, prepared from the headline rows without drawing anything.

plots.py turns these records into matplotlib figures; everything a reader could check by hand
(which rows, which values, in which order, with which labels) is decided here, so it can be
tested and changed without a figure.
"""

from __future__ import annotations

import math
import textwrap
from dataclasses import dataclass, field

from cellbench.report.summary import column_order, model_order, scaled_scores

LOWER_TICK = " (↓ better)"  # heatmap column label of a lower-is-better metric
LOWER_BAR_TICK = "\n(lower is better)"  # the same under a bar group


def fmt_value(v: float) -> str:
    """A cell's mean as the heatmap writes it (3 significant places, "" when not finite)."""
    if not math.isfinite(v):
        return ""
    if v == 0 or 0.001 <= abs(v) < 1000:
        return f"{v:.3f}" if abs(v) < 10 else f"{v:.1f}"
    return f"{v:.2g}"


def column_label(label: str, width: int = 22) -> str:
    """A metric label wrapped to `width` characters, the variant after the metric name."""
    metric, _, rest = label.partition(" [")
    text = metric if not rest else f"{metric} [{rest}"
    return "\n".join(textwrap.wrap(text, width, break_on_hyphens=False, break_long_words=False)) or label


def model_label(model: str, baseline: bool) -> str:
    return f"{model} (baseline)" if baseline else model


def _baselines(head) -> dict:
    """{model: is a baseline} of the headline rows."""
    return dict(zip(head["model"], head["baseline"]))


# ----------------------------------------------------------------------------------------------
# Heatmap


def heatmap_matrix(head):
    """(models, columns, scaled matrix, raw-mean matrix, n_datasets matrix): means over datasets."""
    import numpy as np

    sc = scaled_scores(head)
    models = model_order(head)
    cols = column_order(head)
    scaled = np.full((len(models), len(cols)), np.nan)
    raw = np.full_like(scaled, np.nan)
    nd = np.zeros_like(scaled, dtype=int)
    mi = {m: i for i, m in enumerate(models)}
    ci = {c: j for j, c in enumerate(cols)}
    for (model, task, label), g in sc.groupby(["model", "task", "label"], sort=True):
        s = g["scaled"].astype(float)
        r = g["mean"].astype(float)
        ok = np.isfinite(s) & np.isfinite(r)
        if ok.any():
            i, j = mi[model], ci[(task, label)]
            scaled[i, j] = s[ok].mean()
            raw[i, j] = r[ok].mean()
            nd[i, j] = int(ok.sum())
    return models, cols, scaled, raw, nd


@dataclass
class HeatmapData:
    models: list[str]  # rows: models first, baselines last
    baseline: list[bool]  # per row
    ylabels: list[str]
    xlabels: list[str]  # per (task, label) column
    scaled: object  # models x columns, NaN where not scored
    raw: object  # the mean values written in the cells
    task_groups: list[tuple[int, int, str]]  # (first column, last column + 1, task)
    n_models: int  # rows that are not baselines
    title: str


def _task_groups(tasks: list[str]) -> list[tuple[int, int, str]]:
    """Runs of equal neighbours: (start, end, task) with end exclusive."""
    groups, start = [], 0
    for j in range(1, len(tasks) + 1):
        if j == len(tasks) or tasks[j] != tasks[start]:
            groups.append((start, j, tasks[start]))
            start = j
    return groups


def heatmap_data(head) -> HeatmapData:
    """Models x headline metrics: scaled scores (colour) and mean values (text), averaged over datasets."""
    models, cols, scaled, raw, nd = heatmap_matrix(head)
    base = _baselines(head)
    lower = {(t, lab) for t, lab, h in zip(head["task"], head["label"], head["higher_is_better"]) if not h}
    n_ds = int(nd.max()) if nd.size else 0
    return HeatmapData(
        models=models,
        baseline=[bool(base.get(m)) for m in models],
        ylabels=[model_label(m, bool(base.get(m))) for m in models],
        xlabels=[column_label(lab) + (LOWER_TICK if (t, lab) in lower else "") for t, lab in cols],
        scaled=scaled,
        raw=raw,
        task_groups=_task_groups([t for t, _ in cols]),
        n_models=sum(not base.get(m) for m in models),
        title=(f"Models x metrics: colour scaled per metric and dataset, text = mean value"
               f"{' over datasets' if n_ds > 1 else ''}"),
    )


# ----------------------------------------------------------------------------------------------
# Ranking


@dataclass
class RankPanel:
    task: str
    title: str
    rows: object  # rank rows, drawn bottom to top (worst mean rank first)
    ylabels: list[str]
    n_models: int  # rank axis: 1 .. max(n_models, 2)


def rank_panels(rank_df) -> list[RankPanel]:
    """One panel per task (sorted), its models ordered by mean rank."""
    panels = []
    for task in sorted(set(rank_df["task"])):
        g = rank_df[rank_df["task"] == task].sort_values(["mean_rank", "model"], ascending=[False, True])
        nds = int(g["n_datasets"].max()) if len(g) else 0
        panels.append(RankPanel(
            task=task,
            title=f"{task} ({nds} dataset{'s' if nds != 1 else ''})",
            rows=g,
            ylabels=[model_label(m, b) for m, b in zip(g["model"], g["baseline"])],
            n_models=int(g["n_models"].max()) if len(g) else 1,
        ))
    return panels


# ----------------------------------------------------------------------------------------------
# Per-dataset bars


@dataclass
class BarSeries:
    """One model's bars in one task panel (x: group index offset by the model's slot)."""

    model: str
    xs: list[float] = field(default_factory=list)
    ys: list[float] = field(default_factory=list)
    err_low: list[float] = field(default_factory=list)  # distance below the mean
    err_high: list[float] = field(default_factory=list)  # distance above the mean
    lows: list[float] = field(default_factory=list)  # lowest point drawn per bar


@dataclass
class BarPanel:
    task: str
    ticks: list[str]  # one per metric group
    width: float  # of one model's slot in a group
    series: list[BarSeries]

    @property
    def from_zero(self) -> bool:
        """Nothing drawn below zero: the y axis starts at 0."""
        lows = [v for s in self.series for v in s.lows]
        return bool(lows) and min(lows) >= 0


@dataclass
class BarsData:
    dataset: str
    models: list[str]  # every model of the report, in colour and legend order
    baseline: dict  # {model: is a baseline}
    n_models_here: int  # models scored on this dataset
    panels: list[BarPanel]
    title: str

    @property
    def legend(self) -> list[str]:
        drawn = {s.model for p in self.panels for s in p.series}
        return [m for m in self.models if m in drawn]


def _bar_series(t, labels: list[str], model: str, k: int, width: float) -> BarSeries:
    """Model `model` (slot k) over the metric groups `labels` of one task's rows `t`; NaN means skipped."""
    first = {}
    for r in t.itertuples(index=False):
        if r.model == model:
            first.setdefault(r.label, r)
    s = BarSeries(model)
    for j, lab in enumerate(labels):
        r = first.get(lab)
        if r is None or not math.isfinite(float(r.mean)):
            continue
        y = float(r.mean)
        s.xs.append(j - 0.4 + width * (k + 0.5))
        s.ys.append(y)
        s.err_low.append(max(0.0, y - float(r.error_low)))
        s.err_high.append(max(0.0, float(r.error_high) - y))
        s.lows.append(min(y, float(r.error_low)))
    return s


def _bar_panel(d, task: str, models: list[str], lower: set) -> BarPanel:
    t = d[d["task"] == task]
    labels = sorted(set(t["label"]))
    here = [m for m in models if m in set(t["model"])]
    width = 0.8 / max(1, len(here))
    series = [_bar_series(t, labels, m, k, width) for k, m in enumerate(here)]
    ticks = [column_label(lab, 18) + (LOWER_BAR_TICK if lab in lower else "") for lab in labels]
    return BarPanel(task, ticks, width, [s for s in series if s.xs])


def bars_data(head, dataset: str, level: float = 0.95) -> BarsData:
    """One dataset: a panel per task (sorted), groups = headline metrics, bars = models."""
    d = head[head["dataset"] == dataset]
    models = model_order(head)
    lower = {lab for lab, h in zip(d["label"], d["higher_is_better"]) if not h}
    return BarsData(
        dataset=dataset,
        models=models,
        baseline=_baselines(head),
        n_models_here=len([m for m in models if m in set(d["model"])]),
        panels=[_bar_panel(d, task, models, lower) for task in sorted(set(d["task"]))],
        title=f"{dataset}: mean over seeds; error bars = {level:.0%} CI (± sd where there is no CI)",
    )
