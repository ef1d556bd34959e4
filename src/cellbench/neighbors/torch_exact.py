"""The exact search with its products and cuts on a torch device (the GPU path of `cellbench.device`).

Why it exists: the all-cells search is bound by the n x n float32 products, which a GPU makes in a
fraction of the CPU's time. Steps 1-3 of `ExactKnn._candidates32` run on the device: each row's cut
from a column sample, every column whose lower bound is under it, and the tightening by the k-th
smallest upper bound among those candidates. The tightening takes each candidate's lower bound from
the product that found it instead of recomputing it on the CPU (at 1M x k=200 that recomputation
gathered about 1,600 candidates x 65 floats per row and was 90 % of the CPU's share). Only the
survivors (about k + a few per row) travel back; `ExactKnn`'s float64 decision stays on the CPU, so
the neighbours are the CPU path's, ties by index included.

The device's float32 GEMM rounds in another order than the CPU's BLAS, but any order stays within
the margin g = (4 d + 64) eps32 the search proves (the bound of a float32 dot product holds for every
summation order, fused multiply-adds included; TF32, which rounds the inputs, is switched off by
`cellbench.device`). A candidate set that differs by rounding therefore leads to the same
neighbours (tests/test_gpu_path.py compares them with the CPU path, torch running on the CPU).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from cellbench.neighbors.blocks import block_ranges, map_blocks
from cellbench.neighbors.exact import ExactKnn

#: Query rows per block and columns per product chunk on a GPU: a (rows x chunk) float32 chunk is 512 MiB.
GPU_ROWS = 2048
GPU_CHUNK = 65536
#: The same on torch's CPU device (tests): chunks that stay in cache.
CPU_ROWS = 512
CPU_CHUNK = 4096


class TorchExactKnn(ExactKnn):
    """`ExactKnn` whose steps 1-3 (the products, the cut and its tightening) run on a torch device."""

    def __init__(self, X: np.ndarray, k: int, include_self: bool, return_distance: bool, device: str):
        import torch

        super().__init__(X, k, include_self, return_distance)
        self.torch = torch
        self.device = device
        self.chunk = CPU_CHUNK if device == "cpu" else GPU_CHUNK

        def on_device(array):
            return torch.from_numpy(array).to(device)

        self.t_left = on_device(self.left)
        self.t_right_lo = on_device(self.right_lo)
        self.t_right_hi_sample = on_device(self.right_hi_sample)
        self.t_slack = on_device(self.slack)
        self.t_col_gap = on_device(self.col_gap)

    def _candidates32(self, start: int, stop: int):
        """`ExactKnn._candidates32` on the device: the survivors and their float64 bounds, or None."""
        torch = self.torch
        with torch.no_grad():
            found = self._below_cut_with_values(start, stop)
            if found is None:
                return None
            r, cols, low = found
            r, cols, low, upper = self._tighten(start, stop, r, cols, low)
            r, cols, low, upper = (t.cpu().numpy() for t in (r, cols, low, upper))
        return self._bounds64(start, r, cols, low, upper)

    def _below_cut_with_values(self, start: int, stop: int):
        """Steps 1-2: (row, column, float32 lower bound) of every column at most the row's cut, row-major;
        None as soon as the block holds more than `max_candidates` (the CPU's float64 fallback)."""
        torch = self.torch
        k, c, n, stride = self.k, stop - start, self.n, self.stride
        rows = torch.arange(c, device=self.device)
        selfcol = rows + start
        left = self.t_left[start:stop]
        # 1. the k-th smallest upper bound among the sampled columns, exactly as the CPU selects it
        sub = left @ self.t_right_hi_sample.T
        on_grid = selfcol % stride == 0
        sub[rows[on_grid], selfcol[on_grid] // stride] = float(self._self_value())
        kth = torch.kthvalue(sub, k, dim=1).values
        del sub
        cut32 = (kth.double() + self.t_slack[start:stop]).float()[:, None]
        # 2. every column under the row's cut, chunk by chunk, with the product that found it
        found_r, found_c, found_low, total = [], [], [], 0
        for j0 in range(0, n, self.chunk):
            j1 = min(n, j0 + self.chunk)
            products = left @ self.t_right_lo[j0:j1].T  # -2 x.y + lo_y
            below = products <= cut32
            inside = (selfcol >= j0) & (selfcol < j1)
            below[rows[inside], selfcol[inside] - j0] = self.include_self
            r, cols = below.nonzero(as_tuple=True)
            total += r.numel()
            if total > self.max_candidates(c):
                return None
            found_r.append(r)
            found_c.append(cols + j0)
            found_low.append(products[r, cols])
        r, cols, low = torch.cat(found_r), torch.cat(found_c), torch.cat(found_low)
        order = torch.argsort(r, stable=True)  # chunks ascend, so columns ascend within each row
        return r[order], cols[order], low[order]

    def _tighten(self, start: int, stop: int, r, cols, low):
        """Step 3: keep the candidates whose lower bound is at most the row's k-th smallest upper bound
        (plus the row's slack), as `ExactKnn._candidates32` does with its padded partition."""
        torch = self.torch
        k, c = self.k, stop - start
        upper = low + self.t_col_gap[cols]
        is_self = cols == r + start
        upper[is_self] = float(self._self_value())
        # each row's candidates by upper bound: sort by value, then stably by row
        by_upper = torch.argsort(upper, stable=True)
        by_upper = by_upper[torch.argsort(r[by_upper], stable=True)]
        counts = torch.bincount(r, minlength=c)
        first = torch.cumsum(counts, 0) - counts
        kth_upper = torch.full((c,), float("inf"), dtype=upper.dtype, device=upper.device)
        has_k = counts >= k  # a row with fewer keeps them all, as the CPU's inf padding does
        kth_upper[has_k] = upper[by_upper[first[has_k] + (k - 1)]]
        kth = (kth_upper.double() + self.t_slack[start:stop]).float()
        keep = (low <= kth[r]) | is_self
        if not self.include_self:
            keep &= ~is_self
        return r[keep], cols[keep], low[keep], upper[keep]


def torch_knn_blocks(
    X: np.ndarray, k: int, include_self: bool, device: str, workers: int | None = None, return_distance: bool = True
) -> Iterator[tuple[int, int, np.ndarray, np.ndarray | None]]:
    """`knn_blocks` of the exact search with the products on `device`; the same blocks' answers."""
    impl = TorchExactKnn(X, k, include_self, return_distance, device)
    rows = CPU_ROWS if device == "cpu" else GPU_ROWS
    yield from map_blocks(impl.block, block_ranges(X.shape[0], rows), workers)
