"""The cut as an OpenTimelineIO timeline, so an editor can open it and swap takes.

Layout: one ``Timeline`` (``metadata["recoil"]`` holds title, fps, size and
sample rate) with a video track ``V1`` and an audio track ``A1``.

``V1`` has one ``Clip`` per beat, named ``scene_id/beat_id``, whose
``source_range`` is the beat's planned duration at the edit's rate (as in the
MP4 cut; a take shorter than its beat runs past its ``available_range`` where
the cut holds its last frame). Its media references are keyed:

- ``DEFAULT_MEDIA``: the primary take (the active reference);
- ``take_01``, ``take_02``...: every other take, by ``take_index + 1``.

A take with a file becomes an ``ExternalReference`` (``file://`` URL, real
duration: the take's extent, which recoil probed when it stored the file, else
probed now with PyAV); a take without one a ``MissingReference``. Each
reference is named after its take and carries the take's ids and scores under
``metadata["recoil"]``, so swapping takes keeps the provenance at hand. A beat
with no usable primary keeps its planned length with a ``MissingReference`` as
the active media, ``"missing": true`` in its metadata and a MAGENTA marker.

Markers on each clip: the primary's review status (GREEN approved, RED retake,
YELLOW pending with notes; notes in the comment) and, on the first clip of each
scene, a CYAN marker named after the scene.

``A1`` mirrors ``V1``: the primary's WAV for as long as it lasts within the
beat, then a ``Gap`` for the rest (a beat without audio is one ``Gap``), so
both tracks have the same length.

``clip_schema=1`` writes ``Clip.1`` for readers older than OTIO 0.15, which
know one media reference per clip: the alternates then survive only as URLs in
``metadata["recoil"]["alternate_media"]``.
"""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path
from typing import Any, Literal

import av
import opentimelineio as otio

from recoil.errors import StoreError, ValidationError
from recoil.export.edit import BeatCut, Edit, Extent, TakeMedia
from recoil.export.sheet import replacing
from recoil.records import codec

RationalTime = otio.opentime.RationalTime
TimeRange = otio.opentime.TimeRange

ACTIVE_KEY = "DEFAULT_MEDIA"
MediaKind = Literal["video", "audio"]

# The primary take's fields copied onto its clip (``None`` when the beat has no primary).
_PRIMARY_FIELDS = (
    "take_id",
    "take_index",
    "receipt_id",
    "prompt_sha256",
    "seed",
    "provider",
    "model",
    "score",
    "review_status",
)
_REVIEW_COLORS = {
    "approved": otio.schema.MarkerColor.GREEN,
    "retake": otio.schema.MarkerColor.RED,
    "pending": otio.schema.MarkerColor.YELLOW,
}


def take_key(take: TakeMedia) -> str:
    """The media-reference key of an alternate take: index 0 -> ``take_01``."""
    return f"take_{take.take_index + 1:02d}"


def build_timeline(edit: Edit) -> Any:
    """The edit as an ``otio.schema.Timeline`` (V1 video, A1 audio); probes the media files."""
    rate = float(edit.rate)
    timeline = otio.schema.Timeline(name=edit.title, global_start_time=RationalTime(0, rate))
    timeline.metadata["recoil"] = {
        "title": edit.title,
        "fps": edit.fps,
        "width": edit.width,
        "height": edit.height,
        "sample_rate": edit.sample_rate,
    }
    video = otio.schema.Track(name="V1", kind=otio.schema.TrackKind.Video)
    audio = otio.schema.Track(name="A1", kind=otio.schema.TrackKind.Audio)
    previous_scene: str | None = None
    for beat in edit.beats:
        frames = edit.beat_frames(beat)
        clip = _video_clip(beat, frames, rate)
        if beat.scene_id != previous_scene:
            clip.markers.append(
                otio.schema.Marker(
                    name=beat.scene_id,
                    marked_range=TimeRange(RationalTime(0, rate), RationalTime(0, rate)),
                    color=otio.schema.MarkerColor.CYAN,
                    metadata={"recoil": {"scene_id": beat.scene_id}},
                    comment=f"scene {beat.scene_id}",
                )
            )
            previous_scene = beat.scene_id
        video.append(clip)
        for item in _audio_items(beat, frames, rate):
            audio.append(item)
    timeline.tracks.append(video)
    timeline.tracks.append(audio)
    return timeline


def write_timeline(edit: Edit, out: Path, *, clip_schema: int | None = None) -> Path:
    """Write the edit's timeline to ``out`` atomically and return ``out``.

    The format follows the suffix through OpenTimelineIO's adapters (``.otio``
    is built in; ``.edl`` or ``.xml`` need the adapter packages installed).
    ``clip_schema`` (e.g. ``1``) downgrades clips for old ``.otio`` readers.
    """
    out = Path(out)
    suffix = out.suffix.lstrip(".")
    if suffix not in otio.adapters.suffixes_with_defined_adapters(write=True):
        known = ", ".join(sorted(otio.adapters.suffixes_with_defined_adapters(write=True)))
        raise ValidationError(
            f"no OpenTimelineIO adapter writes {out.name!r}; writable suffixes: {known} "
            "(pip install 'recoil[interchange]' adds otio-cmx3600-adapter for .edl and "
            "otio-fcp-adapter for .xml)"
        )
    if suffix != "otio" and not RationalTime.is_valid_timecode_rate(edit.fps):
        raise ValidationError(
            f"{out.name} counts in SMPTE timecode, which has no {edit.fps:g} fps; set the shot "
            "list's fps to 24, 25, 30, 48, 50 or 60 (or an NTSC rate), or write .otio instead"
        )
    timeline = build_timeline(edit)
    out.parent.mkdir(parents=True, exist_ok=True)
    options: dict[str, Any] = {}
    if clip_schema is not None:
        options["target_schema_versions"] = {"Clip": clip_schema}
    # The adapter is chosen by the file's extension: the temporary file keeps it.
    with replacing(out, suffix=out.suffix) as tmp:
        otio.adapters.write_to_file(timeline, str(tmp), **options)
    return out


def _video_clip(beat: BeatCut, frames: int, rate: float) -> Any:
    planned = TimeRange(RationalTime(0, rate), RationalTime(frames, rate))
    clip = otio.schema.Clip(name=f"{beat.scene_id}/{beat.beat_id}", source_range=planned)
    primary = beat.primary
    missing = primary is None or primary.video is None or not primary.video.is_file()
    if primary is None:
        active: Any = otio.schema.MissingReference(
            name=f"MISSING: {beat.beat_id}", available_range=planned
        )
    else:
        active = _reference(primary, "video", fallback=planned, rate=rate)
    references = {ACTIVE_KEY: active}
    references.update(
        {
            take_key(take): _reference(take, "video", fallback=None, rate=rate)
            for take in beat.alternates
        }
    )
    clip.set_media_references(references, ACTIVE_KEY)
    clip.metadata["recoil"] = _clip_metadata(beat, missing=missing)
    clip.metadata["recoil"]["alternate_media"] = {
        key: ref.target_url
        for key, ref in references.items()
        if key != ACTIVE_KEY and isinstance(ref, otio.schema.ExternalReference)
    }
    if missing:
        clip.markers.append(
            _marker(f"MISSING: {beat.beat_id}", otio.schema.MarkerColor.MAGENTA, rate, beat.title)
        )
    if primary is not None:
        review = _review_marker(primary, rate)
        if review is not None:
            clip.markers.append(review)
    return clip


def _clip_metadata(beat: BeatCut, *, missing: bool) -> dict[str, Any]:
    primary = {} if beat.primary is None else _take_metadata(beat.primary)
    return {
        "scene_id": beat.scene_id,
        "beat_id": beat.beat_id,
        "title": beat.title,
        "duration_s": beat.duration_s,
        "missing": missing,
        "primary_strategy": beat.primary_strategy,
        "primary_reason": beat.primary_reason,
        **{key: primary.get(key) for key in _PRIMARY_FIELDS},
        "alternates": [alternate.take_id for alternate in beat.alternates],
    }


def _take_metadata(take: TakeMedia) -> dict[str, Any]:
    return {
        "take_id": take.take_id,
        "take_index": take.take_index,
        "status": take.status,
        "review_status": take.review_status,
        "receipt_id": take.receipt_id,
        "prompt_sha256": take.prompt_sha256,
        "seed": take.seed,
        "provider": take.provider,
        "model": take.model,
        "score": take.score,
        "scores": dict(take.scores),
        "cost": take.cost,
    }


def _reference(take: TakeMedia, kind: MediaKind, *, fallback: Any, rate: float) -> Any:
    """The take's file as a media reference; a ``MissingReference`` when it has none."""
    path = take.video if kind == "video" else take.audio
    reference: Any
    if path is None or not path.is_file():
        reference = otio.schema.MissingReference(name=take.take_id, available_range=fallback)
    else:
        extent = take.video_extent if kind == "video" else take.audio_extent
        reference = otio.schema.ExternalReference(
            target_url=path.resolve().as_uri(),
            available_range=_available(extent or _probe(path, kind), rate),
        )
        reference.name = take.take_id
    reference.metadata["recoil"] = _take_metadata(take)
    return reference


def _available(extent: Extent, timeline_rate: float) -> Any:
    """An extent as a range at the timeline's rate, fractions kept.

    EDL and FCP XML write every range as timecode at a standard rate, which an
    audio sample rate (or a model's 16 fps) is not.
    """
    rate = Fraction(extent.rate).limit_denominator(1001)
    frames = Fraction(extent.count) / rate * Fraction(timeline_rate)
    return TimeRange(RationalTime(0, timeline_rate), RationalTime(float(frames), timeline_rate))


def _probe(path: Path, kind: MediaKind) -> Extent:
    """The real extent of a media file: its own frames (or samples) at its own rate."""
    try:
        with av.open(str(path)) as container:
            streams = container.streams.video if kind == "video" else container.streams.audio
            if not streams:
                raise StoreError(f"take {kind} {path} has no {kind} stream; re-render the take")
            stream: av.stream.Stream = streams[0]
            # Video counts in frames at its own rate (exact when the container says), audio
            # in samples.
            exact, rate = 0, Fraction(24)
            if isinstance(stream, av.VideoStream):
                exact = stream.frames
                rate = Fraction(stream.average_rate or stream.guessed_rate or rate)
            elif isinstance(stream, av.AudioStream):
                rate = Fraction(stream.sample_rate)
            if stream.duration is not None and stream.time_base is not None:
                seconds = Fraction(stream.duration) * stream.time_base
            elif container.duration is not None:
                seconds = Fraction(container.duration, av.time_base)
            else:
                raise StoreError(f"cannot tell how long {path} is; re-render the take")
            count = exact or round(seconds * rate)
    except av.FFmpegError as error:
        raise StoreError(f"cannot read take {kind} {path}: {error}; re-render the take") from error
    return Extent(count=count, rate=float(rate))


def _audio_items(beat: BeatCut, frames: int, rate: float) -> list[Any]:
    """The beat on A1: the primary's audio up to the beat's end, then a gap to fill it."""
    name = f"{beat.scene_id}/{beat.beat_id}"
    take = beat.primary
    if take is None or take.audio is None or not take.audio.is_file():
        return [otio.schema.Gap(name=name, source_range=_span(frames, rate))]
    reference = _reference(take, "audio", fallback=None, rate=rate)
    available = reference.available_range
    # Whole frames only: a sub-frame tail is dropped, as the cut's frame grid does.
    heard = min(frames, math.floor(available.duration.to_seconds() * rate + 1e-9))
    if heard <= 0:
        return [otio.schema.Gap(name=name, source_range=_span(frames, rate))]
    clip = otio.schema.Clip(name=name, media_reference=reference, source_range=_span(heard, rate))
    clip.metadata["recoil"] = {
        "scene_id": beat.scene_id,
        "beat_id": beat.beat_id,
        "take_id": take.take_id,
    }
    items: list[Any] = [clip]
    if heard < frames:
        items.append(
            otio.schema.Gap(name=f"{name} silence", source_range=_span(frames - heard, rate))
        )
    return items


def _span(frames: int, rate: float) -> Any:
    return TimeRange(RationalTime(0, rate), RationalTime(frames, rate))


def _marker(name: str, color: str, rate: float, comment: str) -> Any:
    return otio.schema.Marker(
        name=name,
        marked_range=TimeRange(RationalTime(0, rate), RationalTime(0, rate)),
        color=color,
        comment=comment,
    )


def _review_marker(take: TakeMedia, rate: float) -> Any | None:
    """GREEN approved, RED retake, YELLOW pending with notes; none for a bare pending take."""
    if take.review_status == "pending" and not take.notes:
        return None
    lines = []
    for note in take.notes:
        where = "" if note.frame is None else f" [frame {note.frame}]"
        lines.append(f"{note.author}{where}: {note.text}")
    marker = _marker(
        f"{take.review_status}: {take.take_id}",
        _REVIEW_COLORS[take.review_status],
        rate,
        "\n".join(lines),
    )
    marker.metadata["recoil"] = {
        "take_id": take.take_id,
        "review_status": take.review_status,
        "notes": [codec.plain(note) for note in take.notes],
    }
    return marker
