"""The cut's audio: one continuous AAC stream, made of chunks cut where the track is silent.

Each beat's primary take WAV is resampled to the edit's rate, placed at the
beat's first frame, padded with silence or trimmed to the beat; beat boundaries
are computed on the frame grid, so the track is as long as the video, plus
the silence that fills its last AAC frame (FFmpeg's MP4 muxer sometimes ends
a track's edit list before a short last frame, and the demuxer then drops it;
a whole frame is always kept).

AAC cannot be cut just anywhere. Each packet is a transform over two encoder
frames that overlaps its neighbours, and a fresh encoder starts with a frame
of priming; pieces encoded on their own and joined at an arbitrary sample
click, because the halves of the overlap at the join come from two encoders.
So the track is cut only where it is digitally silent: at an AAC frame
boundary with at least two frames of zeros on either side (``_QUIET``). There
every packet that reaches across the join encodes silence, which decodes to
zeros whichever encoder made it, so the joined track has no click and the
length one encoder gives. Each beat after the first looks for a join at the
first such point at or after its start (beats' own audio is padded with
zeros, and beats without audio are silence, so most beats have one; several
beats may share one); a track with no silence at all (a music bed) stays one
chunk.

A chunk is encoded by its own encoder, in the same pool as the video
segments, and kept in the segment folder under the sha256 of its inputs (the
beats it covers with their sample counts and audio content, where in the
first beat it starts, its length, the rate, the encoder, recoil's and PyAV's
versions; a beat silent over the stretch the chunk covers counts as
silence, and silent chunks of one length share a file), so a change to one
beat's sound encodes only the chunks around it.
:mod:`recoil.export.cut` joins the chunks' packets, dropping each later
chunk's priming packet, which spans the same samples as the last packet of
the chunk before.

Finding the silences needs each take's audio decoded, one beat at a time, so
memory does not grow with the track. What is found (where a beat's audio is
loud) is kept beside the chunks under the sha256 of the beat's audio content,
sample count and rate (and the layout and versions), so an export decodes only
the takes it has not seen to find the joins.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import threading
from collections import deque
from collections.abc import Generator, Iterator
from concurrent.futures import CancelledError
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from numpy.typing import NDArray

from recoil.errors import StoreError, ValidationError
from recoil.export.edit import Edit
from recoil.export.segment import library_versions
from recoil.export.sheet import named_sha256, replacing, write_atomic

SOUNDTRACK_SUFFIX = ".m4a"
LOUDNESS_SUFFIX = ".loud.json"
_LAYOUT = 2  # bumped when the way a track is made changes while every version stays the same
_AUDIO_LAYOUT = "stereo"
_AUDIO_CHANNELS = 2
AAC_FRAME_SAMPLES = 1024
# Zeros a join needs on either side: every packet whose transform reaches across it then
# encodes silence (a packet spans two encoder frames, and the window choice looks ahead).
_QUIET = 2 * AAC_FRAME_SAMPLES

Samples = NDArray[np.float32]


@dataclass(frozen=True, slots=True, kw_only=True)
class BeatSound:
    """One beat's stretch of the track: how many samples, from which take audio (if any)."""

    samples: int
    audio: Path | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class SoundChunk:
    """A stretch of the track to encode into ``path``: ``samples`` samples of ``beats``
    (in order), from ``skip`` samples into the first; ``start`` is where it begins in the
    track, which its file does not depend on."""

    beats: tuple[BeatSound, ...]
    skip: int
    samples: int
    start: int
    sample_rate: int
    path: Path

    def __post_init__(self) -> None:
        covered = sum(beat.samples for beat in self.beats) - self.skip
        inside = bool(self.beats) and 0 <= self.skip < self.beats[0].samples
        if not inside or not 0 < self.samples <= covered:
            raise ValidationError(
                f"a chunk of {self.samples} samples from {self.skip} into {len(self.beats)} "
                f"beats is not a stretch of them; plan chunks with plan_soundtrack"
            )

    def encode(self, stop: threading.Event | None = None) -> Path:
        """Encode the chunk into ``path``, atomically; once ``stop`` is set, raise
        :class:`~concurrent.futures.CancelledError` at the next beat instead."""
        with replacing(self.path) as tmp, av.open(str(tmp), "w", format="mp4") as container:
            writer = _AacWriter(container, self.sample_rate)
            skip, left = self.skip, self.samples
            for beat in self.beats:
                if stop is not None and stop.is_set():
                    raise CancelledError(f"the encoding of {self.path.name} was stopped")
                part = _beat_audio(beat, self.sample_rate)[:, skip : skip + left]
                writer.append(part)
                left -= part.shape[1]
                skip = 0
                if not left:
                    break
            writer.finish()
        return self.path


@dataclass(frozen=True, slots=True, kw_only=True)
class Soundtrack:
    """The edit's track: every beat's sound, the chunks it is encoded in, in order, and the
    records of where its beats are loud."""

    beats: tuple[BeatSound, ...]
    chunks: tuple[SoundChunk, ...]
    records: frozenset[Path]


def plan_soundtrack(edit: Edit, folder: Path) -> Soundtrack:
    """The edit's track as chunks, in order, at their content-named paths in ``folder``.

    Decodes the audio of each beat that ``folder`` has no record of, to find
    where the track is silent, and hashes each audio file that is not a
    content-addressed artifact once.
    """
    beats: list[BeatSound] = []
    sources: list[str | None] = []
    louds: list[list[list[int]]] = []
    digests: dict[Path, str] = {}
    joins = _Joins()
    records: set[Path] = set()
    frame_start = 0
    for index, beat in enumerate(edit.beats):
        frame_end = frame_start + edit.beat_frames(beat)
        count = _sample_at(frame_end, edit.rate, edit.sample_rate) - _sample_at(
            frame_start, edit.rate, edit.sample_rate
        )
        frame_start = frame_end
        audio = None if beat.primary is None else beat.primary.audio
        if index:
            joins.want(joins.position)
        if audio is None or not audio.is_file():
            beats.append(BeatSound(samples=count))
            sources.append(None)
            louds.append([])
            joins.silence(count)
            continue
        sound = BeatSound(samples=count, audio=audio)
        source = digests.get(audio)
        if source is None:
            source = digests[audio] = named_sha256(audio) or _file_sha256(audio)
        record = folder / f"{_record_key(source, count, edit.sample_rate)}{LOUDNESS_SUFFIX}"
        loud = _recorded(record, count)
        if loud is None:
            loud = _loud_stretches(_beat_audio(sound, edit.sample_rate))
            folder.mkdir(parents=True, exist_ok=True)
            write_atomic(record, json.dumps(loud).encode())
        records.add(record)
        joins.sound(count, loud)
        beats.append(sound)
        sources.append(source)
        louds.append(loud)
    chunks = tuple(
        _chunks(
            sample_rate=edit.sample_rate,
            beats=beats,
            sources=sources,
            louds=louds,
            joins=joins.found,
            folder=folder,
        )
    )
    return Soundtrack(beats=tuple(beats), chunks=chunks, records=frozenset(records))


def _record_key(source: str, samples: int, sample_rate: int) -> str:
    decides = {
        "layout": _LAYOUT,
        "versions": library_versions(),
        "source_sha256": source,
        "samples": samples,
        "sample_rate": sample_rate,
    }
    return hashlib.sha256(json.dumps(decides, sort_keys=True).encode()).hexdigest()


def _loud_stretches(samples: Samples) -> list[list[int]]:
    """The [start, end) stretches of ``samples`` (channels, n) that are not silent, those
    closer than a join's silence needs (2 x ``_QUIET``) taken as one."""
    loud = np.any(samples != 0, axis=0)
    # Where loud starts and ends (a start at an index, an end just past one); no index
    # array as long as the samples.
    edges = np.flatnonzero(np.diff(loud, prepend=False, append=False)).tolist()
    stretches: list[list[int]] = []
    for start, end in zip(edges[::2], edges[1::2], strict=True):
        if stretches and start - stretches[-1][1] < 2 * _QUIET:
            stretches[-1][1] = end
        else:
            stretches.append([start, end])
    return stretches


def _recorded(path: Path, samples: int) -> list[list[int]] | None:
    """The loud stretches an earlier export recorded at ``path``, if it holds them."""
    try:
        found = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None
    if not isinstance(found, list):
        return None
    previous = -2 * _QUIET
    for stretch in found:
        if not (isinstance(stretch, list) and len(stretch) == 2):
            return None
        start, end = stretch
        if not (type(start) is int and type(end) is int):
            return None
        if not previous + 2 * _QUIET <= start < end <= samples:
            return None
        previous = end
    return found


def _chunks(
    *,
    sample_rate: int,
    beats: list[BeatSound],
    sources: list[str | None],
    louds: list[list[list[int]]],
    joins: list[int],
    folder: Path,
) -> Iterator[SoundChunk]:
    """The chunks between consecutive joins (and the track's ends)."""
    ends = list(itertools.accumulate(beat.samples for beat in beats))
    bounds = [0, *joins, ends[-1]]
    first = 0  # the first beat that ends after the chunk's start
    for start, end in itertools.pairwise(bounds):
        while ends[first] <= start:
            first += 1
        last = first
        while ends[last] < end:
            last += 1
        covered = []
        for index in range(first, last + 1):
            beat, source = beats[index], sources[index]
            begins = ends[index] - beat.samples
            low, high = max(start, begins) - begins, min(end, ends[index]) - begins
            # A covered stretch where the take is silent counts as silence, so a new take
            # of the beat (a new line) leaves this chunk as it was.
            if not any(a < high and low < b for a, b in louds[index]):
                beat, source = BeatSound(samples=beat.samples), None
            covered.append((beat, source))
        skip = start - (ends[first] - beats[first].samples)
        if all(source is None for _, source in covered):
            # Silence is silence: every silent chunk of this length shares one file.
            covered, skip = [(BeatSound(samples=end - start), None)], 0
        decides = {
            "layout": _LAYOUT,
            "versions": library_versions(),
            "codec": "aac",
            "channels": _AUDIO_LAYOUT,
            "sample_rate": sample_rate,
            "skip": skip,
            "samples": end - start,
            "beats": [[beat.samples, source] for beat, source in covered],
        }
        key = hashlib.sha256(json.dumps(decides, sort_keys=True).encode()).hexdigest()
        yield SoundChunk(
            beats=tuple(beat for beat, _ in covered),
            skip=skip,
            samples=end - start,
            start=start,
            sample_rate=sample_rate,
            path=folder / f"{key}{SOUNDTRACK_SUFFIX}",
        )


class _Joins:
    """Where the track may be cut, found as it is told what follows: for each wanted point,
    the first AAC frame boundary at or after it with ``_QUIET`` zeros on either side."""

    def __init__(self) -> None:
        self.position = 0
        self.found: list[int] = []
        # Where the silence that runs up to ``position`` began (``None``: it is not silent).
        self._quiet_from: int | None = 0
        self._wanted: deque[int] = deque()

    def want(self, at: int) -> None:
        """Look for a join at or after sample ``at`` (no earlier than the last wanted)."""
        self._wanted.append(at)

    def silence(self, count: int) -> None:
        """``count`` zero samples follow."""
        if self._quiet_from is None:
            self._quiet_from = self.position
        self.position += count
        self._settle()

    def sound(self, count: int, loud: list[list[int]]) -> None:
        """``count`` samples follow, loud in the [start, end) stretches ``loud`` (in order,
        from the first sample) and silent elsewhere."""
        base = self.position
        for start, end in loud:
            self.silence(base + start - self.position)
            self._quiet_from = None
            self.position = base + end
        self.silence(base + count - self.position)

    def _settle(self) -> None:
        """Place each wanted join the silence so far confirms, in order."""
        quiet_from = self._quiet_from
        while self._wanted and quiet_from is not None:
            earliest = max(self._wanted[0], quiet_from + _QUIET)
            join = -(-earliest // AAC_FRAME_SAMPLES) * AAC_FRAME_SAMPLES
            if join + _QUIET > self.position:
                return
            if not self.found or self.found[-1] != join:
                self.found.append(join)
            self._wanted.popleft()


def _sample_at(frame: int, rate: Fraction, sample_rate: int) -> int:
    return round(Fraction(frame) / rate * sample_rate)


def _file_sha256(path: Path) -> str:
    try:
        with path.open("rb") as handle:
            return hashlib.file_digest(handle, "sha256").hexdigest()
    except OSError as error:
        raise StoreError(f"cannot read take audio {path}: {error}; re-render the take") from error


class _AacWriter:
    """Feeds planar float samples to one AAC stream in whole encoder frames."""

    def __init__(self, container: av.container.OutputContainer, sample_rate: int) -> None:
        self._container = container
        self._sample_rate = sample_rate
        self._stream = container.add_stream("aac", rate=sample_rate, layout=_AUDIO_LAYOUT)
        self._samples = 0
        self._pending: Samples = np.zeros((_AUDIO_CHANNELS, 0), dtype=np.float32)

    def append(self, samples: Samples) -> None:
        """Append samples of shape (channels, n)."""
        self._pending = np.concatenate((self._pending, samples), axis=1)
        whole = self._pending.shape[1] - self._pending.shape[1] % AAC_FRAME_SAMPLES
        for start in range(0, whole, AAC_FRAME_SAMPLES):
            self._encode(self._pending[:, start : start + AAC_FRAME_SAMPLES])
        self._pending = self._pending[:, whole:]

    def finish(self) -> None:
        """Encode what is left, padded with silence to a whole frame, and flush."""
        if self._pending.shape[1]:
            pad = AAC_FRAME_SAMPLES - self._pending.shape[1]
            self._encode(np.pad(self._pending, ((0, 0), (0, pad))))
        self._container.mux(self._stream.encode(None))

    def _encode(self, samples: Samples) -> None:
        frame = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(samples), format="fltp", layout=_AUDIO_LAYOUT
        )
        frame.sample_rate = self._sample_rate
        frame.pts = self._samples
        frame.time_base = Fraction(1, self._sample_rate)
        self._samples += samples.shape[1]
        self._container.mux(self._stream.encode(frame))


def _beat_audio(beat: BeatSound, sample_rate: int) -> Samples:
    """The beat's stereo samples: its take's audio from the start, then silence."""
    buffer: Samples = np.zeros((_AUDIO_CHANNELS, beat.samples), dtype=np.float32)
    if beat.audio is None:
        return buffer
    filled = 0
    # Closed here, so no decoder outlives the loop that stops early.
    with contextlib.closing(_decoded(beat.audio, sample_rate)) as chunks:
        for chunk in chunks:
            take_n = min(chunk.shape[1], beat.samples - filled)
            buffer[:, filled : filled + take_n] = chunk[:, :take_n]
            filled += take_n
            if filled >= beat.samples:
                break
    return buffer


def _decoded(audio: Path, sample_rate: int) -> Generator[Samples]:
    resampler = av.AudioResampler(format="fltp", layout=_AUDIO_LAYOUT, rate=sample_rate)
    try:
        with av.open(str(audio)) as source:
            if not source.streams.audio:
                raise StoreError(f"take audio {audio} has no audio stream; re-render the take")
            for frame in itertools.chain(source.decode(audio=0), (None,)):
                for chunk in resampler.resample(frame):
                    yield chunk.to_ndarray().astype(np.float32, copy=False)
    except av.FFmpegError as error:
        raise StoreError(
            f"cannot decode take audio {audio}: {error}; re-render the take"
        ) from error
