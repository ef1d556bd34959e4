"""Options shared by the cross-species commands (one dataset + representation per species).

Repeated options pair up by position: the i-th --input is the i-th --species and, when given, the
i-th --embedding, --label-key and --sample-key (a --label-key / --sample-key given once applies to
every species). --obsm-key / --layer name where the representation sits, in every species' file.
Reading a species is cellbench.io.species. Heavy imports happen inside functions, so importing this
module costs only click.
"""

from __future__ import annotations

import contextlib
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

    def load(self, indices: list[int]):
        """The species at `indices` (cellbench.io.species.LoadedSpecies), checked to share one width."""
        from cellbench.io.species import check_same_width, load_species

        species = [
            load_species(
                self.inputs[i], self.species[i], embedding=self.embeddings[i], obsm_key=self.obsm_key,
                layer=self.layer, label_key=self.label_keys[i], sample_key=self.sample_keys[i],
            )
            for i in indices
        ]
        check_same_width(species)
        return species


def check_sample_ids(species, aggregation: str) -> None:
    """--aggregation mean/median needs sample ids for every species read."""
    from cellbench.errors import InputError

    if aggregation in ("mean", "median"):
        for d in species:
            if d.sample_ids is None:
                raise InputError(f"{d.path}: --aggregation {aggregation} needs --sample-key")


@contextlib.contextmanager
def naming_species_files(species):
    """An InputError about a species (its text names "species 'NAME'") is prefixed with that
    species' file; one naming none of them, with every file read."""
    from cellbench.errors import InputError

    try:
        yield
    except InputError as exc:
        about = [d for d in species if f"species '{d.name}'" in str(exc)] or species
        raise InputError(f"{', '.join(d.path for d in about)}: {exc}") from None
