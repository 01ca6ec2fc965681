"""The programmes' reintegration limits and weights, loaded from data (``programmes.yaml``).

Places, budgets, deadlines, monitoring months and scoring weights are a
programme manager's decisions, so they live in a data file validated here at
start-up, not in code. A path in ``AVRR_REINTEGRATION_PROGRAMMES`` replaces the
packaged file.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from avrr_events.data_files import read_yaml
from avrr_reintegration.settings import ReintegrationSettings

Severity = Literal["low", "medium", "high"]
Dimension = Literal["economic", "social", "psychosocial"]
DIMENSIONS: tuple[Dimension, ...] = ("economic", "social", "psychosocial")

Money = Annotated[Decimal, Field(gt=0, max_digits=14, decimal_places=2)]
Weight = Annotated[float, Field(ge=0)]


class _Config(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class PriorityRules(_Config):
    """How vulnerability becomes a priority score."""

    severity_points: dict[Severity, int] = {"low": 1, "medium": 2, "high": 3}
    category_weights: dict[str, int] = Field(default_factory=dict)
    default_category_weight: int = 1


class SustainabilityWeights(_Config):
    """Indicator weights per dimension, dimension weights, and the sustainability threshold."""

    threshold: float = Field(default=0.5, ge=0, le=1)
    dimension_weights: dict[Dimension, Weight] = {
        "economic": 1.0,
        "social": 1.0,
        "psychosocial": 1.0,
    }
    indicators: dict[Dimension, dict[str, Weight]]

    @model_validator(mode="after")
    def _every_dimension_weighed(self) -> SustainabilityWeights:
        for dimension in DIMENSIONS:
            if sum(self.indicators.get(dimension, {}).values()) <= 0:
                raise ValueError(f"dimension {dimension} needs indicators with positive weights")
        if sum(self.dimension_weights.get(d, 0.0) for d in DIMENSIONS) <= 0:
            raise ValueError("the dimension weights must not all be zero")
        return self


class Programme(_Config):
    """One programme's reintegration limits."""

    id: str
    name: str
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    places: int | None = Field(default=None, ge=0)
    budget: Money | None = None
    max_plan_budget: Money | None = None
    min_priority: int = Field(default=0, ge=0)
    plan_deadline_days: int = Field(default=30, ge=1)
    monitoring_months: tuple[int, ...] = Field(default=(1, 3, 6), min_length=1)

    @model_validator(mode="after")
    def _months_increasing(self) -> Programme:
        months = self.monitoring_months
        if any(m < 1 for m in months) or list(months) != sorted(set(months)):
            raise ValueError("monitoring_months must be distinct positive months in order")
        return self


class ProgrammeCatalogue(_Config):
    """Every programme this service knows, with the shared priority and scoring rules."""

    priority: PriorityRules
    sustainability: SustainabilityWeights
    programmes: dict[str, Programme]

    @model_validator(mode="before")
    @classmethod
    def _ids_from_keys(cls, data: object) -> object:
        if isinstance(data, dict) and isinstance(data.get("programmes"), dict):
            data = dict(data)
            data["programmes"] = {
                key: {**value, "id": key} if isinstance(value, dict) else value
                for key, value in data["programmes"].items()
            }
        return data

    def programme(self, programme_id: str) -> Programme | None:
        return self.programmes.get(programme_id)


def load_catalogue(path: str | Path | None = None) -> ProgrammeCatalogue:
    """Read and validate the programme file (the packaged one unless told otherwise)."""
    chosen = path or ReintegrationSettings().avrr_reintegration_programmes or None
    raw = read_yaml("avrr_reintegration", "programmes.yaml", chosen)
    return ProgrammeCatalogue.model_validate(raw)
