"""Score one subject with every scorer of its modality, or a chosen few.

Scorers run in name order and share the subject's decoded media, so the file
is decoded once. A scorer that raises
:class:`~recoil.errors.ScorerUnavailableError` is skipped and its reason kept;
a file that does not decode raises :class:`~recoil.errors.ValidationError`.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from recoil.errors import ScorerUnavailableError, ValidationError
from recoil.evals.registry import ScorerRegistry, default_registry
from recoil.evals.score import Score, Scorer
from recoil.evals.subject import Subject


@dataclass(frozen=True, slots=True, kw_only=True)
class ScorerResult:
    """One scorer's score of a subject, with the scorer's name and version."""

    scorer: str
    version: str
    score: Score


@dataclass(frozen=True, slots=True, kw_only=True)
class Skipped:
    """A scorer that could not score the subject, and why (one line)."""

    scorer: str
    version: str
    reason: str

    def __str__(self) -> str:
        return f"{self.scorer} skipped: {self.reason}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Evaluation:
    """Every score of one subject, and the scorers skipped."""

    results: tuple[ScorerResult, ...] = ()
    skipped: tuple[Skipped, ...] = ()

    def values(self) -> dict[str, float]:
        """Scorer name -> score value."""
        return {result.scorer: result.score.value for result in self.results}


def evaluate(
    subject: Subject,
    *,
    registry: ScorerRegistry | None = None,
    names: Collection[str] | None = None,
) -> Evaluation:
    """Score ``subject`` with the scorers of its modality (only ``names``, if given).

    Unknown ``names`` raise :class:`~recoil.errors.NotFoundError` (with a
    suggestion) before anything is decoded; named scorers that do not serve
    the subject's modality are left out.
    """
    registry = registry if registry is not None else default_registry()
    if names is None:
        chosen = registry.scorers(subject.modality)
    else:
        picked = [registry.scorer(name) for name in dict.fromkeys(names)]
        chosen = [s for s in picked if subject.modality in s.modalities]
    results: list[ScorerResult] = []
    skipped: list[Skipped] = []
    for scorer in chosen:
        try:
            score = _run(scorer, subject)
        except ScorerUnavailableError as exc:
            skipped.append(Skipped(scorer=scorer.name, version=scorer.version, reason=exc.reason))
            continue
        results.append(ScorerResult(scorer=scorer.name, version=scorer.version, score=score))
    return Evaluation(results=tuple(results), skipped=tuple(skipped))


def _run(scorer: Scorer, subject: Subject) -> Score:
    score = scorer.score(subject)
    if not isinstance(score, Score):  # a plugin's mistake, named for its author
        raise ValidationError(
            f"scorer {scorer.name!r} returned {type(score).__name__}, not a recoil.evals.Score"
        )
    return score
