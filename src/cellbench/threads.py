"""Thread-count independence: results must not depend on --threads or the BLAS environment variables.

A multi-threaded BLAS splits a reduction (a matrix-vector product's sum over cells, a GEMM's inner
dimension) into per-thread partial sums whose number, and so whose rounding, follows the thread count.
Steps whose answer feeds back into itself amplify that last-bit difference: arpack's Lanczos
iterations (the PCA baseline moved by up to 8.7e-3 between 1 and 2 threads) and lbfgs in logistic
regression (cross-species accuracies moved). Those steps run under `one_blas_thread()`; steps whose
products are used once (distances, silhouettes) fix their own block order and keep every thread.
"""

from __future__ import annotations

from contextlib import contextmanager


@contextmanager
def one_blas_thread():
    """Run the enclosed code with the BLAS on one thread (OpenMP pools and joblib keep theirs)."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        yield


def blas_threads() -> int:
    """Threads the BLAS may use right now (the CLI's `--threads` sets it via threadpoolctl); the
    thread count of every parallel step that is not itself a BLAS call."""
    from threadpoolctl import threadpool_info

    counts = [info.get("num_threads", 1) for info in threadpool_info() if info.get("user_api") == "blas"]
    return max(1, max(counts)) if counts else 1
