"""Checks on a task's data that no metric can score around (too few labels, too few cells).

They raise `cellbench.errors.InputError` with one line naming the input and what is missing, so a
command fails before any work instead of writing a metric that means nothing.
"""

from __future__ import annotations

import numpy as np

from cellbench.errors import InputError


def require_distinct(values, minimum: int, where: str, what: str = "labels") -> int:
    """Number of distinct values; fewer than `minimum` is a one-line InputError naming `where`."""
    n = len(np.unique(np.asarray(values)))
    if n < minimum:
        raise InputError(f"{where}: needs at least {minimum} distinct {what}, found {n}")
    return n


def require_cells(n_cells: int, minimum: int, where: str, why: str) -> None:
    """Fewer than `minimum` cells is a one-line InputError naming `where` and `why` they are needed."""
    if n_cells < minimum:
        raise InputError(f"{where}: {n_cells} cells, at least {minimum} needed ({why})")
