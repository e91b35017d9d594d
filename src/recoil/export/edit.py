"""The input every export reads: an edit of beats, each with its primary and alternate takes.

The exporters (the MP4 cut, the OpenTimelineIO timeline, the contact sheet) know
nothing of the project store or of workflows. The caller flattens a project into
an :class:`Edit` (scene order, one :class:`BeatCut` per beat, one
:class:`TakeMedia` per take with the files its steps produced) and hands that
over. Paths are kept as given; the exporters resolve them against the current
directory, so pass absolute paths when in doubt.

A saved edit is written and read back (and upgraded) by
:mod:`recoil.records.codec`, kind ``edit``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

from recoil.errors import ValidationError
from recoil.model.review import ReviewNote, ReviewStatus
from recoil.records import codec


@dataclass(frozen=True, slots=True, kw_only=True)
class Extent:
    """How long a media file runs: ``count`` frames (or samples) at ``rate`` a second."""

    count: int
    rate: float

    def __post_init__(self) -> None:
        if self.count < 0:
            raise ValidationError(f"an extent counts frames or samples, >= 0, got {self.count}")
        if not (math.isfinite(self.rate) and self.rate > 0):
            raise ValidationError(f"an extent's rate must be > 0, got {self.rate}")


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
    video_extent: Extent | None = None
    """How long ``video`` runs, as probed when its provider returned it; ``None``: the
    timeline probes the file."""
    audio_extent: Extent | None = None
    """How long ``audio`` runs, as probed when its provider returned it; ``None``: the
    timeline probes the file."""
    review_status: ReviewStatus = ReviewStatus.PENDING
    notes: tuple[ReviewNote, ...] = ()
    receipt_id: str | None = None
    """The receipt of the step that produced ``video``."""
    seed: int | None = None
    provider: str | None = None
    model: str | None = None
    prompt_sha256: str | None = None
    score: float | None = None
    """The take's aggregate eval score, if it was scored."""
    scores: Mapping[str, float] = field(default_factory=dict)
    """Each step's scores as ``step.scorer`` -> value in [0, 1] (``video.flicker``)."""
    cost: float = 0.0
    """What the take cost in total, in the project currency."""

    def __post_init__(self) -> None:
        if self.take_index < 0:
            raise ValidationError(
                f"take {self.take_id!r}: take_index must be >= 0, got {self.take_index}"
            )
        try:
            status = ReviewStatus(self.review_status)
        except ValueError:
            raise ValidationError(
                f"take {self.take_id!r}: review_status must be one of "
                f"{', '.join(ReviewStatus)}, got {self.review_status!r}"
            ) from None
        object.__setattr__(self, "review_status", status)  # a plain string given is kept typed
        if self.cost < 0 or not math.isfinite(self.cost):
            raise ValidationError(f"take {self.take_id!r}: cost must be >= 0, got {self.cost}")


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
    primary_reason: str = ""
    """Why the primary is the primary, for people (``approved``, ``best score of 3``)."""

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


EDIT = codec.register(codec.Kind("edit", Edit, 3, {1: codec.retag, 2: codec.retag}))
"""The ``edit`` kind: schema 1 was tagged ``"recoil.edit"``; schema 3 added the takes'
extents, which an older edit lacks (its timeline probes the files), so both upgrades
only retag."""
