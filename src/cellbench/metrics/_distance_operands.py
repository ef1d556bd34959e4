"""The float32 GEMM operands of the silhouette's all-pairs distances, shared by its CPU and torch paths.

Why its own module: `silhouette_label` (the CPU path) and `_silhouette_torch` (the GPU path, which
`silhouette_label` dispatches to) must make their distances from the same rounded, centred, label-sorted
cells; here neither imports the other for it.
"""

from __future__ import annotations

import numpy as np


def label_sorted_operands(X, codes: np.ndarray):
    """The cells sorted by label (stable) and the two float32 GEMM operands of their distances.

    X is rounded to float32, centred in float64 and rounded again; one GEMM then gives the whole
    |x|^2 - 2 x.y + |y|^2 as [x, 1, |x|^2] . [-2 y, |y|^2, 1]. Returns (order, sorted codes, left,
    right); the CPU path and the torch path (`_silhouette_torch`) make their distances from these.
    """
    order = np.argsort(codes, kind="stable")
    sorted_codes = codes[order]
    x64 = np.asarray(X, dtype=np.float32)[order].astype(np.float64)
    c32 = (x64 - x64.mean(axis=0)).astype(np.float32)
    del x64
    sq = np.einsum("ij,ij->i", c32, c32, dtype=np.float64).astype(np.float32)
    ones = np.ones((len(sorted_codes), 1), dtype=np.float32)
    left = np.hstack([c32, ones, sq[:, None]])
    right = np.ascontiguousarray(np.hstack([-2.0 * c32, sq[:, None], ones]))
    return order, sorted_codes, left, right
