"""What a task hands back: its metric results and the parameters that actually ran.

Tasks compute; they do not write files. A command turns a TaskOutcome into a result file with
`cellbench.io.results.write_task_result`, so the params recorded are the ones the task used (for
example `n_neighbors` capped at the number of cells), never a second copy written by hand.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cellbench.schema import MetricResult


@dataclass
class TaskOutcome:
    """One unit of work's outcome: `metrics` as written, `params` as run, `n_cells` scored."""

    metrics: list[MetricResult]
    params: dict = field(default_factory=dict)
    n_cells: int | None = None
