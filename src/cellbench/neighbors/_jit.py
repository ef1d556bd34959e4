"""numba compilation for the search's compiled loops, kept on disk where numba can.

Why: each loop takes about 1 s to compile, which a process pays on first use. With numba's disk
cache (the package's __pycache__, ~/.cache/numba or NUMBA_CACHE_DIR, whichever is writable) a
machine pays it once per version. A read-only install with no writable home (a container run as
the host user) has none: numba refuses to cache there, and the loop is compiled in every process.
"""

from __future__ import annotations


def jit(fn):
    """(numba's compiled `fn`, whether it is cached on disk)."""
    import numba

    try:
        return numba.njit(nogil=True, cache=True, boundscheck=False)(fn), True
    except RuntimeError:  # numba: "cannot cache function ...: no locator available"
        return numba.njit(nogil=True, cache=False, boundscheck=False)(fn), False
