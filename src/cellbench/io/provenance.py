"""Where a task's inputs came from: the input-file records (base name and sha256) a result names.

A task may read an extract (`cellbench extract`) instead of the dataset itself; the extract carries the
records of its sources in uns[UNS_KEY], and `source_inputs` reports those, so a result names the same
inputs whichever of the two it was computed from.
"""

from __future__ import annotations

from cellbench.schema import InputFile

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

