"""Row blocks and the threads that run them: the partition every search and distance pass shares.

Why it exists: results must not depend on the thread count (the CLI's --threads). So the rows are
cut into blocks by the data size alone (`rows_per_block`, `block_ranges`), and `map_blocks` runs
the blocks on as many Python threads as the BLAS may use, each with single-threaded BLAS: every
run computes the same products, whatever the number of threads.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator

import numpy as np

from cellbench.threads import blas_threads

#: Memory for one block of pairwise distances and its temporaries, in bytes; one block is in flight
#: per thread. The partition into blocks depends only on the data size, never on the thread count.
DEFAULT_BLOCK_BYTES = 128 * 1024 * 1024


def block_ranges(n: int, rows: int, offset: int = 0) -> list[tuple[int, int]]:
    """Consecutive (start, stop) ranges of `rows` rows covering offset .. offset + n."""
    return [(offset + s, offset + min(n, s + rows)) for s in range(0, n, rows)]


def rows_per_block(n_cols: int, block_bytes: int, bytes_per_entry: int) -> int:
    """Rows per block so that one block stays within `block_bytes`.

    A multiple of 16 (at least 16): BLAS kernels treat a few leftover rows differently, and one-row
    products go through gemv; with a partition fixed by the data size, every run computes the same
    products whatever the thread count.
    """
    rows = block_bytes // max(1, n_cols * bytes_per_entry)
    return int(max(16, (rows // 16) * 16))


def map_blocks(fn: Callable, ranges: list[tuple[int, int]], workers: int | None = None) -> Iterator:
    """fn(start, stop) for each range, in order, on `workers` threads with single-threaded BLAS."""
    from threadpoolctl import threadpool_limits

    if workers is None:
        workers = blas_threads()
    workers = max(1, min(workers, len(ranges)))
    with threadpool_limits(limits=1, user_api="blas"):
        if workers == 1:
            for start, stop in ranges:
                yield fn(start, stop)
            return
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=workers) as pool:
            pending: deque = deque()
            try:
                for start, stop in ranges:
                    pending.append(pool.submit(fn, start, stop))
                    if len(pending) > workers:
                        yield pending.popleft().result()
                while pending:
                    yield pending.popleft().result()
            finally:
                for future in pending:
                    future.cancel()


def as_float64(X) -> np.ndarray:
    """X as a C-contiguous float64 2-d array (the form every search here works on)."""
    X = np.asarray(X)
    if X.ndim != 2:
        raise ValueError(f"expected a 2-d array, got shape {X.shape}")
    return np.ascontiguousarray(X, dtype=np.float64)


def squared_distance_blocks(
    X, block_bytes: int = DEFAULT_BLOCK_BYTES, zero_diagonal: bool = True, workers: int | None = None,
    fn: Callable | None = None,
) -> Iterator:
    """For each row block: D2[i, j] = |x_(start+i) - x_j|^2 in float64 (clipped at 0, diagonal 0).

    Yields (start, stop, D2), or, with `fn`, fn(start, stop, D2) computed inside the worker thread
    (so reductions of the block run in parallel too). Computed as |x|^2 - 2 x.y + |y|^2 on centred
    data with one GEMM per block; with a fixed partition and single-threaded BLAS per block the
    values are the same whatever the thread count.
    """
    X = as_float64(X)
    X = X - X.mean(axis=0)
    n = X.shape[0]
    sq = np.einsum("ij,ij->i", X, X)
    step = rows_per_block(n, block_bytes, 8 * 2)

    def one(start, stop):
        block = X[start:stop] @ X.T
        block *= -2.0
        block += sq[start:stop, None]
        block += sq[None, :]
        np.maximum(block, 0.0, out=block)
        if zero_diagonal:
            rows = np.arange(stop - start)
            block[rows, rows + start] = 0.0
        return (start, stop, block) if fn is None else fn(start, stop, block)

    yield from map_blocks(one, block_ranges(n, step), workers)
