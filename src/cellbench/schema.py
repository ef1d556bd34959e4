"""The result schema: one JSON file per unit of work (task x dataset x model x variant x seed).

Versioned: `schema_version` changes whenever a field changes meaning. Everything in a result is a
function of the inputs and the seed except `wall_time_s` and `peak_rss_mb`, so two runs give the same bytes
apart from those two fields.
"""

from __future__ import annotations

import math
from typing import Any

from pydantic import BaseModel, Field, field_validator, model_serializer

SCHEMA_VERSION = "1.0"


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

    @field_validator("value", mode="before")
    @classmethod
    def _nan_to_none(cls, v):
        if v is None:
            return None
        v = float(v)
        return None if math.isnan(v) or math.isinf(v) else v

    @model_serializer(mode="wrap")
    def _omit_absent_ci(self, handler):
        """Results without an interval keep exactly the cz-benchmarks shape {metric_type, value, params}."""
        data = handler(self)
        if isinstance(data, dict) and data.get("ci") is None:
            data.pop("ci", None)
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
    versions: dict[str, str] = Field(default_factory=dict)
    wall_time_s: float | None = None
    peak_rss_mb: float | None = None


def result_json_schema() -> dict:
    """The JSON schema of a result file (written to docs/result.schema.json)."""
    return TaskResult.model_json_schema()
