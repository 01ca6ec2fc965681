"""Sustainability scoring reproduces a hand computation with given weights."""

from __future__ import annotations

import pytest

from avrr_reintegration.programmes import SustainabilityWeights, load_catalogue
from avrr_reintegration.sustainability import SurveyError, score

WEIGHTS = SustainabilityWeights.model_validate(
    {
        "threshold": 0.6,
        "dimension_weights": {"economic": 0.5, "social": 0.3, "psychosocial": 0.2},
        "indicators": {
            "economic": {"income": 0.6, "debt": 0.4},
            # weights need not sum to 1: a dimension is a weighted MEAN
            "social": {"housing": 1, "documents": 1},
            "psychosocial": {"wellbeing": 0.7, "network": 0.3},
        },
    }
)
ANSWERS = {
    "income": 0.8,
    "debt": 0.5,
    "housing": 1.0,
    "documents": 0.25,
    "wellbeing": 0.4,
    "network": 0.9,
}


def test_scoring_with_given_weights_reproduces_the_hand_computation() -> None:
    # By hand:
    #   economic     = (0.6 x 0.8 + 0.4 x 0.5) / (0.6 + 0.4) = (0.48 + 0.20) / 1 = 0.68
    #   social       = (1 x 1.0 + 1 x 0.25) / (1 + 1)        = 1.25 / 2         = 0.625
    #   psychosocial = (0.7 x 0.4 + 0.3 x 0.9) / (0.7 + 0.3) = (0.28 + 0.27) / 1 = 0.55
    #   composite    = (0.5 x 0.68 + 0.3 x 0.625 + 0.2 x 0.55) / (0.5 + 0.3 + 0.2)
    #                = (0.34 + 0.1875 + 0.11) / 1 = 0.6375
    #   sustainable  = 0.6375 >= 0.6 -> yes
    result = score(ANSWERS, WEIGHTS)
    assert result.economic == 0.68
    assert result.social == 0.625
    assert result.psychosocial == 0.55
    assert result.composite == 0.6375
    assert result.sustainable is True


def test_the_threshold_is_configurable() -> None:
    stricter = WEIGHTS.model_copy(update={"threshold": 0.65})
    result = score(ANSWERS, stricter)
    assert result.composite == 0.6375
    assert result.sustainable is False


def test_unequal_dimension_weights_move_the_composite() -> None:
    # Only the psychosocial dimension counts: composite = psychosocial = 0.55.
    only_psy = WEIGHTS.model_copy(
        update={"dimension_weights": {"economic": 0, "social": 0, "psychosocial": 1}}
    )
    assert score(ANSWERS, only_psy).composite == 0.55


@pytest.mark.parametrize(
    ("answers", "message"),
    [
        ({k: v for k, v in ANSWERS.items() if k != "debt"}, "unanswered indicators: debt"),
        ({**ANSWERS, "mood": 0.5}, "unknown indicators: mood"),
        ({**ANSWERS, "income": 1.2}, "answers must be in 0..1: income"),
    ],
)
def test_a_survey_that_does_not_fit_the_weights_is_refused(
    answers: dict[str, float], message: str
) -> None:
    with pytest.raises(SurveyError, match=message):
        score(answers, WEIGHTS)


def test_the_packaged_survey_scores_a_full_survey() -> None:
    weights = load_catalogue().sustainability
    indicators = [i for dim in weights.indicators.values() for i in dim]
    perfect = score(dict.fromkeys(indicators, 1.0), weights)
    assert (perfect.economic, perfect.social, perfect.psychosocial) == (1.0, 1.0, 1.0)
    assert perfect.composite == 1.0 and perfect.sustainable
    assert score(dict.fromkeys(indicators, 0.0), weights).sustainable is False
