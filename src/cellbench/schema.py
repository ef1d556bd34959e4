"""The result schema: one JSON file per unit of work (task x dataset x model x variant x seed).

Versioned: `schema_version` changes whenever a field changes meaning. Everything in a result is a
function of the inputs and the seed except `wall_time_s` and `peak_rss_mb`, so two runs give the same bytes
apart from those two fields.
"""

from __future__ import annotations

import math
from typing import Any

from pydantic import BaseModel, Field, field_validator, model_serializer

# 1.0: first release. 1.1: optional `reason` on a metric whose value is null (why it is undefined).
# 1.2: `model_provenance`, what made the representation (null for a precomputed one without a record).
SCHEMA_VERSION = "1.2"
#: Where a model's embedding file (`cellbench model-harmony`, `model-scvi`, `model-check`) and an extract
#: made from it keep the provenance record that results copy into `model_provenance`.
MODEL_PROVENANCE_KEY = "cellbench_model"
#: The obsm key of that embedding in a runner's or a checked container's output file (the contract).
MODEL_EMBEDDING_KEY = "X_emb"


def schema_major(version: object) -> int | None:
    """The MAJOR of a 'MAJOR.MINOR' schema_version, or None when it is not one.

    Readers accept any MINOR of their own MAJOR (minor versions only add optional fields) and
    refuse any other MAJOR: its fields may mean something else.
    """
    if not isinstance(version, str):
        return None
    major, _, rest = version.partition(".")
    if not major.isdigit() or not all(p.isdigit() for p in rest.split(".")):
        return None
    return int(major)


class ConfidenceInterval(BaseModel):
    """A bootstrap interval of a metric computed at task time from its per-cell (or per-fold) values.

    Optional and additive: made by `cellbench.stats.metric_ci`; results without it are unchanged.
    """

    low: float
    high: float
    level: float = Field(0.95, description="Coverage, e.g. 0.95")
    method: str = Field("percentile_bootstrap", description="How the interval was computed")
    n_boot: int = Field(description="Number of bootstrap resamples")
    seed: int = Field(description="Seed of the resampling (numpy default_rng)")
    unit: str = Field("cells", description="What was resampled: cells, folds, ...")
    n_units: int = Field(description="Number of values (cells, folds) resampled")


class MetricResult(BaseModel):
    """One number: `{metric_type, value, params}` as in cz-benchmarks; params name the variant."""

    metric_type: str
    value: float | None = Field(description="The metric; null where it is undefined (NaN)")
    params: dict[str, Any] = Field(default_factory=dict)
    ci: ConfidenceInterval | None = Field(
        None, description="Optional bootstrap interval (left out of the JSON when absent)"
    )
    reason: str | None = Field(
        None,
        description="Why the value is null, or which fold rows a mean leaves out (left out of the JSON when absent)",
    )

    @field_validator("value", mode="before")
    @classmethod
    def _nan_to_none(cls, v):
        if v is None:
            return None
        # a ValueError (not float()'s TypeError) so that pydantic reports it as a validation error
        if isinstance(v, bool) or not isinstance(v, (int, float, str)):
            raise ValueError(f"a number or null, not {type(v).__name__}")  # noqa: TRY004
        try:
            v = float(v)
        except ValueError:
            raise ValueError(f"a number or null, not {v[:40]!r}") from None
        return None if math.isnan(v) or math.isinf(v) else v

    @model_serializer(mode="wrap")
    def _omit_absent(self, handler):
        """Results without an interval or reason keep exactly the cz-benchmarks shape {metric_type, value, params}."""
        data = handler(self)
        if isinstance(data, dict):
            for key in ("ci", "reason"):
                if data.get(key) is None:
                    data.pop(key, None)
        return data


class InputFile(BaseModel):
    """An input file by role, base name (work directories differ between runs) and content hash."""

    role: str
    name: str
    sha256: str


class TaskResult(BaseModel):
    """The record of one unit of work."""

    schema_version: str = SCHEMA_VERSION
    task: str = Field(description="clustering, embedding, integration, sequential, label_prediction, ...")
    dataset: str
    model: str = Field(description="The representation's name: a model, or a baseline such as pca")
    seed: int
    params: dict[str, Any] = Field(default_factory=dict, description="Task settings and the unit's variant")
    metrics: list[MetricResult]
    n_cells: int | None = None
    inputs: list[InputFile] = Field(default_factory=list)
    versions: dict[str, str] = Field(
        default_factory=dict,
        description="Versions of cellbench, Python and the libraries that shape the numbers; `device` where "
        "the GPU path (--device) made the all-pairs products, e.g. 'cuda:0, NVIDIA H100 80GB HBM3, torch ...'",
    )
    wall_time_s: float | None = None
    peak_rss_mb: float | None = None
    model_provenance: dict[str, Any] | None = Field(
        None,
        description="What made the representation, copied from its file's uns['cellbench_model']: runner, "
        "runner_version, model, dataset, seed, params, packages, image, image_digest, weights_sha256, device "
        "('' where unknown). Cross-species results hold one record per species name. Null when the "
        "representation carries no record (a precomputed embedding).",
    )


def result_json_schema() -> dict:
    """The JSON schema of a result file (written to docs/result.schema.json)."""
    return TaskResult.model_json_schema()
