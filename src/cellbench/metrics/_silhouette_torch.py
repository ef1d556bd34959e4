"""Per-label distance sums of the silhouette with the products on a torch device (the GPU path).

Why it exists: the silhouette needs every pairwise distance, n^2 of them, which a GPU makes in a
fraction of the CPU's time (`cellbench.device`). The arithmetic is `silhouette_label`'s CPU path:
the input rounded to float32 and centred there, the cells ordered by label, distances
|x|^2 - 2 x.y + |y|^2 from float32 products (TF32 off), clipped at 0, exactly 0 for a cell and
itself, square-rooted, summed per label in float32 over at most 1,024 columns (the CPU path's tile),
those partial sums added in float64 in a fixed order. So a run repeats itself to the bit on the same
device, and the sums differ from the CPU's by float32 rounding in the partial sums only (silhouettes
within about 6e-7 on an H100 at 100k and 300k, the score within 4e-10; TASKS.md allows 1e-5
against the reference).

The work is bound by passes over the distances, not by the products: a chunk of 8,192 rows x 1,024
columns (32 MiB) stays in the GPU's L2 cache between its product, clip, square root and label sums;
its label sums multiply by only the labels its columns hold (they are contiguous once sorted).
"""

from __future__ import annotations

import numpy as np

#: Rows and columns of one chunk of distances on a GPU (32 MiB of float32: inside an H100's L2) ...
GPU_ROWS, GPU_COLUMNS = 8192, 1024
#: ... and on torch's CPU device (tests).
CPU_ROWS, CPU_COLUMNS = 1024, 1024


def distance_sums_by_label_torch(X, codes: np.ndarray, n_labels: int, device: str) -> np.ndarray:
    """S[i, l] = sum of the euclidean distances from cell i to the cells of label l (float32 distances)."""
    import torch

    from cellbench.metrics._distance_operands import label_sorted_operands
    from cellbench.progress import Progress

    order, sorted_codes, left, right = label_sorted_operands(X, codes)
    n = len(sorted_codes)
    left, right = torch.from_numpy(left).to(device), torch.from_numpy(right).to(device)
    one_hot = torch.zeros((n, n_labels), dtype=torch.float32, device=device)
    one_hot[torch.arange(n, device=device), torch.from_numpy(sorted_codes.astype(np.int64)).to(device)] = 1.0
    rows, columns = (CPU_ROWS, CPU_COLUMNS) if device == "cpu" else (GPU_ROWS, GPU_COLUMNS)
    # each column chunk's labels, first to last (contiguous: the cells are sorted by label)
    chunks = [(c0, min(n, c0 + columns)) for c0 in range(0, n, columns)]
    label_span = [(int(sorted_codes[c0]), int(sorted_codes[c1 - 1]) + 1) for c0, c1 in chunks]
    sums = torch.zeros((n, n_labels), dtype=torch.float64, device=device)
    progress = Progress(f"silhouette distances of {n} cells on {device}, row blocks", -(-n // rows))
    with torch.no_grad():
        for block, r0 in enumerate(range(0, n, rows)):
            r1 = min(n, r0 + rows)
            block_sums = sums[r0:r1]
            for (c0, c1), (l0, l1) in zip(chunks, label_span):
                dist = left[r0:r1] @ right[c0:c1].T
                dist.clamp_(min=0)
                lo, hi = max(r0, c0), min(r1, c1)
                if lo < hi:  # the chunk holds cells paired with themselves
                    diag = torch.arange(lo, hi, device=device)
                    dist[diag - r0, diag - c0] = 0
                dist.sqrt_()
                block_sums[:, l0:l1] += dist @ one_hot[c0:c1, l0:l1]
            progress.step(block + 1)
    out = np.empty((n, n_labels))
    out[order] = sums.cpu().numpy()
    return out
