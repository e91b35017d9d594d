"""The input every export reads: an edit of beats, each with its primary and alternate takes.

The exporters (the MP4 cut, the OpenTimelineIO timeline, the contact sheet) know
nothing of the project store or of workflows. The caller flattens a project into
an :class:`Edit` (scene order, one :class:`BeatCut` per beat, one
:class:`TakeMedia` per take with the files its steps produced) and hands that
over. Paths are kept as given; the exporters resolve them against the current
directory, so pass absolute paths when in doubt.

``Edit.to_dict`` carries ``kind`` and ``schema`` tags so that a saved edit can
be read back and upgraded later.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, Literal, cast

from recoil.errors import ValidationError
from recoil.model.review import ReviewNote

ReviewStatus = Literal["pending", "approved", "retake"]
REVIEW_STATUSES: tuple[str, ...] = ("pending", "approved", "retake")

EDIT_KIND = "recoil.edit"
EDIT_SCHEMA = 1


def _path_or_none(value: Any) -> Path | None:
    return None if value is None else Path(value)


def _str_or_none(value: Path | None) -> str | None:
    return None if value is None else str(value)


@dataclass(frozen=True, slots=True, kw_only=True)
class TakeMedia:
    """One take of a beat as the exports see it: its files, status, review and provenance."""

    take_id: str
    take_index: int
    status: str
    """The take's run status (``succeeded``, ``failed``, ``partial``...)."""
    video: Path | None = None
    audio: Path | None = None
    keyframe: Path | None = None
    review_status: ReviewStatus = "pending"
    notes: tuple[ReviewNote, ...] = ()
    receipt_id: str | None = None
    """The receipt of the step that produced ``video``."""
    seed: int | None = None
    provider: str | None = None
    model: str | None = None
    prompt_sha256: str | None = None
    score: float | None = None
    """The take's aggregate eval score, if it was scored."""
    cost: float = 0.0
    """What the take cost in total, in the project currency."""

    def __post_init__(self) -> None:
        if self.take_index < 0:
            raise ValidationError(
                f"take {self.take_id!r}: take_index must be >= 0, got {self.take_index}"
            )
        if self.review_status not in REVIEW_STATUSES:
            raise ValidationError(
                f"take {self.take_id!r}: review_status must be one of "
                f"{', '.join(REVIEW_STATUSES)}, got {self.review_status!r}"
            )
        if self.cost < 0 or not math.isfinite(self.cost):
            raise ValidationError(f"take {self.take_id!r}: cost must be >= 0, got {self.cost}")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict."""
        return {
            "take_id": self.take_id,
            "take_index": self.take_index,
            "status": self.status,
            "video": _str_or_none(self.video),
            "audio": _str_or_none(self.audio),
            "keyframe": _str_or_none(self.keyframe),
            "review_status": self.review_status,
            "notes": [note.to_dict() for note in self.notes],
            "receipt_id": self.receipt_id,
            "seed": self.seed,
            "provider": self.provider,
            "model": self.model,
            "prompt_sha256": self.prompt_sha256,
            "score": self.score,
            "cost": self.cost,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TakeMedia:
        """Inverse of :meth:`to_dict`."""
        score = data.get("score")
        seed = data.get("seed")
        return cls(
            take_id=str(data["take_id"]),
            take_index=int(data["take_index"]),
            status=str(data["status"]),
            video=_path_or_none(data.get("video")),
            audio=_path_or_none(data.get("audio")),
            keyframe=_path_or_none(data.get("keyframe")),
            review_status=cast(ReviewStatus, data.get("review_status", "pending")),
            notes=tuple(ReviewNote.from_dict(n) for n in data.get("notes", ())),
            receipt_id=data.get("receipt_id"),
            seed=None if seed is None else int(seed),
            provider=data.get("provider"),
            model=data.get("model"),
            prompt_sha256=data.get("prompt_sha256"),
            score=None if score is None else float(score),
            cost=float(data.get("cost", 0.0)),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class BeatCut:
    """One beat in the edit: its planned duration, its primary take and the other takes."""

    scene_id: str
    beat_id: str
    duration_s: float
    """The planned duration; every export gives the beat exactly this length."""
    title: str = ""
    """A caption for people (the beat's action line or shot description)."""
    primary: TakeMedia | None = None
    """``None`` when no take could be chosen; the exports then show a visible hole."""
    alternates: tuple[TakeMedia, ...] = ()
    """The beat's other takes, in take order."""
    primary_strategy: str = "first_success"

    def __post_init__(self) -> None:
        where = f"beat {self.scene_id}/{self.beat_id}"
        if not (math.isfinite(self.duration_s) and self.duration_s > 0):
            raise ValidationError(f"{where}: duration_s must be > 0, got {self.duration_s}")
        ids = [take.take_id for take in self.takes]
        indexes = [take.take_index for take in self.takes]
        if len(set(ids)) != len(ids) or len(set(indexes)) != len(indexes):
            raise ValidationError(
                f"{where}: take ids and take indexes must be unique across the primary and "
                f"alternates, got {ids} with indexes {indexes}; list the primary only once"
            )

    @property
    def takes(self) -> tuple[TakeMedia, ...]:
        """Every take of the beat, primary included, ordered by take index."""
        every = (*(() if self.primary is None else (self.primary,)), *self.alternates)
        return tuple(sorted(every, key=lambda take: take.take_index))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict."""
        return {
            "scene_id": self.scene_id,
            "beat_id": self.beat_id,
            "duration_s": self.duration_s,
            "title": self.title,
            "primary": None if self.primary is None else self.primary.to_dict(),
            "alternates": [take.to_dict() for take in self.alternates],
            "primary_strategy": self.primary_strategy,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BeatCut:
        """Inverse of :meth:`to_dict`."""
        primary = data.get("primary")
        return cls(
            scene_id=str(data["scene_id"]),
            beat_id=str(data["beat_id"]),
            duration_s=float(data["duration_s"]),
            title=str(data.get("title", "")),
            primary=None if primary is None else TakeMedia.from_dict(primary),
            alternates=tuple(TakeMedia.from_dict(t) for t in data.get("alternates", ())),
            primary_strategy=str(data.get("primary_strategy", "first_success")),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Edit:
    """A cut to export: output format plus the beats in scene order."""

    title: str
    fps: float
    width: int
    height: int
    sample_rate: int = 48000
    beats: tuple[BeatCut, ...] = ()

    def __post_init__(self) -> None:
        if not (math.isfinite(self.fps) and 0 < self.fps <= 240):
            raise ValidationError(f"edit {self.title!r}: fps must be in (0, 240], got {self.fps}")
        for name, size in (("width", self.width), ("height", self.height)):
            # H.264 in yuv420p halves chroma, so odd sizes cannot be encoded.
            if size < 2 or size % 2:
                raise ValidationError(
                    f"edit {self.title!r}: {name} must be an even number >= 2, got {size}"
                )
        if not 8000 <= self.sample_rate <= 192000:
            raise ValidationError(
                f"edit {self.title!r}: sample_rate must be in 8000..192000, got {self.sample_rate}"
            )
        keys = [(beat.scene_id, beat.beat_id) for beat in self.beats]
        if len(set(keys)) != len(keys):
            raise ValidationError(f"edit {self.title!r}: a beat appears twice in {keys}")

    @property
    def rate(self) -> Fraction:
        """The exact frame rate: 24 -> 24/1, 23.976 -> 2997/125, 29.97 -> 2997/100."""
        return Fraction(self.fps).limit_denominator(1001)

    def beat_frames(self, beat: BeatCut) -> int:
        """The number of frames ``beat`` spans in this edit (at least one)."""
        return max(1, round(beat.duration_s * self.fps))

    @property
    def frames(self) -> int:
        """The edit's length in frames: the sum of its beats' frames."""
        return sum(self.beat_frames(beat) for beat in self.beats)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict with ``kind`` and ``schema`` tags."""
        return {
            "kind": EDIT_KIND,
            "schema": EDIT_SCHEMA,
            "title": self.title,
            "fps": self.fps,
            "width": self.width,
            "height": self.height,
            "sample_rate": self.sample_rate,
            "beats": [beat.to_dict() for beat in self.beats],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Edit:
        """Inverse of :meth:`to_dict`; refuses other kinds and newer schemas."""
        kind = data.get("kind", EDIT_KIND)
        schema = data.get("schema", EDIT_SCHEMA)
        if kind != EDIT_KIND or not isinstance(schema, int) or schema > EDIT_SCHEMA:
            raise ValidationError(
                f"not a readable edit: kind {kind!r} schema {schema!r}; this recoil reads "
                f"{EDIT_KIND!r} up to schema {EDIT_SCHEMA}, upgrade recoil to read it"
            )
        return cls(
            title=str(data["title"]),
            fps=float(data["fps"]),
            width=int(data["width"]),
            height=int(data["height"]),
            sample_rate=int(data.get("sample_rate", 48000)),
            beats=tuple(BeatCut.from_dict(b) for b in data.get("beats", ())),
        )
