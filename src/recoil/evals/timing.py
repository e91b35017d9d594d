"""Timing scorers: a clip's or a line's duration, and a clip's frame rate, against the request.

Both score the relative error ``e`` with ``1 / (1 + (e / 0.25)^2)``: 1 on
target, 0.96 at 5 % off, 0.5 at 25 % off (a 5 s clip for a 4 s request), 0.2
at 50 %. Both skip when the subject has no request to compare with.

- ``duration``: a video against its request's ``duration_s``, one frame of
  slack. Audio against its request's ``duration_s`` when it has one, or else
  against the dialogue: the line's words at a speaking rate between 1.5 and 4
  words a second, plus 0.5 s for the breath around it, score 1; outside that
  band the error is measured to the nearer end.
- ``fps``: a video's frame rate against its request's ``fps`` (1 % slack, so
  23.976 passes for 24).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from recoil.errors import ScorerUnavailableError
from recoil.evals.score import Score, closeness
from recoil.model.requests import AudioRequest, VideoRequest

if TYPE_CHECKING:
    from recoil.evals.subject import Subject

HALF = 0.25
"""The relative error that scores 0.5."""
SLOWEST_WPS = 1.5
FASTEST_WPS = 4.0
BREATH_S = 0.5
FPS_SLACK = 0.01


def _relative(actual: float, low: float, high: float, slack: float = 0.0) -> float:
    """How far ``actual`` lies outside [low, high] (less ``slack``), relative to that end."""
    if actual < low - slack:
        return (low - slack - actual) / low
    if actual > high + slack:
        return (actual - high - slack) / high
    return 0.0


class Duration:
    """Duration against the request, or against the dialogue (module docstring)."""

    name = "duration"
    version = "1"
    modalities = frozenset({"video", "audio"})

    def score(self, subject: Subject) -> Score:
        """Score how close the file's duration is to what was asked."""
        request = subject.request
        if isinstance(request, VideoRequest):
            clip = subject.media.clip()
            actual, expected = clip.duration_s, request.duration_s
            slack = 1.0 / clip.fps if clip.fps > 0 else 0.0
            error = _relative(actual, expected, expected, slack)
            figures = {"duration_s": actual, "expected_s": expected}
        elif isinstance(request, AudioRequest):
            actual = subject.media.sound().duration_s
            if request.duration_s is not None:
                expected = request.duration_s
                error = _relative(actual, expected, expected)
                figures = {"duration_s": actual, "expected_s": expected}
            else:
                words = max(1, len(request.prompt.split()))
                low, high = words / FASTEST_WPS, words / SLOWEST_WPS + BREATH_S
                error = _relative(actual, low, high)
                figures = {
                    "duration_s": actual,
                    "expected_s": words / 2.5 + BREATH_S / 2,
                    "words_per_s": words / actual if actual > 0 else 0.0,
                }
        else:
            raise ScorerUnavailableError(
                self.name, "no video or audio request to compare the duration with"
            )
        return Score(value=closeness(error, HALF), measurements=figures)


class FrameRate:
    """A clip's frame rate against the request's ``fps``."""

    name = "fps"
    version = "1"
    modalities = frozenset({"video"})

    def score(self, subject: Subject) -> Score:
        """Score how close the clip's frame rate is to what was asked."""
        request = subject.request
        if not isinstance(request, VideoRequest):
            raise ScorerUnavailableError(self.name, "no video request to compare the fps with")
        fps = subject.media.clip().fps
        error = _relative(fps, request.fps, request.fps, FPS_SLACK * request.fps)
        return Score(
            value=closeness(error, HALF),
            measurements={"fps": fps, "expected_fps": request.fps},
        )
