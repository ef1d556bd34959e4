"""Cross-species integration: are species mixed, and cell types kept together, in one embedding space?

As cz-benchmarks' CrossSpeciesIntegrationTask: each species is embedded separately (by the same
model), the embeddings are stacked in the given order, the species name of each cell is its batch,
and the batch integration metrics are computed on the stack: `entropy_per_cell` (batch = species)
and `batch_silhouette` (label = cell type, batch = species). Both are 1 for perfectly mixed
species. Needs at least two species (the reference asserts the same).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from cellbench.errors import InputError
from cellbench.metrics.entropy_per_cell import DEFAULT_K
from cellbench.outcome import TaskOutcome
from cellbench.schema import MetricResult
from cellbench.stats import DEFAULT_N_BOOT
from cellbench.tasks.integration import integration_metrics


def stack_species(embeddings: Sequence, labels: Sequence, species: Sequence[str]):
    """(X stacked, labels as strings, species per cell), checking that the pieces fit together."""
    if not (len(embeddings) == len(labels) == len(species)):
        raise ValueError(
            f"{len(embeddings)} embeddings, {len(labels)} label arrays and {len(species)} species names must match"
        )
    names = [str(s) for s in species]
    if len(set(names)) < 2:
        raise InputError(
            f"cross-species integration needs at least 2 species, got {len(set(names))} ({', '.join(sorted(set(names)))})"
        )
    arrays = [np.asarray(e) for e in embeddings]
    for name, X, lab in zip(names, arrays, labels):
        if X.ndim != 2:
            raise ValueError(f"species {name}: embedding must be 2-d, got shape {X.shape}")
        if X.shape[0] != len(lab):
            raise ValueError(f"species {name}: {X.shape[0]} embedding rows but {len(lab)} labels")
        if X.shape[1] != arrays[0].shape[1]:
            raise InputError(
                f"species '{name}' has {X.shape[1]}-d embeddings but '{names[0]}' {arrays[0].shape[1]}-d; "
                "all species must come from the same model"
            )
    X = np.vstack(arrays)
    stacked_labels = np.concatenate([np.asarray(lab).astype(str) for lab in labels])
    batch = np.concatenate([np.full(X_.shape[0], name, dtype=object) for name, X_ in zip(names, arrays)]).astype(str)
    return X, stacked_labels, batch


def cross_species_integration(
    embeddings: Sequence,
    labels: Sequence,
    species: Sequence[str],
    *,
    k: int = DEFAULT_K,
    seed: int = 42,
    n_boot: int = DEFAULT_N_BOOT,
) -> list[MetricResult]:
    """`entropy_per_cell` and `batch_silhouette` of the stacked per-species embeddings (params {}),
    with per-cell bootstrap intervals (n_boot > 0) as in the integration task."""
    X, stacked_labels, batch = stack_species(embeddings, labels, species)
    return integration_metrics(X, stacked_labels, batch, k=k, seed=seed, n_boot=n_boot)


def check_species_count(paths: Sequence[str], names: Sequence[str]) -> None:
    """Before any file is read: one species is not a cross-species integration."""
    if len(paths) < 2:
        raise InputError(
            f"{paths[0]}: cross-species integration needs at least 2 species (--input/--species pairs), "
            f"got 1 ('{names[0]}')"
        )


def cross_species_integration_outcome(
    species: Sequence, *, k: int = DEFAULT_K, seed: int = 42, n_boot: int = DEFAULT_N_BOOT
) -> TaskOutcome:
    """`cross_species_integration` of loaded species (cellbench.io.species.LoadedSpecies: name, X,
    labels, label_key), with the params a result records; `k` is recorded as asked."""
    metrics = cross_species_integration(
        [d.X for d in species], [d.labels for d in species], [d.name for d in species], k=k, seed=seed, n_boot=n_boot,
    )
    params = {
        "species": [d.name for d in species],
        "label_key": {d.name: d.label_key for d in species},
        "n_neighbors": int(k),
        "n_cells_per_species": {d.name: int(d.X.shape[0]) for d in species},
    }
    return TaskOutcome(metrics, params, n_cells=int(sum(d.X.shape[0] for d in species)))
