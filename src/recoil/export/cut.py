"""The cut: every beat's primary take, in scene order, in one H.264/AAC MP4.

Each beat lasts exactly ``round(duration_s * fps)`` frames of the edit, whatever
its take's length. The picture is made of per-beat segments
(:mod:`recoil.export.segment`: how a take is sampled, fitted and, when it is
missing, shown as a captioned hole) and the sound of one continuous AAC track
made of chunks cut where it is silent (:mod:`recoil.export.soundtrack`); both
are cached by what decides their bytes and encoded in parallel
(:mod:`recoil.export.pool`), so after a change to one beat only its segment
(and, if its sound changed, the track's chunks around it) is encoded again.
This module joins them without re-encoding: it copies their packets into the
cut, the video's renumbered onto the cut's frame grid, the audio's moved to
where its chunk starts, interleaved beat by beat.

Memory does not grow with the number of beats: the cut is streamed segment by
segment, and each encoder holds one segment.

Output is deterministic: encoder settings and thread counts are fixed and no
wall-clock time is written into the container, so the same edit gives the
same bytes. The file appears atomically (temporary file, then ``os.replace``).
"""

from __future__ import annotations

import contextlib
import itertools
import math
import tempfile
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av

from recoil.errors import StoreError, ValidationError
from recoil.export.edit import Edit
from recoil.export.pool import encoding, worker_count
from recoil.export.segment import SEGMENT_SUFFIX, SegmentJob, plan_segments
from recoil.export.sheet import replacing
from recoil.export.soundtrack import (
    AAC_FRAME_SAMPLES,
    LOUDNESS_SUFFIX,
    SOUNDTRACK_SUFFIX,
    SoundChunk,
    plan_soundtrack,
)


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
    encoded_audio: int = 0
    """How many files of the audio track's chunks this call encoded (the others came from
    the cache; chunks of the same sound share a file)."""

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

    ``segments`` is the folder that caches the video segments, the audio
    track's chunks and the records of where take audio is loud between calls
    (without it, they live in a temporary folder for this call only); once the
    cut is written, the folder keeps only this cut's pieces. A piece in the
    folder that cannot be joined (a segment damaged on disk, say) is encoded
    again, as a missing one would be. ``workers`` caps the encoding threads
    (default: one per core).

    Raises :class:`~recoil.errors.ValidationError` for an edit without beats and
    :class:`~recoil.errors.StoreError` for a take video or audio that exists but
    cannot be decoded. Missing files are not errors: those beats become visible
    holes (and silence).
    """
    if not edit.beats:
        raise ValidationError(f"edit {edit.title!r} has no beats; add at least one to cut it")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if segments is None:
        with tempfile.TemporaryDirectory(prefix="recoil-segments-") as scratch:
            return _write_cut(edit, out, Path(scratch), workers).cut
    # A cached piece that cannot be joined (damaged on disk, say) is made again, as a
    # missing one would be; one made again that still cannot be joined is an error.
    remade: set[Path] = set()
    while True:
        try:
            report = _write_cut(edit, out, Path(segments), workers)
        except _DamagedPieceError as damaged:
            if damaged.path in remade:
                raise
            remade.add(damaged.path)
            damaged.path.unlink(missing_ok=True)
            continue
        _keep_only(Path(segments), report.pieces)
        return report.cut


@dataclass(frozen=True, slots=True)
class _Written:
    cut: CutReport
    pieces: frozenset[Path]
    """Every file of the cache this cut was made of."""


def _write_cut(edit: Edit, out: Path, folder: Path, workers: int | None) -> _Written:
    plan = plan_segments(edit, folder)
    pieces = [job.path for job in plan.jobs]
    # The first segments encode while the track is planned (every take's audio read).
    lead = plan.jobs[: 2 * worker_count(workers)]
    with encoding(lead, workers) as running, replacing(out) as tmp:
        sound = plan_soundtrack(edit, folder)
        track = sound.chunks
        running.add(_join_order(edit, plan.jobs, track))
        join_segments(edit, pieces, track, tmp, ready=running.ready)
    frames = edit.frames
    report = CutReport(
        path=out,
        duration_s=float(frames / edit.rate),
        frames=frames,
        beats=len(edit.beats),
        missing=plan.missing,
        encoded=tuple(
            beat.beat_id
            for beat, job in zip(edit.beats, plan.jobs, strict=True)
            if job.path in running.made
        ),
        encoded_audio=len({chunk.path for chunk in track} & running.made),
    )
    return _Written(report, frozenset({*pieces, *(chunk.path for chunk in track), *sound.records}))


def join_segments(
    edit: Edit,
    segments: Sequence[Path],
    soundtrack: Sequence[SoundChunk],
    out: Path,
    *,
    ready: Callable[[Path], Path] = Path,
) -> None:
    """Write the cut of ``edit`` at ``out`` from its picture's ``segments`` and the chunks
    of its track.

    The segments must cover the edit's frames in order (one per beat, or any
    grouping of consecutive beats) and share one encoder configuration; the
    chunks, the track in order, cut where it is silent. ``ready(path)`` is
    called before each piece is read, and returns it once it is there (while
    later ones may still be encoding).
    """
    with av.open(str(out), "w", format="mp4", options={"movflags": "+faststart"}) as container:
        joiner = _Joiner(container, edit.rate, edit.sample_rate, ready(segments[0]))
        with contextlib.closing(joiner.audio_from(soundtrack, ready)) as audio:
            for segment in segments:
                joiner.copy(ready(segment))
                joiner.audio_until(audio)
            joiner.audio_until(audio, everything=True)
    if joiner.frames != edit.frames:
        raise StoreError(
            f"the segments of {out} hold {joiner.frames} frames, the edit {edit.frames}; "
            f"delete the segment cache and export again"
        )


def _join_order(
    edit: Edit, segments: Sequence[SegmentJob], chunks: Sequence[SoundChunk]
) -> list[SegmentJob | SoundChunk]:
    """The pieces in the order the join reads them (each beat's segment after the sound up
    to its end), so it copies each as soon as it is done while the later ones encode."""
    order: list[SegmentJob | SoundChunk] = []
    sound = iter(chunks)
    chunk = next(sound, None)
    for segment, end in zip(
        segments, itertools.accumulate(edit.beat_frames(beat) for beat in edit.beats), strict=True
    ):
        # The chunk starts before the beat ends: start / sample_rate < end / fps.
        while chunk is not None and chunk.start * edit.rate < end * edit.sample_rate:
            order.append(chunk)
            chunk = next(sound, None)
        order.append(segment)
    return order


def _keep_only(folder: Path, keep: frozenset[Path]) -> None:
    """Remove the pieces of earlier cuts, and temp files of a killed encoder."""
    for entry in folder.iterdir():
        stale = entry.name.endswith((SEGMENT_SUFFIX, SOUNDTRACK_SUFFIX, LOUDNESS_SUFFIX, ".tmp"))
        if stale and entry.is_file() and entry not in keep:
            entry.unlink(missing_ok=True)


def _open(path: Path, *, probe: bool = False) -> Any:
    """A piece opened for its packets: unless ``probe``, nothing is decoded while FFmpeg
    looks at its streams (decoding each segment's first frames was two thirds of the
    join's time)."""
    try:
        return av.open(str(path), options={} if probe else {"skip_frame": "all"})
    except av.FFmpegError as error:
        raise _DamagedPieceError(path, error) from error


class _Joiner:
    """Copies H.264 packets from segments and AAC packets from the track into one MP4."""

    def __init__(self, container: Any, rate: Fraction, sample_rate: int, template: Path) -> None:
        self._container = container
        self._rate = rate
        # The template is probed by decoding: only then does its stream say how deep the
        # encoder may reorder frames (its sequence parameter set), not how deep this one
        # file does, and the cut's stream gets its pixel format.
        with _open(template, probe=True) as first:
            try:
                source = first.streams.video[0]
            except IndexError as error:
                raise _DamagedPieceError(template, "it has no video") from error
            self._params = _codec_params(source)
            # How many frames a packet may be decoded before it is shown (B-frames), as
            # the stream's sequence parameter set declares it. Every segment has the
            # template's parameters, so one delay renumbers every segment's decoding
            # times on a grid that rises across joins, without a first pass over them.
            self._delay = max(0, source.codec_context.reorder_depth)
            self._video = container.add_stream_from_template(source)
        self._audio: Any = None
        self._audio_params: tuple[object, ...] = ()
        self._sample_rate = sample_rate
        self.frames = 0
        self._next: Any = None

    def copy(self, segment: Path) -> None:
        """Append the segment's packets, shown from the cut's next frame.

        Refuses a segment encoded otherwise than the first, or without frames.
        """
        start = self.frames
        decoded = 0
        with _open(segment) as container:
            if not container.streams.video or _codec_params(container.streams.video[0]) != (
                self._params
            ):
                raise _DamagedPieceError(
                    segment, "it was encoded with other codec parameters than the cut's"
                )
            # A segment's times count in its stream's time base; the cut's in frames.
            scale = (container.streams.video[0].time_base or Fraction(1)) * self._rate
            time_base = 1 / self._rate
            for packet in container.demux(video=0):
                if packet.pts is None or packet.size == 0:
                    continue  # the demuxer's empty end-of-stream packet
                shown = start + _rounded(packet.pts * scale.numerator, scale.denominator)
                dts = start + decoded - self._delay
                if dts > shown:
                    raise _DamagedPieceError(segment, "it reorders frames deeper than it declares")
                packet.stream = self._video
                packet.time_base = time_base
                packet.pts = shown
                packet.dts = dts
                packet.duration = 1
                decoded += 1
                self._container.mux(packet)
        if not decoded:
            raise _DamagedPieceError(segment, "it holds no frames")
        self.frames = start + decoded

    def audio_from(
        self, chunks: Sequence[SoundChunk], ready: Callable[[Path], Path]
    ) -> Generator[Any]:
        """The packets of the track's chunks, moved to where each starts; its stream added
        to the cut (from the first chunk, which is read at once)."""
        if not chunks:
            raise ValidationError("a cut needs its audio track; plan it with plan_soundtrack")
        first = chunks[0]
        with _open(ready(first.path)) as container:
            source = _audio_stream(container, first, self._sample_rate)
            self._audio_params = _audio_params(source)
            self._audio = self._container.add_stream_from_template(source)
        return self._track(chunks, ready)

    def _track(self, chunks: Sequence[SoundChunk], ready: Callable[[Path], Path]) -> Generator[Any]:
        # Where the packets copied so far end. A later chunk's first packet is its encoder's
        # priming, silence over the samples that the chunk before ended with: it is dropped.
        # Every other packet must start where the one before ended, and each chunk must end
        # where it was planned to, or the sound would drift from the picture.
        copied: int | None = None
        for chunk in chunks:
            with _open(ready(chunk.path)) as container:
                source = _audio_stream(container, chunk, self._sample_rate)
                if _audio_params(source) != self._audio_params:
                    raise _DamagedPieceError(
                        chunk.path, "it was encoded with other codec parameters than the cut's"
                    )
                first = True
                for packet in container.demux(source):
                    if not packet.size or packet.pts is None:
                        continue
                    packet.pts += chunk.start
                    packet.dts = packet.pts
                    priming, first = first and packet.pts + packet.duration == copied, False
                    if priming:
                        continue
                    if copied is None and packet.pts + packet.duration != chunk.start:
                        raise _DamagedPieceError(chunk.path, "it does not start with its priming")
                    if copied is not None and packet.pts != copied:
                        raise _DamagedPieceError(
                            chunk.path, "its sound does not follow on from the chunk before"
                        )
                    copied = packet.pts + packet.duration
                    yield packet
            # Each chunk is encoded padded with silence to a whole frame.
            planned = chunk.start + -(-chunk.samples // AAC_FRAME_SAMPLES) * AAC_FRAME_SAMPLES
            if copied != planned:
                raise _DamagedPieceError(
                    chunk.path, f"it holds sound to sample {copied}, not {planned}"
                )

    def audio_until(self, packets: Iterator[Any], *, everything: bool = False) -> None:
        """Copy the track's packets that start before the frames copied so far end."""
        # The end of those frames in the track's time base, rounded up: a packet starting
        # at or after it waits for the next segment.
        end = math.ceil(Fraction(self.frames) / self._rate * self._sample_rate)
        while True:
            if self._next is None:
                self._next = next(packets, None)
            packet = self._next
            if packet is None or (not everything and packet.pts >= end):
                return
            packet.stream = self._audio
            self._container.mux(packet)
            self._next = None


def _audio_stream(container: Any, chunk: SoundChunk, sample_rate: int) -> Any:
    """The chunk's AAC stream, counted in samples at the cut's rate."""
    if not container.streams.audio:
        raise _DamagedPieceError(chunk.path, "it has no audio")
    stream = container.streams.audio[0]
    if chunk.sample_rate != sample_rate or stream.time_base != Fraction(1, sample_rate):
        raise _DamagedPieceError(
            chunk.path, f"it counts time in {stream.time_base}, not in samples"
        )
    return stream


def _rounded(numerator: int, denominator: int) -> int:
    """``numerator / denominator`` to the nearest integer, in integers (no Fraction per packet)."""
    return (2 * numerator + denominator) // (2 * denominator)


def _codec_params(stream: Any) -> tuple[object, ...]:
    # No pixel format: it is known only once a frame is decoded, and the extradata's
    # sequence parameter set fixes it (chroma format and bit depth) anyway.
    context = stream.codec_context
    return (context.name, context.width, context.height, context.extradata)


def _audio_params(stream: Any) -> tuple[object, ...]:
    context = stream.codec_context
    return (context.name, context.sample_rate, context.layout.name, context.extradata)


class _DamagedPieceError(StoreError):
    """A piece of the cut (a segment or a chunk of the track) that cannot be joined."""

    def __init__(self, path: Path, why: object) -> None:
        super().__init__(
            f"cannot join {path} into the cut: {why}; delete the segment cache and export again"
        )
        self.path = path
