"""What a scorer is and what it returns (SPEC 10).

A :class:`Scorer` looks at one :class:`~recoil.evals.subject.Subject` and returns
one :class:`Score`, named like the scorer: a value in [0, 1] where higher is
better, and the raw measurements it came from. A scorer has a ``version`` that
changes whenever its scores would, so stored scores of an older version are
known to be stale. A scorer that cannot score a subject (an optional extra
missing, no model weights, no request to compare against) raises
:class:`~recoil.errors.ScorerUnavailableError`; callers skip it and say why.

The curves here turn raw measurements into scores; each scorer documents which
it uses and with what constants.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from recoil.errors import ValidationError

if TYPE_CHECKING:
    from recoil.evals.subject import Subject

SCORER_NAME = re.compile(r"[a-z][a-z0-9_]*\Z")
"""Scorer names are lower-case identifiers: they are keys of ``[evals.weights]``."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Score:
    """One scorer's verdict: ``value`` in [0, 1] (higher is better) and the raw figures."""

    value: float
    measurements: Mapping[str, float] = field(default_factory=dict)
    """Raw figures behind the value, e.g. ``{"loudness_lufs": -23.4}``; all finite."""

    def __post_init__(self) -> None:
        value = float(self.value)
        if not 0.0 <= value <= 1.0:  # also refuses nan
            raise ValidationError(f"a score lies in [0, 1], got {self.value!r}")
        figures: dict[str, float] = {}
        for key, figure in self.measurements.items():
            number = float(figure)
            if not isinstance(key, str) or not math.isfinite(number):
                raise ValidationError(
                    f"measurement {key!r} must be a finite number under a string name, "
                    f"got {figure!r}"
                )
            figures[key] = number
        object.__setattr__(self, "value", value)
        object.__setattr__(self, "measurements", figures)  # a copy: the caller's dict may change


@runtime_checkable
class Scorer(Protocol):
    """Scores one kind of subject; plugins need no base class, only this shape."""

    @property
    def name(self) -> str:
        """The score's name: a lower-case identifier, unique in a registry."""
        ...

    @property
    def version(self) -> str:
        """Changes whenever the scores for the same file would change."""
        ...

    @property
    def modalities(self) -> frozenset[str]:
        """The modalities (``keyframe``, ``video``, ``audio``, ``upscale``...) it scores."""
        ...

    def score(self, subject: Subject) -> Score:
        """Score ``subject``, or raise :class:`~recoil.errors.ScorerUnavailableError`."""
        ...


def saturating(x: float, half: float) -> float:
    """``x / (x + half)``: 0 at 0, 0.5 at ``half``, towards 1 as ``x`` grows."""
    return x / (x + half) if x > 0 else 0.0


def rising(x: float, scale: float) -> float:
    """``1 - exp(-x / scale)``: 0 at 0, 0.63 at ``scale``, 0.95 at three times it."""
    return 1.0 - math.exp(-x / scale) if x > 0 else 0.0


def falling(x: float, scale: float) -> float:
    """``exp(-x / scale)``: 1 at 0, 0.37 at ``scale``, 0.05 at three times it."""
    return math.exp(-x / scale) if x > 0 else 1.0


def closeness(error: float, half: float) -> float:
    """``1 / (1 + (error / half)^2)``: 1 on target, 0.5 at ``half`` off, 0.2 at twice it."""
    ratio = error / half
    return 1.0 / (1.0 + ratio * ratio)  # a product overflows to inf (score 0); ** would raise


def clamp(x: float) -> float:
    """``x`` limited to [0, 1]."""
    return min(1.0, max(0.0, x))
