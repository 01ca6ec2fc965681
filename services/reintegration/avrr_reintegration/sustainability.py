"""The reintegration sustainability score: economic, social and psychosocial dimensions.

IOM defines reintegration as sustainable when returnees reach economic
self-sufficiency, social stability and psychosocial well-being. The survey
answers one score in 0..1 per indicator; a dimension's score is the weighted
mean of its indicators, the composite the weighted mean of the dimensions, and
the case counts as sustainable when the composite reaches the threshold. All
weights are data (``programmes.yaml``). Scores are rounded to 4 decimals.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from avrr_events.notices import N_
from avrr_events.problems import DomainRuleViolation
from avrr_reintegration.notices import worded
from avrr_reintegration.programmes import DIMENSIONS, SustainabilityWeights

PRECISION = 4


class SurveyError(DomainRuleViolation):
    """Answers that do not fit the survey (unknown or missing indicators, out of 0..1): 422."""


@dataclass(frozen=True)
class Score:
    economic: float
    social: float
    psychosocial: float
    composite: float
    sustainable: bool


def _weighted_mean(values: Mapping[str, float], weights: Mapping[str, float]) -> float:
    total = sum(weights.values())
    return sum(weights[k] * values[k] for k in weights) / total


def score(answers: Mapping[str, float], weights: SustainabilityWeights) -> Score:
    """Score one survey; every indicator of every dimension must be answered, in 0..1."""
    expected = {i for d in DIMENSIONS for i in weights.indicators[d]}
    unknown = sorted(set(answers) - expected)
    missing = sorted(expected - set(answers))
    if unknown:
        raise SurveyError(
            wording=worded(N_("unknown indicators: %(indicators)s"), indicators=", ".join(unknown))
        )
    if missing:
        raise SurveyError(
            wording=worded(
                N_("unanswered indicators: %(indicators)s"), indicators=", ".join(missing)
            )
        )
    out_of_range = sorted(k for k, v in answers.items() if not 0.0 <= v <= 1.0)
    if out_of_range:
        raise SurveyError(
            wording=worded(
                N_("answers must be in 0..1: %(indicators)s"), indicators=", ".join(out_of_range)
            )
        )
    dims: dict[str, float] = {d: _weighted_mean(answers, weights.indicators[d]) for d in DIMENSIONS}
    dim_weights: dict[str, float] = {d: weights.dimension_weights.get(d, 0.0) for d in DIMENSIONS}
    composite = _weighted_mean(dims, dim_weights)
    rounded = {d: round(v, PRECISION) for d, v in dims.items()}
    return Score(
        economic=rounded["economic"],
        social=rounded["social"],
        psychosocial=rounded["psychosocial"],
        composite=round(composite, PRECISION),
        sustainable=composite >= weights.threshold,
    )
