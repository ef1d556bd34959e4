"""Checks shared by the clustering, embedding, integration and sequential commands."""

from __future__ import annotations

import numpy as np


def require_distinct(values, minimum: int, where: str, what: str = "labels") -> int:
    """Number of distinct values; fewer than `minimum` is a one-line InputError naming `where`."""
    from cellbench.errors import InputError

    n = len(np.unique(np.asarray(values)))
    if n < minimum:
        raise InputError(f"{where}: needs at least {minimum} distinct {what}, found {n}")
    return n


def require_cells(n_cells: int, minimum: int, where: str, why: str) -> None:
    from cellbench.errors import InputError

    if n_cells < minimum:
        raise InputError(f"{where}: {n_cells} cells, at least {minimum} needed ({why})")
