"""The receipt: the immutable record of one dispatch, and the other log records.

These are pure values. How they are written to ``receipts.jsonl`` (the ``kind``
and ``schema`` tags, the upgrade of older lines) is :mod:`recoil.records.codec`'s
business; fields are only ever added, with defaults.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from recoil.errors import ValidationError
from recoil.model.cost import Cost
from recoil.model.review import ReviewNote, ReviewStatus


class ReceiptStatus(StrEnum):
    """How a dispatch ended."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"


@dataclass(frozen=True, slots=True, kw_only=True)
class Artifact:
    """One stored output file of a dispatch."""

    name: str
    path: str
    sha256: str
    mime: str
    bytes: int
    raw_sha256: str = ""
    """The sha256 of the provider's output before provenance was embedded."""
    facts: Mapping[str, Any] = field(default_factory=dict)
    """Media facts: width, height, duration_s, fps, sample_rate..."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ReceiptError:
    """What went wrong in a failed dispatch."""

    type: str
    message: str
    retryable: bool
    provider_status: str | None = None
    retry_after_s: float | None = None
    unknown_outcome: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Receipt:
    """The immutable record of one dispatch (SPEC section 3)."""

    receipt_id: str
    modality: str
    provider: str
    model: str
    status: ReceiptStatus
    request_sha256: str
    prompt: str
    prompt_sha256: str
    seed: int | None
    started_us: int
    finished_us: int
    request: Mapping[str, Any] = field(default_factory=dict)
    """The validated request, secrets removed."""
    inputs: Mapping[str, str] = field(default_factory=dict)
    """Input label -> sha256 of the input file."""
    artifacts: Mapping[str, Artifact] = field(default_factory=dict)
    cost: Cost = field(default_factory=Cost)
    provenance: Mapping[str, Any] = field(default_factory=dict)
    cached: bool = False
    error: ReceiptError | None = None
    eval_scores: Mapping[str, float] = field(default_factory=dict)
    job_id: str | None = None
    run_id: str | None = None
    attempt: int = 1

    def __post_init__(self) -> None:
        if self.finished_us < self.started_us:
            raise ValidationError("receipt finished_us is before started_us")
        if (self.status is ReceiptStatus.FAILED) != (self.error is not None):
            raise ValidationError("a receipt has an error exactly when its status is failed")
        bad = self.eval_scores and [k for k, v in self.eval_scores.items() if not math.isfinite(v)]
        if bad:
            # JSON has no inf or nan: such a score could not be logged and read back.
            raise ValidationError(f"eval scores must be finite numbers; {', '.join(bad)} is not")

    @property
    def succeeded(self) -> bool:
        """True for a successful dispatch."""
        return self.status is ReceiptStatus.SUCCEEDED


@dataclass(frozen=True, slots=True, kw_only=True)
class Submitted:
    """A job a provider accepted, recorded before waiting for it."""

    receipt_id: str
    """The id the final receipt of this dispatch will carry."""
    modality: str
    provider: str
    request_sha256: str
    job_id: str
    handle: Mapping[str, Any] = field(default_factory=dict)
    submitted_us: int = 0
    run_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Sending:
    """A submit about to go to a remote provider, recorded (durably) before it is sent.

    A ``sending`` record with no ``submitted`` record or receipt of the same
    ``receipt_id`` after it is a submit a crash interrupted: the provider may
    or may not have accepted (and billed) it. The next run looks the job up
    (``Provider.find``) instead of sending the request again.
    """

    receipt_id: str
    """The id of the dispatch, and the ``key`` its submit was sent with."""
    modality: str
    provider: str
    request_sha256: str
    sent_us: int
    run_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class EvalRecord:
    """Scores that arrived after a receipt, naming the receipt and the scorer (SPEC 10).

    ``scores`` are in [0, 1], higher is better; ``measurements`` keep the raw
    figures they came from (e.g. ``loudness_lufs``). A scorer's ``version``
    changes when its scores would: ``recoil score`` computes what is missing
    for the current versions and nothing twice.
    """

    receipt_id: str
    scores: Mapping[str, float]
    scorer: str = ""
    version: str = ""
    measurements: Mapping[str, float] = field(default_factory=dict)
    created_us: int = 0

    def __post_init__(self) -> None:
        values = {**self.scores, **self.measurements}
        bad = [k for k, v in values.items() if not math.isfinite(v)]
        if bad:
            raise ValidationError(f"eval scores must be finite numbers; {', '.join(bad)} is not")
        outside = [k for k, v in self.scores.items() if not 0.0 <= v <= 1.0]
        if outside:
            raise ValidationError(f"eval scores lie in [0, 1]; {', '.join(outside)} does not")


@dataclass(frozen=True, slots=True, kw_only=True)
class TakeRecord:
    """A take was planned: which beat and scene it belongs to and everything it will run.

    The log holds one per take, written before the take is first stored, so a
    project store can be rebuilt whole from the log (SPEC 3, 7). ``take`` is
    the take as ``recoil.records.codec.encode`` gives it when it is created:
    every step pending, no receipts (those are receipts of their own).
    """

    take_id: str
    beat_id: str
    scene_id: str
    take: Mapping[str, Any]

    def __post_init__(self) -> None:
        if not isinstance(self.take, Mapping) or self.take.get("take_id") != self.take_id:
            raise ValidationError(
                f"take record {self.take_id!r}: its take must be the take it names"
            )


@dataclass(frozen=True, slots=True, kw_only=True)
class ReviewRecord:
    """A person's decision on a take, or a note on it, with who and when (SPEC 12).

    ``status`` is the take's new review status, ``None`` for a note that
    changes nothing; ``text`` is the note (a rejection always has one),
    ``frame`` the frame it is pinned to. The log is the source of truth for
    reviews: a take's status is that of its latest record with one, its notes
    are the records with text, in log order.
    """

    record_id: str
    take_id: str
    beat_id: str
    author: str
    created_at: str
    """ISO 8601, timezone-aware UTC."""
    status: ReviewStatus | None = None
    text: str | None = None
    frame: int | None = None

    def __post_init__(self) -> None:
        if self.status is None and not self.text:
            raise ValidationError("a review record needs a status, a note or both")
        if self.frame is not None and self.frame < 0:
            raise ValidationError(f"a note's frame must be >= 0, got {self.frame}")

    @property
    def note(self) -> ReviewNote | None:
        """The note this record carries, if any."""
        if not self.text:
            return None
        return ReviewNote(
            author=self.author, text=self.text, created_at=self.created_at, frame=self.frame
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Sidecar:
    """The provenance sidecar of one stored artifact: where the file came from."""

    receipt_id: str
    modality: str
    provider: str
    model: str
    provenance: Mapping[str, Any]
    """The receipt's provenance plus ``prompt``, the exact prompt sent."""
    prompt_sha256: str
    request_sha256: str
    seed: int | None
    request: Mapping[str, Any]
    inputs: Mapping[str, str]
    artifact: Artifact
    created_at: str


Record = Receipt | Submitted | Sending | EvalRecord | TakeRecord | ReviewRecord
