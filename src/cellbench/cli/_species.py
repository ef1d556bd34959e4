"""Options and loading shared by the cross-species commands (one dataset + representation per species).

Repeated options pair up by position: the i-th --input is the i-th --species and, when given, the
i-th --embedding, --label-key and --sample-key (a --label-key / --sample-key given once applies to
every species). --obsm-key / --layer name where the representation sits, in every species' file.
Heavy imports happen inside functions, so importing this module costs only click.
"""

from __future__ import annotations

from pathlib import Path

import click


def species_options(f):
    """--input/--species/--embedding (repeated), --obsm-key, --layer, --label-key, --sample-key, names."""
    f = click.option(
        "--dataset-name",
        default=None,
        help="Name of the dataset in results [default: the input file stems joined by '+'].",
    )(f)
    f = click.option(
        "--model-name",
        default=None,
        help="Name of the representation in results [default: obsm key, layer, embedding stems, or 'X'].",
    )(f)
    f = click.option(
        "--sample-key",
        "sample_keys",
        multiple=True,
        help="obs column with sample/donor ids (once for all species, or once per --input).",
    )(f)
    f = click.option(
        "--label-key",
        "label_keys",
        multiple=True,
        required=True,
        help="obs column with the cell-type labels (once for all species, or once per --input).",
    )(f)
    f = click.option("--layer", default=None, help="Use this layer of each file as the representation.")(f)
    f = click.option("--obsm-key", default=None, help="Use this obsm key of each file (e.g. X_uce) as the representation.")(f)
    f = click.option(
        "--embedding",
        "embeddings",
        multiple=True,
        type=click.Path(dir_okay=False),
        help="Per species, in --input order: a separate representation file (.h5ad aligned by cell id, "
        "or .npy in the dataset's cell order). Without it the representation comes from --input.",
    )(f)
    f = click.option(
        "--species",
        "species",
        multiple=True,
        required=True,
        help="Species name of each --input, in the same order (e.g. human, mouse).",
    )(f)
    f = click.option(
        "-i",
        "--input",
        "inputs",
        multiple=True,
        required=True,
        type=click.Path(dir_okay=False),
        help="A species' dataset (.h5ad) with the label column; repeat once per species.",
    )(f)
    return f


def _per_input(values: tuple, n: int, option: str, required: bool) -> list:
    if not values:
        if required:
            raise click.UsageError(f"{option} is required")
        return [None] * n
    if len(values) == 1:
        return list(values) * n
    if len(values) != n:
        raise click.UsageError(f"give {option} once, or once per --input ({n}); got {len(values)}")
    return list(values)


class SpeciesSpec:
    """The options, checked and paired up per species (nothing loaded yet)."""

    def __init__(self, inputs, species, embeddings, obsm_key, layer, label_keys, sample_keys, model_name, dataset_name):
        n = len(inputs)
        if len(species) != n:
            raise click.UsageError(f"give one --species per --input: {n} input(s), {len(species)} species")
        if embeddings and len(embeddings) != n:
            raise click.UsageError(f"give one --embedding per --input: {n} input(s), {len(embeddings)} embedding(s)")
        seen = set()
        for name in species:
            if name in seen:
                raise click.UsageError(f"species '{name}' is given more than once; every --input needs its own --species")
            seen.add(name)
        self.inputs = list(inputs)
        self.species = list(species)
        self.embeddings = list(embeddings) if embeddings else [None] * n
        self.label_keys = _per_input(label_keys, n, "--label-key", True)
        self.sample_keys = _per_input(sample_keys, n, "--sample-key", False)
        self.obsm_key, self.layer = obsm_key, layer
        self.dataset = dataset_name or "+".join(Path(p).name.removesuffix(".h5ad") for p in inputs)
        if model_name:
            self.model = model_name
        elif obsm_key or layer:
            self.model = obsm_key or layer
        elif embeddings:
            self.model = "+".join(Path(e).stem for e in embeddings)
        else:
            self.model = "X"

    def index(self, name: str, option: str) -> int:
        if name not in self.species:
            raise click.BadParameter(f"'{name}' is not one of the --species ({', '.join(self.species)})", param_hint=option)
        return self.species.index(name)

    def load(self, i: int, dtype=None):
        """(SpeciesData, adata, input-file records) of the i-th species; the representation keeps its
        stored float precision unless `dtype` is given."""
        import numpy as np

        from cellbench.errors import InputError
        from cellbench.io.dataset import labels_as_strings, obs_column, read_h5ad
        from cellbench.io.extract import source_inputs
        from cellbench.io.label_data import load_features
        from cellbench.io.representation import RepresentationSpec
        from cellbench.tasks.cross_species_label import SpeciesData

        path = self.inputs[i]
        adata = read_h5ad(path)
        spec = RepresentationSpec(file=self.embeddings[i], obsm_key=self.obsm_key, layer=self.layer)
        X = load_features(adata, path, spec)
        if hasattr(X, "toarray"):
            X = X.toarray()
        X = np.asarray(X, dtype=dtype) if dtype is not None else np.asarray(X)
        labels = labels_as_strings(obs_column(adata, self.label_keys[i], path), path)
        sample_ids = None
        if self.sample_keys[i] is not None:
            column = obs_column(adata, self.sample_keys[i], path)
            if column.isna().any():
                first = column.index[np.flatnonzero(column.isna().to_numpy())[0]]
                raise InputError(f"{path}: obs column '{self.sample_keys[i]}' has missing sample ids, first at cell '{first}'")
            sample_ids = np.asarray(column.astype(object), dtype=object)
        records = source_inputs(adata, path, self.embeddings[i], role_suffix=f":{self.species[i]}")
        data = SpeciesData(self.species[i], X, labels, sample_ids, self.label_keys[i], self.sample_keys[i])
        return data, adata, records

    def where(self, i: int) -> str:
        return self.embeddings[i] or self.inputs[i]


def check_same_width(spec: SpeciesSpec, indices, datas) -> None:
    """Every species' representation must have the same number of dimensions (one model)."""
    from cellbench.errors import InputError

    first = indices[0]
    for i, d in zip(indices[1:], datas[1:]):
        if d.X.shape[1] != datas[0].X.shape[1]:
            raise InputError(
                f"{spec.where(i)}: {d.X.shape[1]}-d representation for species '{spec.species[i]}' but "
                f"{spec.where(first)} has {datas[0].X.shape[1]}-d; all species must come from the same model"
            )
