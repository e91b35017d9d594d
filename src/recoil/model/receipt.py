"""The receipt: the immutable record of one dispatch, and the other log records.

Every record written to ``receipts.jsonl`` carries a ``kind`` tag and a
``schema_version``. Fields are only ever added, with defaults, so
:func:`record_from_dict` reads every older line.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from recoil.model.cost import Cost
from recoil.model.review import ReviewNote, ReviewStatus

SCHEMA_VERSION = 1


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

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict."""
        return {
            "name": self.name,
            "path": self.path,
            "sha256": self.sha256,
            "mime": self.mime,
            "bytes": self.bytes,
            "raw_sha256": self.raw_sha256,
            "facts": dict(self.facts),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Artifact:
        """Inverse of :meth:`to_dict`."""
        return cls(
            name=data["name"],
            path=data["path"],
            sha256=data["sha256"],
            mime=data["mime"],
            bytes=int(data["bytes"]),
            raw_sha256=data.get("raw_sha256", ""),
            facts=dict(data.get("facts", {})),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class ReceiptError:
    """What went wrong in a failed dispatch."""

    type: str
    message: str
    retryable: bool
    provider_status: str | None = None
    retry_after_s: float | None = None
    unknown_outcome: bool = False

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict."""
        return {
            "type": self.type,
            "message": self.message,
            "retryable": self.retryable,
            "provider_status": self.provider_status,
            "retry_after_s": self.retry_after_s,
            "unknown_outcome": self.unknown_outcome,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ReceiptError:
        """Inverse of :meth:`to_dict`."""
        return cls(
            type=data["type"],
            message=data["message"],
            retryable=bool(data["retryable"]),
            provider_status=data.get("provider_status"),
            retry_after_s=data.get("retry_after_s"),
            unknown_outcome=bool(data.get("unknown_outcome", False)),
        )


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
    schema_version: int = SCHEMA_VERSION

    kind = "receipt"

    def __post_init__(self) -> None:
        if self.finished_us < self.started_us:
            raise ValueError("receipt finished_us is before started_us")
        if (self.status is ReceiptStatus.FAILED) != (self.error is not None):
            raise ValueError("a receipt has an error exactly when its status is failed")
        bad = self.eval_scores and [k for k, v in self.eval_scores.items() if not math.isfinite(v)]
        if bad:
            # JSON has no inf or nan: such a score could not be logged and read back.
            raise ValueError(f"eval scores must be finite numbers; {', '.join(bad)} is not")

    @property
    def succeeded(self) -> bool:
        """True for a successful dispatch."""
        return self.status is ReceiptStatus.SUCCEEDED

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict, the line written to the receipt log."""
        return {
            "kind": self.kind,
            "schema_version": self.schema_version,
            "receipt_id": self.receipt_id,
            "modality": self.modality,
            "provider": self.provider,
            "model": self.model,
            "status": self.status,  # a StrEnum: written as its value
            "request_sha256": self.request_sha256,
            "prompt": self.prompt,
            "prompt_sha256": self.prompt_sha256,
            "seed": self.seed,
            "started_us": self.started_us,
            "finished_us": self.finished_us,
            "request": dict(self.request),
            "inputs": dict(self.inputs),
            "artifacts": {k: a.to_dict() for k, a in self.artifacts.items()},
            "cost": self.cost.to_dict(),
            "provenance": dict(self.provenance),
            "cached": self.cached,
            "error": self.error.to_dict() if self.error is not None else None,
            "eval_scores": dict(self.eval_scores),
            "job_id": self.job_id,
            "run_id": self.run_id,
            "attempt": self.attempt,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Receipt:
        """Inverse of :meth:`to_dict`; missing newer fields take their defaults."""
        error = data.get("error")
        return cls(
            receipt_id=data["receipt_id"],
            schema_version=int(data.get("schema_version", SCHEMA_VERSION)),
            modality=data["modality"],
            provider=data["provider"],
            model=data.get("model", ""),
            status=ReceiptStatus(data["status"]),
            request_sha256=data["request_sha256"],
            prompt=data.get("prompt", ""),
            prompt_sha256=data.get("prompt_sha256", ""),
            seed=data.get("seed"),
            started_us=int(data["started_us"]),
            finished_us=int(data["finished_us"]),
            request=dict(data.get("request", {})),
            inputs=dict(data.get("inputs", {})),
            artifacts={k: Artifact.from_dict(a) for k, a in data.get("artifacts", {}).items()},
            cost=Cost.from_dict(data.get("cost", {})),
            provenance=dict(data.get("provenance", {})),
            cached=bool(data.get("cached", False)),
            error=ReceiptError.from_dict(error) if error else None,
            eval_scores={k: float(v) for k, v in data.get("eval_scores", {}).items()},
            job_id=data.get("job_id"),
            run_id=data.get("run_id"),
            attempt=int(data.get("attempt", 1)),
        )


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
    schema_version: int = SCHEMA_VERSION

    kind = "submitted"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict."""
        return {
            "kind": self.kind,
            "schema_version": self.schema_version,
            "receipt_id": self.receipt_id,
            "modality": self.modality,
            "provider": self.provider,
            "request_sha256": self.request_sha256,
            "job_id": self.job_id,
            "handle": dict(self.handle),
            "submitted_us": self.submitted_us,
            "run_id": self.run_id,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Submitted:
        """Inverse of :meth:`to_dict`."""
        return cls(
            **_dispatch_fields(data),
            job_id=data["job_id"],
            handle=dict(data.get("handle", {})),
            submitted_us=int(data.get("submitted_us", 0)),
        )


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
    schema_version: int = SCHEMA_VERSION

    kind = "sending"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict (every field is a string or a number)."""
        return {"kind": self.kind, **dataclasses.asdict(self)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Sending:
        """Inverse of :meth:`to_dict`."""
        return cls(**_dispatch_fields(data), sent_us=int(data["sent_us"]))


def _dispatch_fields(data: Mapping[str, Any]) -> dict[str, Any]:
    """The fields a ``submitted`` and a ``sending`` record share: which dispatch it was."""
    return {
        "receipt_id": data["receipt_id"],
        "schema_version": int(data.get("schema_version", SCHEMA_VERSION)),
        "modality": data["modality"],
        "provider": data["provider"],
        "request_sha256": data["request_sha256"],
        "run_id": data.get("run_id"),
    }


@dataclass(frozen=True, slots=True, kw_only=True)
class EvalRecord:
    """Scores that arrived after a receipt, naming the receipt they score."""

    receipt_id: str
    scores: Mapping[str, float]
    scorer: str = ""
    created_us: int = 0
    schema_version: int = SCHEMA_VERSION

    kind = "eval"

    def __post_init__(self) -> None:
        bad = [k for k, v in self.scores.items() if not math.isfinite(v)]
        if bad:
            raise ValueError(f"eval scores must be finite numbers; {', '.join(bad)} is not")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict."""
        return {
            "kind": self.kind,
            "schema_version": self.schema_version,
            "receipt_id": self.receipt_id,
            "scores": dict(self.scores),
            "scorer": self.scorer,
            "created_us": self.created_us,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EvalRecord:
        """Inverse of :meth:`to_dict`."""
        return cls(
            receipt_id=data["receipt_id"],
            schema_version=int(data.get("schema_version", SCHEMA_VERSION)),
            scores={k: float(v) for k, v in data["scores"].items()},
            scorer=data.get("scorer", ""),
            created_us=int(data.get("created_us", 0)),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class TakeRecord:
    """A take was planned: which beat and scene it belongs to and everything it will run.

    The log holds one per take, written before the take is first stored, so a
    project store can be rebuilt whole from the log (SPEC 3, 7). ``take`` is
    the take as ``Take.to_dict`` gives it when it is created: every step
    pending, no receipts (those are receipts of their own).
    """

    take_id: str
    beat_id: str
    scene_id: str
    take: Mapping[str, Any]
    schema_version: int = SCHEMA_VERSION

    kind = "take"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict."""
        return {
            "kind": self.kind,
            "schema_version": self.schema_version,
            "take_id": self.take_id,
            "beat_id": self.beat_id,
            "scene_id": self.scene_id,
            "take": dict(self.take),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TakeRecord:
        """Inverse of :meth:`to_dict`."""
        take = data["take"]
        if not isinstance(take, Mapping) or take.get("take_id") != data["take_id"]:
            raise ValueError("a take record's take must be the take it names")
        return cls(
            take_id=str(data["take_id"]),
            beat_id=str(data["beat_id"]),
            scene_id=str(data["scene_id"]),
            take=dict(take),
            schema_version=int(data.get("schema_version", SCHEMA_VERSION)),
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
    schema_version: int = SCHEMA_VERSION

    kind = "review"

    def __post_init__(self) -> None:
        if self.status is None and not self.text:
            raise ValueError("a review record needs a status, a note or both")
        if self.frame is not None and self.frame < 0:
            raise ValueError(f"a note's frame must be >= 0, got {self.frame}")

    @property
    def note(self) -> ReviewNote | None:
        """The note this record carries, if any."""
        if not self.text:
            return None
        return ReviewNote(
            author=self.author, text=self.text, created_at=self.created_at, frame=self.frame
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict."""
        return {
            "kind": self.kind,
            "schema_version": self.schema_version,
            "record_id": self.record_id,
            "take_id": self.take_id,
            "beat_id": self.beat_id,
            "author": self.author,
            "created_at": self.created_at,
            "status": self.status.value if self.status is not None else None,
            "text": self.text,
            "frame": self.frame,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ReviewRecord:
        """Inverse of :meth:`to_dict`."""
        status = data.get("status")
        frame = data.get("frame")
        return cls(
            record_id=str(data["record_id"]),
            take_id=str(data["take_id"]),
            beat_id=str(data["beat_id"]),
            author=str(data["author"]),
            created_at=str(data["created_at"]),
            status=ReviewStatus(status) if status is not None else None,
            text=str(data["text"]) if data.get("text") is not None else None,
            frame=int(frame) if frame is not None else None,
            schema_version=int(data.get("schema_version", SCHEMA_VERSION)),
        )


Record = Receipt | Submitted | Sending | EvalRecord | TakeRecord | ReviewRecord

_KINDS: dict[str, type[Record]] = {
    "receipt": Receipt,
    "submitted": Submitted,
    "sending": Sending,
    "eval": EvalRecord,
    "take": TakeRecord,
    "review": ReviewRecord,
}


def record_from_dict(data: Mapping[str, Any]) -> Record | None:
    """Decode one log line's object; ``None`` for a kind this version does not know."""
    cls = _KINDS.get(str(data.get("kind", "receipt")))
    return cls.from_dict(data) if cls is not None else None
