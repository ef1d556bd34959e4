"""Per-label distance sums of the silhouette with the products on a torch device (the GPU path).

Why it exists: the silhouette needs every pairwise distance, n^2 of them, which a GPU makes in a
fraction of the CPU's time (`cellbench.device`). The arithmetic is `silhouette_label`'s: the input
rounded to float32 and centred there, distances |x|^2 - 2 x.y + |y|^2 from float32 products (TF32
off), clipped at 0, exactly 0 for a cell and itself, square-rooted. Each (rows x columns) chunk of
distances is summed per label by one float64 product with the chunk's one-hot label matrix, and
chunks are added in a fixed order, so a run repeats itself to the bit on the same device. The sums
differ from the CPU's (float32 tile sums, then float64) by float32 rounding: silhouettes within
about 1e-7 (TASKS.md allows 1e-5 against the reference); tests/test_gpu_path.py checks 1e-9 of
relative difference in the sums on torch's CPU device.
"""

from __future__ import annotations

import numpy as np

#: Rows and columns of one chunk of distances on a GPU (float32 and its float64 copy: 768 MiB) ...
GPU_ROWS, GPU_COLUMNS = 8192, 8192
#: ... and on torch's CPU device (tests): the CPU path's tile size.
CPU_ROWS, CPU_COLUMNS = 1024, 1024


def distance_sums_by_label_torch(X, codes: np.ndarray, n_labels: int, device: str) -> np.ndarray:
    """S[i, l] = sum of the euclidean distances from cell i to the cells of label l (float32 distances)."""
    import torch

    from cellbench.progress import Progress

    x64 = np.asarray(X, dtype=np.float32).astype(np.float64)
    c32 = (x64 - x64.mean(axis=0)).astype(np.float32)
    del x64
    sq = np.einsum("ij,ij->i", c32, c32, dtype=np.float64).astype(np.float32)
    n = c32.shape[0]
    ones = np.ones((n, 1), dtype=np.float32)
    left = torch.from_numpy(np.hstack([c32, ones, sq[:, None]])).to(device)
    right = torch.from_numpy(np.hstack([-2.0 * c32, sq[:, None], ones])).to(device)
    one_hot = torch.zeros((n, n_labels), dtype=torch.float64, device=device)
    one_hot[torch.arange(n, device=device), torch.from_numpy(codes.astype(np.int64)).to(device)] = 1.0
    rows, columns = (CPU_ROWS, CPU_COLUMNS) if device == "cpu" else (GPU_ROWS, GPU_COLUMNS)
    sums = torch.zeros((n, n_labels), dtype=torch.float64, device=device)
    progress = Progress(f"silhouette distances of {n} cells on {device}, row blocks", -(-n // rows))
    with torch.no_grad():
        for block, r0 in enumerate(range(0, n, rows)):
            r1 = min(n, r0 + rows)
            for c0 in range(0, n, columns):
                c1 = min(n, c0 + columns)
                dist = left[r0:r1] @ right[c0:c1].T
                dist.clamp_(min=0)
                lo, hi = max(r0, c0), min(r1, c1)
                if lo < hi:  # the chunk holds cells paired with themselves
                    diag = torch.arange(lo, hi, device=device)
                    dist[diag - r0, diag - c0] = 0
                dist.sqrt_()
                sums[r0:r1] += dist.double() @ one_hot[c0:c1]
            progress.step(block + 1)
    return sums.cpu().numpy()
