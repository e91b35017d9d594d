"""The cut: every beat's primary take, in scene order, in one H.264/AAC MP4.

Each beat lasts exactly ``round(duration_s * fps)`` frames of the edit, whatever
its take's length. The picture is made of per-beat segments
(:mod:`recoil.export.segment`: how a take is sampled, fitted and, when it is
missing, shown as a captioned hole) and the sound of one continuous AAC track
(:mod:`recoil.export.soundtrack`); both are cached by what decides their bytes
and encoded in parallel (:mod:`recoil.export.pool`), so after a change to one
beat only its segment (and the track, if its sound changed) is encoded again.
This module joins them without re-encoding: it copies their packets into the
cut, the video's renumbered onto the cut's frame grid, interleaved beat by beat.

Memory does not grow with the number of beats: the cut is streamed segment by
segment, and each encoder holds one segment.

Output is deterministic: encoder settings and thread counts are fixed and no
wall-clock time is written into the container, so the same edit gives the
same bytes. The file appears atomically (temporary file, then ``os.replace``).
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av

from recoil.errors import StoreError, ValidationError
from recoil.export.edit import Edit
from recoil.export.pool import encode_all
from recoil.export.segment import SEGMENT_SUFFIX, plan_segments
from recoil.export.sheet import replacing
from recoil.export.soundtrack import SOUNDTRACK_SUFFIX, plan_soundtrack


@dataclass(frozen=True, slots=True, kw_only=True)
class CutReport:
    """What :func:`write_cut` wrote."""

    path: Path
    duration_s: float
    frames: int
    beats: int
    missing: tuple[str, ...]
    """Ids of the beats shown as black ``MISSING`` frames."""
    encoded: tuple[str, ...] = ()
    """Ids of the beats whose segment this call encoded; the others' came from the cache."""
    encoded_audio: bool = False
    """Whether this call encoded the audio track (else it came from the cache)."""

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict."""
        return {
            "path": str(self.path),
            "duration_s": self.duration_s,
            "frames": self.frames,
            "beats": self.beats,
            "missing": list(self.missing),
            "encoded": list(self.encoded),
            "encoded_audio": self.encoded_audio,
        }


def write_cut(
    edit: Edit, out: Path, *, segments: Path | None = None, workers: int | None = None
) -> CutReport:
    """Render ``edit`` into one MP4 at ``out`` and say what went in.

    ``segments`` is the folder that caches the segments and the audio track
    between calls (without it, they live in a temporary folder for this call
    only); once the cut is written, the folder keeps only this cut's pieces.
    ``workers`` caps the encoding processes (default: one per core).

    Raises :class:`~recoil.errors.ValidationError` for an edit without beats and
    :class:`~recoil.errors.StoreError` for a take video that exists but cannot be
    decoded. Missing files are not errors: those beats become visible holes.
    """
    if not edit.beats:
        raise ValidationError(f"edit {edit.title!r} has no beats; add at least one to cut it")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="recoil-segments-") as scratch:
        folder = Path(scratch) if segments is None else Path(segments)
        plan = plan_segments(edit, folder)
        track = plan_soundtrack(edit, folder)
        # The track first: it is the longest job, so a worker starts it at once.
        made = encode_all([track, *plan.jobs], workers)
        pieces = [job.path for job in plan.jobs]
        _write_atomic(edit, pieces, track.path, out)
        if segments is not None:
            _keep_only(folder, {*pieces, track.path})
    frames = edit.frames
    return CutReport(
        path=out,
        duration_s=float(frames / edit.rate),
        frames=frames,
        beats=len(edit.beats),
        missing=plan.missing,
        encoded=tuple(
            beat.beat_id
            for beat, job in zip(edit.beats, plan.jobs, strict=True)
            if job.path in made
        ),
        encoded_audio=track.path in made,
    )


def join_segments(edit: Edit, segments: Sequence[Path], soundtrack: Path, out: Path) -> None:
    """Write the cut of ``edit`` at ``out`` from its picture's ``segments`` and its track.

    The segments must cover the edit's frames in order (one per beat, or any
    grouping of consecutive beats) and share one encoder configuration.
    """
    with av.open(str(out), "w", format="mp4", options={"movflags": "+faststart"}) as container:
        joiner = _Joiner(container, edit.rate, segments[0])
        delay = max(joiner.check(segment) for segment in segments)
        with _open(soundtrack) as track:
            audio = joiner.audio_from(track)
            for segment in segments:
                joiner.copy(segment, delay)
                joiner.audio_until(audio)
            joiner.audio_until(audio, everything=True)
    if joiner.frames != edit.frames:
        raise StoreError(
            f"the segments of {out} hold {joiner.frames} frames, the edit {edit.frames}; "
            f"delete the segment cache and export again"
        )


def _write_atomic(edit: Edit, segments: Sequence[Path], soundtrack: Path, out: Path) -> None:
    with replacing(out) as tmp:
        join_segments(edit, segments, soundtrack, tmp)


def _keep_only(folder: Path, keep: set[Path]) -> None:
    """Remove the pieces of earlier cuts, and temp files of a killed encoder."""
    for entry in folder.iterdir():
        stale = entry.name.endswith((SEGMENT_SUFFIX, SOUNDTRACK_SUFFIX, ".tmp"))
        if stale and entry.is_file() and entry not in keep:
            entry.unlink(missing_ok=True)


def _open(path: Path) -> Any:
    try:
        return av.open(str(path))
    except av.FFmpegError as error:
        raise _bad_piece(path, error) from error


class _Joiner:
    """Copies H.264 packets from segments and AAC packets from the track into one MP4."""

    def __init__(self, container: Any, rate: Fraction, template: Path) -> None:
        self._container = container
        self._rate = rate
        with _open(template) as first:
            try:
                source = first.streams.video[0]
            except IndexError as error:
                raise _bad_piece(template, "it has no video") from error
            self._params = _codec_params(source)
            self._video = container.add_stream_from_template(source)
        self._audio: Any = None
        self.frames = 0
        self._next: Any = None

    def check(self, segment: Path) -> int:
        """Refuse a segment encoded otherwise than the first; return its decoding delay.

        The delay is how many frames its first packet is decoded before it is
        shown (B-frames); a segment too short for B-frames has none.
        """
        with _open(segment) as container:
            if not container.streams.video or _codec_params(container.streams.video[0]) != (
                self._params
            ):
                raise StoreError(
                    f"segment {segment} was encoded with other codec parameters than the "
                    f"cut's; delete the segment cache and export again"
                )
            for packet in container.demux(video=0):
                if packet.dts is not None and packet.pts is not None:
                    return max(0, self._ticks(packet.pts - packet.dts, packet.time_base))
        raise _bad_piece(segment, "it holds no frames")

    def copy(self, segment: Path, delay: int) -> None:
        """Append the segment's packets, shown from the cut's next frame.

        Decoding times are renumbered on one grid, ``delay`` frames ahead of
        the first shown frame, so they rise across joins whatever each
        segment's own delay.
        """
        start = self.frames
        decoded = 0
        with _open(segment) as container:
            for packet in container.demux(video=0):
                if packet.pts is None or packet.size == 0:
                    continue  # the demuxer's empty end-of-stream packet
                shown = self._ticks(packet.pts, packet.time_base)
                packet.stream = self._video
                packet.time_base = 1 / self._rate
                packet.pts = start + shown
                packet.dts = start + decoded - delay
                packet.duration = 1
                decoded += 1
                self._container.mux(packet)
        self.frames = start + decoded

    def audio_from(self, track: Any) -> Iterator[Any]:
        """The track's packets, its stream added to the cut."""
        if not track.streams.audio:
            raise _bad_piece(Path(track.name), "it has no audio")
        source = track.streams.audio[0]
        self._audio = self._container.add_stream_from_template(source)
        return (packet for packet in track.demux(source) if packet.size)

    def audio_until(self, packets: Iterator[Any], *, everything: bool = False) -> None:
        """Copy the track's packets that start before the frames copied so far end."""
        end = Fraction(self.frames) / self._rate
        while True:
            if self._next is None:
                self._next = next(packets, None)
            packet = self._next
            if packet is None or (not everything and packet.pts * packet.time_base >= end):
                return
            packet.stream = self._audio
            self._container.mux(packet)
            self._next = None

    def _ticks(self, pts: int, time_base: Fraction | None) -> int:
        return round(pts * (time_base or Fraction(1)) * self._rate)


def _codec_params(stream: Any) -> tuple[object, ...]:
    context = stream.codec_context
    return (context.name, context.width, context.height, context.format.name, context.extradata)


def _bad_piece(path: Path, why: object) -> StoreError:
    return StoreError(
        f"cannot read {path} of the cut: {why}; delete the segment cache and export again"
    )
