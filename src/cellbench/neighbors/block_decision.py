"""The symmetric search's compiled selections: the first half of a block's decision, in one pass
over its held pairs (`survivors`), and each row's bound, the k-th smallest of a row (`kth_per_row`).

Why it exists: `symmetric.SymmetricExactKnn._finish` turns a block's held candidate pairs (about
2-3 k a row: 595 at k = 200 on 100k x 64) into its k nearest. In numpy that is a dozen passes over
the pairs (the pieces sorted by row, their float64 bounds, two padded tables and their partitions
for each row's k-th smallest upper and lower bound, masks and gathers): 23 ms a block of 512 rows
at k = 200 with 430 pairs a row, about 100 ns a pair. Here one compiled loop groups the pairs by
row (a stable counting sort, so each row's columns keep their ascending order), computes the bounds
with the same float64 operations, and selects each row's k-th smallest upper bound (and, for
neighbour sets, the k-th smallest lower bound of the survivors) without branches (`_kth_smallest`):
9 ms a block with 430 pairs a row; with 595, 14 ms by a quickselect, 9-10 ms branch-free, and the
survivors kept without a branch too (4.1 ms on a Zen 4 core, 5.3 with a branch). A k-th
smallest value is the same whatever selects it, and every other operation is the numpy code's own,
so the survivors are the same pairs in the same order, to the bit (tests/test_neighbors.py compares
both); `_finish` goes on from them as before, the exact float64 distances of the undecided pairs
included.

It takes about 1.5 s to compile (numba), 0.35 s to load once kept on disk where numba can (`_jit`):
the search uses it only where the saving outweighs that (`worth_it`: integration's k = 200 from
30k cells on, not clustering's k = 15 below 400k). `kth_per_row` is used wherever the compiled
register tiles are (`symmetric.SCAN_MIN_CELLS` cells on), whose compiling already dwarfs its own.
"""

from __future__ import annotations

import functools

import numpy as np

from cellbench.neighbors._jit import jit

#: The compiled pass saves about 55 ns a held pair (about 2.1 k pairs a cell, on 2 threads: 0.06 us
#: a cell x k of wall time) and costs about 0.35 s to load from numba's disk cache, 1.5 s to compile
#: without one: it is used from these many cells x k on (100k x 200 = 2e7; clustering's 100k x 15 not).
CACHED_MIN_CELLS_X_K = 6_000_000
UNCACHED_MIN_CELLS_X_K = 26_000_000


def _kth_smallest(values, m, k, spare):  # pragma: no cover (compiled)
    """The k-th smallest (1-based) of values[:m], m >= k; values and spare (length >= m) are overwritten.

    Why branch-free: a Hoare quickselect's comparisons go either way at random, about one
    mispredicted branch an element and pass (15 ns an element for 1200 values, k = 200). Here each
    pass copies every value into `spare` and advances the write position by the comparison's 0 or 1,
    first the values below the pivot (median of three), then, when the k-th is not among those nor
    equal to the pivot, the values above it: 4.4 ns an element. The rest, 16 values at most, is
    sorted by insertion. Values must not be NaN (the search's bounds never are)."""
    a, b = values, spare
    want = k - 1
    while m > 16:
        x, y, z = a[0], a[m // 2], a[m - 1]
        pivot = max(min(x, y), min(max(x, y), z))
        below = 0
        equal = 0
        for t in range(m):
            v = a[t]
            b[below] = v
            below += v < pivot
            equal += v == pivot
        if want < below:
            m = below
        elif want < below + equal:
            return pivot
        else:
            above = 0
            for t in range(m):
                v = a[t]
                b[above] = v
                above += v > pivot
            want -= below + equal
            m = above
        a, b = b, a
    for t in range(1, m):
        v = a[t]
        u = t - 1
        while u >= 0 and a[u] > v:
            a[u + 1] = a[u]
            u -= 1
        a[u + 1] = v
    return a[want]


#: `_kth_smallest` compiled; a module global, not a closure variable, so that numba can cache `_survivors`
kth_smallest = None

#: Values each row's pivot is chosen from in `_kth_per_row` (about this many, evenly spaced).
PIVOT_SAMPLE = 256


def _kth_per_row(values, k, out, kept, spare):  # pragma: no cover (compiled)
    """out[i] = the k-th smallest (1-based) of row i of values (m x w, w >= k, no NaN); kept and
    spare (length >= w) are overwritten.

    Why: the search's bounds need this for every row against its ~2-5k nearby cells; numpy's
    partition takes 7.3 ns an element. Here a pivot is taken from an evenly spaced sample of the row
    (its value of rank about 2 k x sample / w + 4, so that about twice k values fall below it), one
    branch-free pass keeps the values at most the pivot, and `_kth_smallest` selects among those
    (about 2 k); when fewer than k are kept (rare), it selects among the whole row. The k-th
    smallest of the kept values is the row's: every value left out is larger than all kept."""
    m, w = values.shape
    step = max(1, w // PIVOT_SAMPLE)
    n_sample = (w + step - 1) // step
    rank = min(n_sample, 2 * k * n_sample // w + 4)
    for i in range(m):
        for t in range(n_sample):
            kept[t] = values[i, t * step]
        pivot = kth_smallest(kept, n_sample, rank, spare)
        count = 0
        for t in range(w):
            v = values[i, t]
            kept[count] = v
            count += v <= pivot
        if count < k:
            for t in range(w):
                kept[t] = values[i, t]
            count = w
        out[i] = kth_smallest(kept, count, k, spare)


def _survivors(r, cols, products, sq, r0, k, two_gamma, include_self, with_sure, starts, filled, col, low,
              scratch, spare, out_r, out_c, out_low, out_up, out_sure):  # pragma: no cover (compiled)
    """Pairs (row in block r, column, float32 lower bound S) to the pairs that may be among their
    row's k nearest, grouped by row in their original order, into out_*[:count]; returns count.
    out_sure (with_sure only): upper bound below the row's k-th smallest lower bound among the
    survivors. starts (rows + 1) and filled (rows) are zeros; col, low, scratch, spare one per pair."""
    n = r.shape[0]
    n_rows = filled.shape[0]
    for t in range(n):
        starts[r[t] + 1] += 1
    for i in range(n_rows):
        starts[i + 1] += starts[i]
    for t in range(n):  # stable counting sort by row
        p = starts[r[t]] + filled[r[t]]
        filled[r[t]] += 1
        col[p] = cols[t]
        low[p] = products[t]
    n_out = 0
    for i in range(n_rows):
        row = r0 + i
        first = n_out
        m = 0
        for p in range(starts[i], starts[i + 1]):  # the row's pairs, their bounds
            if col[p] == row:
                if not include_self:
                    continue
                lower = -np.inf  # the cell itself first
                upper = -np.inf
            else:
                lower = low[p]
                upper = lower + two_gamma * (sq[row] + sq[col[p]])
            out_c[first + m] = col[p]
            out_low[first + m] = lower
            out_up[first + m] = upper
            scratch[m] = upper
            m += 1
        kth_upper = np.inf if m < k else kth_smallest(scratch, m, k, spare)
        for p in range(first, first + m):  # survivors: lower bound at most the k-th smallest upper
            out_r[n_out] = i  # written always, kept by advancing (no branch to mispredict)
            out_c[n_out] = out_c[p]
            out_low[n_out] = out_low[p]
            out_up[n_out] = out_up[p]
            n_out += out_low[p] <= kth_upper
        if with_sure:
            kept = n_out - first
            kth_lower = np.inf
            if kept >= k:
                for p in range(kept):
                    scratch[p] = out_low[first + p]
                kth_lower = kth_smallest(scratch, kept, k, spare)
            for p in range(first, n_out):
                out_sure[p] = out_up[p] < kth_lower
    return n_out


@functools.cache
def compiled():
    """(the compiled pass, whether numba keeps it on disk), built once per process."""
    global kth_smallest
    kth_smallest = jit(_kth_smallest)[0]
    return jit(_survivors)


@functools.cache
def compiled_kth_per_row():
    """`_kth_per_row` compiled, built once per process."""
    compiled()  # its kth_smallest
    return jit(_kth_per_row)[0]


def kth_per_row(values: np.ndarray, k: int) -> np.ndarray:
    """The k-th smallest (1-based) of each row of a C-contiguous float32 matrix without NaN: the
    values `np.partition(values, k - 1, axis=1)[:, k - 1]` gives, faster (`_kth_per_row`)."""
    w = values.shape[1]
    out = np.empty(values.shape[0], values.dtype)
    compiled_kth_per_row()(values, k, out, np.empty(w, values.dtype), np.empty(w, values.dtype))
    return out


def worth_it(n: int, k: int) -> bool:
    """Whether a search of n cells x k neighbours saves more with the compiled pass than it costs."""
    return n * k >= (CACHED_MIN_CELLS_X_K if compiled()[1] else UNCACHED_MIN_CELLS_X_K)


def survivors(pieces: list, sq: np.ndarray, r0: int, n_rows: int, k: int, two_gamma: float, include_self: bool,
              with_sure: bool):
    """A block's held pieces (row in block int16, column int32, S float32; in tile order) to its
    surviving pairs by row: (rows, columns, lower, upper, sure) as `_finish`'s numpy steps give them
    (sure: all False unless with_sure)."""
    r, cols, products = (np.concatenate([p[i] for p in pieces]) for i in range(3))
    n = r.size
    out = (np.empty(n, np.int64), np.empty(n, np.int64), np.empty(n), np.empty(n), np.zeros(n, np.bool_))
    count = compiled()[0](r, cols, products, sq, r0, k, two_gamma, include_self, with_sure,
                          np.zeros(n_rows + 1, np.int64), np.zeros(n_rows, np.int64), np.empty(n, np.int64),
                          np.empty(n), np.empty(n), np.empty(n), *out)
    return tuple(x[:count] for x in out)
