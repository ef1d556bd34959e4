"""Names that become parts of output paths (dataset and model names in `cellbench run`'s file names).

Why: a name taken from a file stem, an obsm key or an option would otherwise be able to write outside
the output folder ('../../x'), or make two units share a file name. Names follow the pipeline's
samplesheet rule (assets/schema_*.json), and every path made from them is checked to stay inside
its folder.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from cellbench.errors import InputError

#: The samplesheets' name pattern: a letter or digit, then letters, digits, '_', '.', '+' and '-'.
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]*")
NAME_RULE = "a letter or digit, then letters, digits, '_', '.', '+' or '-'"


def check_name(name: str, what: str) -> str:
    """`name` if it may be part of a file name; an InputError saying which name and the rule otherwise."""
    if not NAME_PATTERN.fullmatch(name or "") or "__" in name:
        raise InputError(f"{what} '{name}' cannot name output files (use {NAME_RULE}; no '__')")
    return name


def inside(folder: str | os.PathLike, *parts: str) -> Path:
    """folder/parts..., or an InputError when '..' or an absolute part would take it out of `folder`.

    Lexical on purpose: a folder inside OUTDIR that is a symlink to another disk stays allowed.
    """
    folder = Path(folder)
    path = folder.joinpath(*parts)
    root, full = os.path.abspath(folder), os.path.abspath(path)
    if full == root or os.path.commonpath([root, full]) != root:
        raise InputError(f"{path}: outside the output folder {folder}")
    return path
