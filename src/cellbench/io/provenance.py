"""Where a task's inputs came from: the input-file records (base name and sha256) a result names, and
the model provenance record of its representation.

A task may read an extract (`cellbench extract`) instead of the dataset itself; the extract carries the
records of its sources in uns[UNS_KEY], and `source_inputs` reports those, so a result names the same
inputs whichever of the two it was computed from. Likewise the record of what made the representation
(uns["cellbench_model"], written by the model runners and `cellbench model-check`) is copied into the
extract, and `model_provenance` finds it in either, for the result's `model_provenance`.
"""

from __future__ import annotations

import os
from pathlib import Path

from cellbench.errors import InputError
from cellbench.schema import MODEL_PROVENANCE_KEY, InputFile

UNS_KEY = "cellbench_extract"


def source_inputs(adata, input_path, embedding, role_suffix: str = "") -> list[InputFile]:
    """The input records of a task: the extract's recorded sources, or the files themselves."""
    from cellbench.io.results import input_file

    recorded = adata.uns.get(UNS_KEY)
    if recorded is not None:
        stored = recorded["inputs"]
        records = [InputFile(role=str(r["role"]) + role_suffix, name=str(r["name"]), sha256=str(r["sha256"]))
                   for r in (stored[k] for k in sorted(stored, key=int))]
        if embedding:  # a representation given beside an extract is still its own input
            records.append(input_file("representation" + role_suffix, embedding))
        return records
    records = [input_file("dataset" + role_suffix, input_path)]
    if embedding:
        records.append(input_file("representation" + role_suffix, embedding))
    return records


def plain(value):
    """A record read from h5ad as plain Python (numpy scalars and arrays become numbers, strings, lists)."""
    import numpy as np

    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, np.ndarray):
        return [plain(v) for v in value.tolist()]
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, bytes):
        return value.decode()
    return value


def read_model_record(path) -> dict | None:
    """uns["cellbench_model"] of an .h5ad file (read alone, not the matrices), or None: an .npy, or no record."""
    import h5py

    try:
        from anndata.io import read_elem
    except ImportError:  # anndata < 0.11
        from anndata.experimental import read_elem

    path = Path(path)
    with open(path, "rb") as fh:
        if fh.read(8) != b"\x89HDF\r\n\x1a\n":
            return None
    with h5py.File(path, "r") as f:
        key = f"uns/{MODEL_PROVENANCE_KEY}"
        if key not in f:
            return None
        return plain(read_elem(f[key]))


def model_provenance(adata, embedding_path) -> dict | None:
    """The provenance record of a task's representation: that of the --embedding file when one is given,
    else that of the dataset or extract `adata` itself; None when there is none."""
    if embedding_path:
        return read_model_record(embedding_path)
    record = adata.uns.get(MODEL_PROVENANCE_KEY)
    return None if record is None else plain(record)


def weights_sha256(path) -> str:
    """sha256 of a weights file; of a folder, the sha256 of its sorted '<relative path>\\t<sha256>\\n' lines
    (every file below it, paths with '/'), so the same weights give the same digest wherever they sit."""
    import hashlib

    from cellbench.io.results import sha256_file

    path = Path(path)
    if path.is_file():
        return sha256_file(path)
    if not path.is_dir():
        raise InputError(f"{path}: weights not found (a file or a folder)")
    lines = []
    for root, dirs, files in os.walk(path):
        dirs.sort()
        for name in files:
            full = Path(root) / name
            lines.append(f"{full.relative_to(path).as_posix()}\t{sha256_file(full)}\n")
    return hashlib.sha256("".join(sorted(lines)).encode()).hexdigest()
