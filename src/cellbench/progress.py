"""Progress of the long loops (all-pairs distances, neighbour searches) on stderr.

A line on the cellbench logger at most every `every_s` seconds, so a 100k-cell task prints nothing
extra and a million-cell one shows it is moving; results never depend on it.
"""

from __future__ import annotations

import logging
import time

log = logging.getLogger("cellbench")


class Progress:
    """`step(done)` after each block of `total`; logs 'what: done/total (pct), elapsed' now and then."""

    def __init__(self, what: str, total: int, every_s: float = 30.0):
        self.what, self.total, self.every_s = what, max(1, total), every_s
        self.start = self.last = time.perf_counter()

    def step(self, done: int) -> None:
        now = time.perf_counter()
        if now - self.last >= self.every_s and done < self.total:
            self.last = now
            log.info("%s: %d/%d (%.0f %%), %.0f s", self.what, done, self.total, 100.0 * done / self.total,
                     now - self.start)
