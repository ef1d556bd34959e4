"""Loading one species of a cross-species task: its representation, labels, sample ids and records.

The cross-species commands pair their repeated options up per species (cellbench.cli._species) and
read each species here, so tasks get arrays and never open a file. The representation keeps its
stored float precision (as label prediction's features, see cellbench.io.label_data), densified.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cellbench.errors import InputError
from cellbench.schema import InputFile


@dataclass
class LoadedSpecies:
    """One species as read: the fields of `tasks.cross_species_label.SpeciesData`, plus where it
    came from (`path`, `where` = the file holding the representation), its cell count and records, and
    the representation's model record (None when it has none)."""

    name: str
    X: np.ndarray
    labels: np.ndarray
    sample_ids: np.ndarray | None
    label_key: str
    sample_key: str | None
    path: str
    where: str
    n_obs: int
    inputs: list[InputFile]
    model_provenance: dict | None = None


def load_species(path, name, *, embedding, obsm_key, layer, label_key, sample_key) -> LoadedSpecies:
    """Read one species' dataset (and its --embedding file, if any)."""
    from cellbench.io.dataset import labels_as_strings, obs_column, read_h5ad
    from cellbench.io.label_data import load_features
    from cellbench.io.provenance import model_provenance, source_inputs
    from cellbench.io.representation import RepresentationSpec

    adata = read_h5ad(path)
    X = load_features(adata, path, RepresentationSpec(file=embedding, obsm_key=obsm_key, layer=layer))
    if hasattr(X, "toarray"):
        X = X.toarray()
    labels = labels_as_strings(obs_column(adata, label_key, path), path)
    sample_ids = None
    if sample_key is not None:
        column = obs_column(adata, sample_key, path)
        if column.isna().any():
            first = column.index[np.flatnonzero(column.isna().to_numpy())[0]]
            raise InputError(f"{path}: obs column '{sample_key}' has missing sample ids, first at cell '{first}'")
        sample_ids = np.asarray(column.astype(object), dtype=object)
    return LoadedSpecies(
        name=name,
        X=np.asarray(X),
        labels=labels,
        sample_ids=sample_ids,
        label_key=label_key,
        sample_key=sample_key,
        path=path,
        where=embedding or path,
        n_obs=adata.n_obs,
        inputs=source_inputs(adata, path, embedding, role_suffix=f":{name}"),
        model_provenance=model_provenance(adata, embedding),
    )


def species_provenance(species: list[LoadedSpecies]) -> dict | None:
    """{species name: model record} of the species whose representation has one; None when none has."""
    records = {d.name: d.model_provenance for d in species if d.model_provenance is not None}
    return records or None


def check_same_width(species: list[LoadedSpecies]) -> None:
    """Every species' representation must have the same number of dimensions (one model)."""
    first = species[0]
    for d in species[1:]:
        if d.X.shape[1] != first.X.shape[1]:
            raise InputError(
                f"{d.where}: {d.X.shape[1]}-d representation for species '{d.name}' but "
                f"{first.where} has {first.X.shape[1]}-d; all species must come from the same model"
            )
