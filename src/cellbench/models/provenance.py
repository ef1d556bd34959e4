"""The provenance record of a model's embedding: which runner, package versions, image, weights, seed.

Why: a score is only as reproducible as the embedding behind it. Every runner output (`cellbench
model-harmony`, `model-scvi`) and every checked container output (`cellbench model-check`) stores this
record in uns["cellbench_model"]; `cellbench extract` carries it into the extract and every task command
copies it into its result JSON as `model_provenance` (schema 1.2). h5ad cannot store None, so a value
that is not known is stored as "".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cellbench.schema import MODEL_PROVENANCE_KEY

UNS_KEY = MODEL_PROVENANCE_KEY
RUNNERS = ("harmony", "scvi", "container")
#: The record's fields, in this order (the contract of docs/models.md).
FIELDS = ("runner", "runner_version", "model", "dataset", "seed", "params", "packages", "image", "image_digest",
          "weights_sha256", "device")


@dataclass
class ModelOutput:
    """What a runner or the container contract gives back: the embedding (float32, cells x d, in the
    dataset's cell order) and its provenance record (uns["cellbench_model"])."""

    embedding: np.ndarray
    record: dict


def storable(value):
    """`value` as h5ad can store it: None -> "", dicts (keys as strings) converted all the way down."""
    if value is None:
        return ""
    if isinstance(value, dict):
        return {str(k): storable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [storable(v) for v in value]
    return value


def model_record(*, runner: str, model: str, dataset: str, seed, params: dict, packages: dict,
                 runner_version: str = "", image: str = "", image_digest: str = "", weights_sha256: str = "",
                 device: str = "") -> dict:
    """The uns["cellbench_model"] record; every field of FIELDS present, missing values as ""."""
    if runner not in RUNNERS:
        raise ValueError(f"runner must be one of {', '.join(RUNNERS)}, not {runner!r}")
    record = {"runner": runner, "runner_version": runner_version, "model": model, "dataset": dataset,
              "seed": seed, "params": dict(params), "packages": dict(packages), "image": image,
              "image_digest": image_digest, "weights_sha256": weights_sha256, "device": device}
    return storable(record)
