"""Where the all-pairs products run: the CPU (numpy, the default) or a torch device (the GPU path).

Why it exists: the exact neighbour search and the silhouette are bound by n x n float32 products,
which a GPU makes in a fraction of the CPU's time. The GPU path is an optional extra
(`pip install 'cellbench[gpu]'`, torch); nothing requires it and the answers stay those of the CPU:
the same neighbours (the float64 decision runs on the CPU from candidates the device proposes
within the same proven margin) and silhouettes within float32 rounding (under 1e-6; TASKS.md allows
1e-5). The CLI's `--device` sets it for one command (`using`), as `--threads` caps the BLAS; the
searches and the silhouette ask `current()`. "torch-cpu" runs the torch code on the CPU, so a
machine without a GPU can test it.
"""

from __future__ import annotations

import re
from contextlib import contextmanager

#: Accepted names: "cpu" (numpy), "cuda" or "cuda:N" (a GPU), "torch-cpu" (the torch code on the CPU).
DEVICE_PATTERN = re.compile(r"^(cpu|torch-cpu|cuda(:[0-9]{1,2})?)$")

_current: str | None = None


class DeviceUnavailable(RuntimeError):
    """The named device cannot be used here (torch missing, or no such GPU)."""


def check_name(name: str) -> str:
    """The device name itself, or ValueError naming what is accepted."""
    if not isinstance(name, str) or not DEVICE_PATTERN.match(name):
        raise ValueError(f"device {name!r}: give cpu, cuda, cuda:N or torch-cpu")
    return name


def current() -> str | None:
    """The torch device the products run on now ("cuda:0", "cpu" for torch-cpu), or None for numpy."""
    return _current


@contextmanager
def using(name: str):
    """Run the enclosed code with the products on device `name` (checked and opened first)."""
    global _current
    check_name(name)
    previous = _current
    _current = None if name == "cpu" else torch_device(name)
    try:
        yield
    finally:
        _current = previous


def torch_device(name: str) -> str:
    """torch's name of the device, after checking it exists; TF32 switched off for float32 products.

    TF32 rounds the inputs of a float32 product to 10 mantissa bits, outside the margin the exact
    search proves for float32 (2^-24 per operation), so it must never be on here.
    """
    try:
        import torch
    except ImportError:
        raise DeviceUnavailable(
            f"device {name!r} needs torch: pip install 'cellbench[gpu]' (or use --device cpu)"
        ) from None
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.set_float32_matmul_precision("highest")
    if name == "torch-cpu":
        return "cpu"
    if not torch.cuda.is_available():
        raise DeviceUnavailable(f"device {name!r}: torch sees no CUDA GPU on this machine (use --device cpu)")
    index = int(name.split(":")[1]) if ":" in name else 0
    if index >= torch.cuda.device_count():
        raise DeviceUnavailable(f"device {name!r}: this machine has {torch.cuda.device_count()} CUDA GPU(s)")
    return f"cuda:{index}"


def describe(name: str) -> str | None:
    """What a result records of the device its products ran on: None for the numpy path, else the
    torch device with its card and torch's version (e.g. "cuda:0, NVIDIA H100 80GB HBM3, torch 2.11.0,
    CUDA 13.0"): the GPU path's numbers may differ from the CPU's by float32 rounding, so say where."""
    if check_name(name) == "cpu":
        return None
    import torch

    where = torch_device(name)
    if where == "cpu":
        return f"torch-cpu, torch {torch.__version__}"
    return f"{where}, {torch.cuda.get_device_name(where)}, torch {torch.__version__}, CUDA {torch.version.cuda}"
