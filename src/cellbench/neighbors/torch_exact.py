"""The exact search with its products on a torch device (the GPU path of `cellbench.device`).

Why it exists: the all-cells search is bound by the n x n float32 products, which a GPU makes in a
fraction of the CPU's time. Only the steps that make products move (`ExactKnn._below_cut`: each
row's cut from a column sample, then every column whose lower bound is under it); everything that
decides stays `ExactKnn`'s, on the CPU in float64. The device's float32 GEMM rounds in another
order than the CPU's BLAS, but any order stays within the margin g = (4 d + 64) eps32 the search
proves (the bound of a float32 dot product holds for every summation order, fused multiply-adds
included; TF32, which rounds the inputs, is switched off by `cellbench.device`). A candidate set
that differs by rounding therefore leads to the same neighbours, ties by index included
(tests/test_gpu_path.py compares them with the CPU path, torch running on the CPU).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from cellbench.neighbors.blocks import block_ranges, map_blocks
from cellbench.neighbors.exact import ExactKnn

#: Query rows per block and columns per product chunk on a GPU: a (rows x chunk) float32 chunk is 512 MiB
#: (the CPU side decides 2048 rows at a time: its (rows x candidates^2) comparisons stay near 128 MB).
GPU_ROWS = 2048
GPU_CHUNK = 65536
#: The same on torch's CPU device (tests): chunks that stay in cache.
CPU_ROWS = 512
CPU_CHUNK = 4096


class TorchExactKnn(ExactKnn):
    """`ExactKnn` whose steps 1 and 2 (the products and the cut) run on a torch device."""

    def __init__(self, X: np.ndarray, k: int, include_self: bool, return_distance: bool, device: str):
        import torch

        super().__init__(X, k, include_self, return_distance)
        self.torch = torch
        self.device = device
        self.chunk = CPU_CHUNK if device == "cpu" else GPU_CHUNK
        self.t_left = torch.from_numpy(self.left).to(device)
        self.t_right_lo = torch.from_numpy(self.right_lo).to(device)
        self.t_right_hi_sample = torch.from_numpy(self.right_hi_sample).to(device)
        self.t_slack = torch.from_numpy(self.slack).to(device)

    def _below_cut(self, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
        torch = self.torch
        k, c, n, stride = self.k, stop - start, self.n, self.stride
        rows = torch.arange(c, device=self.device)
        selfcol = rows + start
        left = self.t_left[start:stop]
        self_value = float(self._self_value())
        with torch.no_grad():
            # 1. the k-th smallest upper bound among the sampled columns, exactly as the CPU selects it
            sub = left @ self.t_right_hi_sample.T
            on_grid = selfcol % stride == 0
            sub[rows[on_grid], selfcol[on_grid] // stride] = self_value
            kth = torch.kthvalue(sub, k, dim=1).values
            del sub
            cut32 = (kth.double() + self.t_slack[start:stop]).float()[:, None]
            # 2. every column under the row's cut, chunk by chunk; row-major order at the end
            found_r, found_c = [], []
            for j0 in range(0, n, self.chunk):
                j1 = min(n, j0 + self.chunk)
                below = (left @ self.t_right_lo[j0:j1].T) <= cut32
                inside = (selfcol >= j0) & (selfcol < j1)
                below[rows[inside], selfcol[inside] - j0] = self.include_self
                r, cols = below.nonzero(as_tuple=True)
                found_r.append(r)
                found_c.append(cols + j0)
            r, cols = torch.cat(found_r), torch.cat(found_c)
            order = torch.argsort(r, stable=True)  # chunks ascend, so columns ascend within each row
            return r[order].cpu().numpy(), cols[order].cpu().numpy()


def torch_knn_blocks(
    X: np.ndarray, k: int, include_self: bool, device: str, workers: int | None = None, return_distance: bool = True
) -> Iterator[tuple[int, int, np.ndarray, np.ndarray | None]]:
    """`knn_blocks` of the exact search with the products on `device`; the same blocks' answers."""
    impl = TorchExactKnn(X, k, include_self, return_distance, device)
    rows = CPU_ROWS if device == "cpu" else GPU_ROWS
    yield from map_blocks(impl.block, block_ranges(X.shape[0], rows), workers)
