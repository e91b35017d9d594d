"""Scores: validated on construction, immutable, and the curves that make them."""

from __future__ import annotations

import math
import pickle

import pytest
from hypothesis import given
from hypothesis import strategies as st

from recoil.errors import RecoilError, ScorerUnavailableError, ValidationError
from recoil.evals import Evaluation, Score, Scorer, ScorerResult, Skipped, builtin_scorers
from recoil.evals.score import clamp, closeness, falling, rising, saturating


def test_a_score_keeps_its_value_and_measurements() -> None:
    """Values are floats in [0, 1]; measurements are a copy, as finite floats."""
    figures = {"loudness_lufs": -23}
    score = Score(value=1, measurements=figures)
    figures["loudness_lufs"] = 0
    assert score.value == 1.0
    assert isinstance(score.value, float)
    assert score.measurements == {"loudness_lufs": -23.0}
    assert isinstance(score.measurements["loudness_lufs"], float)


def test_results_cross_processes() -> None:
    """Scores and evaluations pickle, for worker processes and the Ray backend."""
    score = Score(value=0.5, measurements={"noise_sigma": 2.0})
    evaluation = Evaluation(
        results=(ScorerResult(scorer="noise", version="1", score=score),),
        skipped=(Skipped(scorer="continuity", version="1", reason="no input image"),),
    )
    assert pickle.loads(pickle.dumps(evaluation)) == evaluation
    assert evaluation.values() == {"noise": 0.5}
    assert str(evaluation.skipped[0]) == "continuity skipped: no input image"


@pytest.mark.parametrize("value", [-0.01, 1.01, math.nan, math.inf])
def test_a_score_outside_0_1_is_refused(value: float) -> None:
    """SPEC 10: every score is in [0, 1]."""
    with pytest.raises(ValidationError, match=r"a score lies in \[0, 1\]"):
        Score(value=value)


@pytest.mark.parametrize("figure", [math.nan, math.inf, -math.inf])
def test_a_measurement_must_be_finite(figure: float) -> None:
    """The eval log is JSON: no inf or nan."""
    with pytest.raises(ValidationError, match="'x' must be a finite number"):
        Score(value=0.5, measurements={"x": figure})


@given(st.floats(allow_nan=False, allow_infinity=False), st.floats(0.01, 1e6))
def test_every_curve_maps_into_0_1(x: float, scale: float) -> None:
    """Property: each documented curve gives a score in [0, 1] for any finite input."""
    for value in (
        saturating(x, scale),
        rising(x, scale),
        falling(x, scale),
        closeness(x, scale),
        clamp(x),
    ):
        Score(value=value)


def test_the_curves_hit_their_documented_points() -> None:
    """0.5 at half for saturating and closeness, 1 - 1/e at the scale for rising."""
    assert saturating(100, 100) == 0.5
    assert closeness(0.25, 0.25) == 0.5
    assert closeness(0.0, 0.25) == 1.0
    assert rising(0.5, 0.5) == pytest.approx(1 - math.exp(-1))
    assert falling(0.0, 3.0) == 1.0


def test_the_builtins_are_scorers() -> None:
    """Each built-in satisfies the protocol plugins implement."""
    assert all(isinstance(s, Scorer) for s in builtin_scorers())


def test_the_unavailable_error_is_one_line_and_pickles() -> None:
    """ScorerUnavailableError: a RecoilError naming the scorer and the fix; crosses processes."""
    error = ScorerUnavailableError("prompt_adherence", "install the clip extra")
    assert isinstance(error, RecoilError)
    assert str(error) == "scorer 'prompt_adherence' skipped: install the clip extra"
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.scorer, copy.reason, str(copy)) == (error.scorer, error.reason, str(error))
