"""Aggregate (and comparison) tables on disk: writing TSV / parquet, and reading them back checked.

Tables are written atomically; a table read back is checked cell by cell first, so a cut, wrong or
mistyped file is a one-line InputError naming the file and the row, not a traceback later on.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

from cellbench.errors import InputError
from cellbench.report.columns import (
    BOOL_COLUMNS,
    COLUMNS,
    FLOAT_COLUMNS,
    INT_COLUMNS,
    STRING_COLUMNS,
    normalize_table,
)
from cellbench.report.variants import row_params

# ----------------------------------------------------------------------------------------------
# Writing


def write_table(df, prefix: str | os.PathLike) -> tuple[Path, Path]:
    """PREFIX.tsv (floats as shortest round-trip repr, missing as NA) and PREFIX.parquet, atomically."""
    from cellbench.io.atomic import atomic_path, write_text

    prefix = str(prefix)
    tsv, parquet = Path(prefix + ".tsv"), Path(prefix + ".parquet")
    write_text(tsv, table_to_tsv(df))
    with atomic_path(parquet) as tmp:
        df.to_parquet(tmp, index=False)
    return tsv, parquet


def _tsv_cell(v) -> str:
    """One value as table_to_tsv writes it: NA for missing, true/false, floats as their repr."""
    if v is None:
        return "NA"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return "NA" if math.isnan(v) else repr(v)
    try:
        import pandas as pd

        if pd.isna(v):
            return "NA"
    except (TypeError, ValueError):
        pass
    text = str(v)
    if "\t" in text or "\n" in text:
        text = text.replace("\t", " ").replace("\n", " ")
    return text


def table_to_tsv(df) -> str:
    """A DataFrame as TSV text: a header line, then one line per row (see _tsv_cell)."""
    lines = ["\t".join(df.columns)]
    for row in df.itertuples(index=False, name=None):
        lines.append("\t".join(_tsv_cell(v.item() if hasattr(v, "item") else v) for v in row))
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------------------------
# Reading and checking


def _is_number(text: str, integer: bool = False) -> bool:
    try:
        value = float(text)
    except ValueError:
        return False
    return value.is_integer() if integer else True


def _bad_params(text: str) -> str | None:
    """Why a `params` cell is not a row's params JSON object; None when it is."""
    if text == "":
        return "not JSON (cut short?)"
    try:
        return None if isinstance(row_params(text), dict) else "not a JSON object"
    except ValueError:
        return "not JSON (cut short?)"


def _bad_cell(column: str, text: str) -> str | None:
    """Why `text` (as written by table_to_tsv) cannot be a value of `column`; None when it can."""
    missing = text in ("", "NA")
    if column in BOOL_COLUMNS:
        return None if text.lower() in ("true", "false", "1", "0") else "not true/false"
    if column in INT_COLUMNS:
        return None if missing or _is_number(text, integer=True) else "not an integer"
    if column in FLOAT_COLUMNS:
        return None if missing or _is_number(text) else "not a number"
    if column == "seeds":
        return None if text == "" or all(_is_number(s, integer=True) for s in text.split(",")) else "not seeds"
    if column == "values":
        return None if text == "" or all(v == "NA" or _is_number(v) for v in text.split(",")) else "not numbers"
    if column == "params":
        return _bad_params(text)
    return None


def _tsv_lines(path: Path) -> tuple[list[str], list[str]]:
    """(header, data lines) of a TSV whose header holds every column of an aggregate table."""
    try:
        lines = path.read_text(encoding="utf-8").split("\n")
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not an aggregate table (not UTF-8 text: {exc.reason})") from None
    if lines and lines[-1] == "":
        lines.pop()
    header = lines[0].rstrip("\r").split("\t") if lines else []
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        raise InputError(f"{path}: not an aggregate table (no column {missing[0]})")
    if len(set(header)) != len(header):
        raise InputError(f"{path}: not an aggregate table (a column name is repeated)")
    return header, lines[1:]


def _read_tsv(path: Path):
    """The TSV's cells as strings, after checking its shape: the columns, every row complete, the types.

    A table cut mid-row (a full disk, a killed copy) has a short last row or a cut `params` JSON
    (the last column); either is an InputError naming the file and the row.
    """
    import pandas as pd

    header, lines = _tsv_lines(path)
    where = {c: header.index(c) for c in COLUMNS}
    rows = []
    for row, line in enumerate(lines, 1):
        cells = line.rstrip("\r").split("\t")
        if len(cells) != len(header):
            raise InputError(f"{path}: row {row} (line {row + 1}) has {len(cells)} of the header's {len(header)} "
                             "columns (a cut or broken table)")
        for c, i in where.items():
            why = _bad_cell(c, cells[i])
            if why:
                raise InputError(f"{path}: row {row} (line {row + 1}), column {c}: '{cells[i][:40]}' is {why}")
        rows.append(cells)
    df = pd.DataFrame(rows, columns=header, dtype=object)
    for c in df.columns:
        if c not in STRING_COLUMNS:
            df[c] = df[c].replace({"NA": None, "": None})
    return df


def _check_parquet(df, path: Path) -> None:
    """Typed columns must hold their type (a parquet file is written whole or not read at all)."""
    import pandas as pd

    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        raise InputError(f"{path}: not an aggregate table (no column {missing[0]})")
    for c in INT_COLUMNS + FLOAT_COLUMNS + BOOL_COLUMNS:
        if not (pd.api.types.is_numeric_dtype(df[c]) or pd.api.types.is_bool_dtype(df[c]) or df[c].isna().all()):
            raise InputError(f"{path}: column {c} holds {df[c].dtype}, not numbers")
    for row, text in enumerate(df["params"], 1):
        if _bad_cell("params", str(text)):
            raise InputError(f"{path}: row {row}, column params: not a JSON object")


def read_table(path: str | os.PathLike):
    """An aggregate table from .tsv or .parquet (a wrong, cut or mistyped file is a one-line InputError)."""
    import pandas as pd

    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: aggregate table not found")
    if path.suffix != ".parquet":
        return normalize_table(_read_tsv(path))
    try:
        df = pd.read_parquet(path)
    except Exception as exc:  # noqa: BLE001 - pyarrow raises many types for a bad file
        raise InputError(f"{path}: not an aggregate table ({type(exc).__name__}: {exc})".splitlines()[0]) from None
    _check_parquet(df, path)
    return normalize_table(df)


def mark_baselines(table, baselines):
    """The table with its `baseline` column set from `baselines` (a read table keeps the names it was
    written with; the command reading it may name other baselines)."""
    table["baseline"] = table["model"].isin(set(baselines))
    return table
