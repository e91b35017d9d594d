"""The cut's audio: one continuous AAC stream, encoded once, cached by what decides its bytes.

Each beat's primary take WAV is resampled to the edit's rate, placed at the
beat's first frame, padded with silence or trimmed to the beat; beat boundaries
are computed on the frame grid, so the track is exactly as long as the video
(plus the AAC encoder's last-frame padding).

The track is not cut into segments like the picture. AAC encoded per segment
would start each piece with the encoder's priming and end it padded to a whole
AAC frame, so the joins would click and the track would drift a little at each
one; a single encoder has neither, and the track joins nothing. It is encoded
in the same pool as the video segments, and kept in the segment folder under
the sha256 of its inputs (each beat's sample count and audio file content, the
rate, the encoder, recoil's and PyAV's versions), so a change that leaves the
audio as it was (another take of a silent beat) does not encode it again.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import threading
from collections.abc import Generator
from concurrent.futures import CancelledError
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from numpy.typing import NDArray

from recoil.errors import StoreError
from recoil.export.edit import Edit
from recoil.export.segment import library_versions
from recoil.export.sheet import named_sha256, replacing

SOUNDTRACK_SUFFIX = ".m4a"
_LAYOUT = 1  # bumped when the way a track is made changes while every version stays the same
_AUDIO_LAYOUT = "stereo"
_AUDIO_CHANNELS = 2
_AAC_FRAME_SAMPLES = 1024

Samples = NDArray[np.float32]


@dataclass(frozen=True, slots=True, kw_only=True)
class BeatSound:
    """One beat's stretch of the track: how many samples, from which take audio (if any)."""

    samples: int
    audio: Path | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class SoundtrackJob:
    """The whole track to encode into ``path``: every beat's sound, in order."""

    beats: tuple[BeatSound, ...]
    sample_rate: int
    path: Path

    def encode(self, stop: threading.Event | None = None) -> Path:
        """Encode the track into ``path``, atomically; once ``stop`` is set, raise
        :class:`~concurrent.futures.CancelledError` at the next beat instead."""
        with replacing(self.path) as tmp, av.open(str(tmp), "w", format="mp4") as container:
            writer = _AacWriter(container, self.sample_rate)
            for beat in self.beats:
                if stop is not None and stop.is_set():
                    raise CancelledError(f"the encoding of {self.path.name} was stopped")
                writer.append(_beat_audio(beat, self.sample_rate))
            writer.finish()
        return self.path


def plan_soundtrack(edit: Edit, folder: Path) -> SoundtrackJob:
    """The edit's track at its content-named path in ``folder`` (hashes each audio file that
    is not a content-addressed artifact once)."""
    beats: list[BeatSound] = []
    sources: list[str | None] = []
    digests: dict[Path, str] = {}
    frame_start = 0
    for beat in edit.beats:
        frame_end = frame_start + edit.beat_frames(beat)
        count = _sample_at(frame_end, edit.rate, edit.sample_rate) - _sample_at(
            frame_start, edit.rate, edit.sample_rate
        )
        audio = None if beat.primary is None else beat.primary.audio
        if audio is not None and audio.is_file():
            digests.setdefault(audio, named_sha256(audio) or _file_sha256(audio))
            sources.append(digests[audio])
        else:
            audio = None
            sources.append(None)
        beats.append(BeatSound(samples=count, audio=audio))
        frame_start = frame_end
    decides = {
        "layout": _LAYOUT,
        "versions": library_versions(),
        "codec": "aac",
        "channels": _AUDIO_LAYOUT,
        "sample_rate": edit.sample_rate,
        "beats": [[beat.samples, source] for beat, source in zip(beats, sources, strict=True)],
    }
    key = hashlib.sha256(json.dumps(decides, sort_keys=True).encode()).hexdigest()
    return SoundtrackJob(
        beats=tuple(beats),
        sample_rate=edit.sample_rate,
        path=folder / f"{key}{SOUNDTRACK_SUFFIX}",
    )


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
        whole = self._pending.shape[1] - self._pending.shape[1] % _AAC_FRAME_SAMPLES
        for start in range(0, whole, _AAC_FRAME_SAMPLES):
            self._encode(self._pending[:, start : start + _AAC_FRAME_SAMPLES])
        self._pending = self._pending[:, whole:]

    def finish(self) -> None:
        """Encode what is left and flush the encoder."""
        if self._pending.shape[1]:
            self._encode(self._pending)
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
