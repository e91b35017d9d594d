"""The cut: every beat's primary take, in scene order, in one H.264/AAC MP4.

Each beat lasts exactly ``round(duration_s * fps)`` frames of the edit, whatever
its take's length: a source is sampled by time (so a 30 fps take plays at the
right speed in a 24 fps cut), a short take holds its last frame and a long one
is cut. A take of another aspect ratio is letterboxed (or pillarboxed) on
black; pixels are taken as square. A beat with no primary take, or whose video
file is gone, becomes black frames with a ``MISSING: <beat id>`` caption so the
cut keeps its length and the hole is plain to see.

Audio is stereo AAC at the edit's sample rate. Each beat's primary take WAV is
resampled and placed at the beat's first frame, padded with silence or trimmed
to the beat; beat boundaries are computed on the frame grid, so the audio track
is exactly as long as the video (plus the AAC encoder's last-frame padding).

Output is deterministic: encoder settings and thread counts are fixed and no
wall-clock time is written into the container, so the same edit gives the
same bytes. The file appears atomically (temporary file, then ``os.replace``).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import tempfile
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
from av.video.frame import PictureType
from numpy.typing import NDArray
from PIL import Image, ImageDraw, ImageFont

from recoil.errors import StoreError, ValidationError
from recoil.export.edit import BeatCut, Edit, TakeMedia
from recoil.media.h264 import CODEC, PIXEL_FORMAT, x264_options

# x264's output depends on its thread count; the default ("auto") follows the
# machine's CPU count, so pin it to get the same bytes everywhere.
_X264_THREADS = 4
# Scaling is cheap at cut sizes; one thread keeps the work split, and so the output, fixed.
_SCALE_THREADS = 1
_AUDIO_LAYOUT = "stereo"
_AUDIO_CHANNELS = 2
_AAC_FRAME_SAMPLES = 1024
_CAPTION_COLOR = (235, 235, 235)
_SUBTITLE_COLOR = (150, 150, 150)

Samples = NDArray[np.float32]


@dataclass(frozen=True, slots=True, kw_only=True)
class CutReport:
    """What :func:`write_cut` wrote."""

    path: Path
    duration_s: float
    frames: int
    beats: int
    missing: tuple[str, ...]
    """Ids of the beats shown as black ``MISSING`` frames."""

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict."""
        return {
            "path": str(self.path),
            "duration_s": self.duration_s,
            "frames": self.frames,
            "beats": self.beats,
            "missing": list(self.missing),
        }


def write_cut(edit: Edit, out: Path) -> CutReport:
    """Render ``edit`` into one MP4 at ``out`` and say what went in.

    Raises :class:`~recoil.errors.ValidationError` for an edit without beats and
    :class:`~recoil.errors.StoreError` for a take video that exists but cannot be
    decoded. Missing files are not errors: those beats become visible holes.
    """
    if not edit.beats:
        raise ValidationError(f"edit {edit.title!r} has no beats; add at least one to cut it")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        missing = _render(edit, tmp)
        tmp.chmod(0o644)  # mkstemp makes it private; an export is meant to be shared
        tmp.replace(out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    frames = edit.frames
    return CutReport(
        path=out,
        duration_s=float(frames / edit.rate),
        frames=frames,
        beats=len(edit.beats),
        missing=missing,
    )


def _render(edit: Edit, path: Path) -> tuple[str, ...]:
    missing: list[str] = []
    rate = edit.rate
    with _CutWriter(edit, path) as writer:
        frame_start = 0
        for beat in edit.beats:
            frames = edit.beat_frames(beat)
            frame_end = frame_start + frames
            take = beat.primary
            video = None if take is None else take.video
            if video is not None and video.is_file():
                for frame in _sampled_frames(video, frames, rate, edit.width, edit.height):
                    writer.video(frame)
            else:
                missing.append(beat.beat_id)
                hole = _missing_frame(beat, edit.width, edit.height)
                for _ in range(frames):
                    writer.video(hole)
            first = _sample_at(frame_start, rate, edit.sample_rate)
            last = _sample_at(frame_end, rate, edit.sample_rate)
            writer.audio(_beat_audio(take, edit.sample_rate, last - first))
            frame_start = frame_end
    return tuple(missing)


def _sample_at(frame: int, rate: Fraction, sample_rate: int) -> int:
    return round(Fraction(frame) / rate * sample_rate)


class _CutWriter:
    """An open MP4 with one H.264 and one AAC stream, fed in presentation order."""

    def __init__(self, edit: Edit, path: Path) -> None:
        self._rate = edit.rate
        self._sample_rate = edit.sample_rate
        self._container: Any = av.open(
            str(path), "w", format="mp4", options={"movflags": "+faststart"}
        )
        video = self._container.add_stream(CODEC, rate=self._rate)
        video.width = edit.width
        video.height = edit.height
        video.pix_fmt = PIXEL_FORMAT
        video.options = dict(x264_options())
        video.codec_context.thread_count = _X264_THREADS
        self._video = video
        self._audio = self._container.add_stream("aac", rate=edit.sample_rate, layout=_AUDIO_LAYOUT)
        self._frames = 0
        self._samples = 0
        self._pending: Samples = np.zeros((_AUDIO_CHANNELS, 0), dtype=np.float32)

    def __enter__(self) -> _CutWriter:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        try:
            if exc_type is None:
                self._finish()
        finally:
            self._container.close()

    def video(self, frame: av.VideoFrame) -> None:
        """Append one frame (yuv420p, edit size); the same frame object may repeat."""
        # A decoded source frame carries its own I/P/B type, which libx264 would obey; the cut
        # picks its own frame types.
        frame.pict_type = PictureType.NONE
        frame.pts = self._frames
        frame.time_base = 1 / self._rate
        self._frames += 1
        self._container.mux(self._video.encode(frame))

    def audio(self, samples: Samples) -> None:
        """Append planar float samples, shape (channels, n)."""
        self._pending = np.concatenate((self._pending, samples), axis=1)
        while self._pending.shape[1] >= _AAC_FRAME_SAMPLES:
            self._encode_audio(self._pending[:, :_AAC_FRAME_SAMPLES])
            self._pending = self._pending[:, _AAC_FRAME_SAMPLES:]

    def _encode_audio(self, samples: Samples) -> None:
        frame = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(samples), format="fltp", layout=_AUDIO_LAYOUT
        )
        frame.sample_rate = self._sample_rate
        frame.pts = self._samples
        frame.time_base = Fraction(1, self._sample_rate)
        self._samples += samples.shape[1]
        self._container.mux(self._audio.encode(frame))

    def _finish(self) -> None:
        if self._pending.shape[1]:
            self._encode_audio(self._pending)
        self._container.mux(self._video.encode(None))
        self._container.mux(self._audio.encode(None))


def _sampled_frames(
    video: Path, count: int, rate: Fraction, width: int, height: int
) -> Iterator[av.VideoFrame]:
    """``count`` frames of ``video`` at ``rate``: the source frame showing at each tick."""
    try:
        with av.open(str(video)) as source:
            if not source.streams.video:
                raise StoreError(
                    f"take video {video} has no video stream; re-render the take or choose "
                    f"another primary"
                )
            stream = source.streams.video[0]
            stream.thread_type = "AUTO"
            # Closed before the container, so no decoder outlives its file.
            with contextlib.closing(_timed(source.decode(stream), stream.time_base)) as decoded:
                first = next(decoded, None)
                if first is None:
                    raise StoreError(
                        f"take video {video} has no frames; re-render the take or choose "
                        f"another primary"
                    )
                yield from _resample(first, decoded, count, rate, (width, height))
    except av.FFmpegError as error:
        raise StoreError(
            f"cannot decode take video {video}: {error}; re-render the take or choose "
            f"another primary"
        ) from error


def _resample(
    first: tuple[Fraction, av.VideoFrame],
    rest: Iterator[tuple[Fraction, av.VideoFrame]],
    count: int,
    rate: Fraction,
    size: tuple[int, int],
) -> Iterator[av.VideoFrame]:
    """For each of ``count`` ticks at ``rate``, the latest frame shown by then, fitted."""
    shown, upcoming = first, next(rest, None)
    current = _fit(shown[1], *size)
    for index in range(count):
        tick = Fraction(index) / rate
        if upcoming is not None and upcoming[0] <= tick:
            while upcoming is not None and upcoming[0] <= tick:
                shown, upcoming = upcoming, next(rest, None)
            current = _fit(shown[1], *size)
        yield current


def _timed(
    frames: Iterator[av.VideoFrame], time_base: Fraction | None
) -> Generator[tuple[Fraction, av.VideoFrame]]:
    """Frames with their time from the first frame, in seconds."""
    base = time_base or Fraction(1, 1)
    origin: int | None = None
    for position, frame in enumerate(frames):
        pts = frame.pts if frame.pts is not None else position
        if origin is None:
            origin = pts
        yield Fraction(pts - origin) * base, frame


def _fit(frame: av.VideoFrame, width: int, height: int) -> av.VideoFrame:
    """``frame`` scaled into width x height, centred on black where the aspect differs."""
    scale = min(width / frame.width, height / frame.height)
    fit_w = min(width, max(1, round(frame.width * scale)))
    fit_h = min(height, max(1, round(frame.height * scale)))
    if (fit_w, fit_h) == (width, height):
        return frame.reformat(width=width, height=height, format="yuv420p", threads=_SCALE_THREADS)
    canvas = np.zeros((height, width, 3), dtype=np.uint8)
    left, top = (width - fit_w) // 2, (height - fit_h) // 2
    scaled = frame.reformat(
        width=fit_w, height=fit_h, format="rgb24", threads=_SCALE_THREADS
    ).to_ndarray()
    canvas[top : top + fit_h, left : left + fit_w] = scaled
    return av.VideoFrame.from_ndarray(canvas, format="rgb24").reformat(
        format="yuv420p", threads=_SCALE_THREADS
    )


def _missing_frame(beat: BeatCut, width: int, height: int) -> av.VideoFrame:
    """Black with ``MISSING: <beat id>`` and the beat's scene and title below."""
    image = Image.new("RGB", (width, height))
    draw = ImageDraw.Draw(image)
    big = ImageFont.load_default(size=max(8, height // 12))
    small = ImageFont.load_default(size=max(6, height // 24))
    lines = [(f"MISSING: {beat.beat_id}", big, _CAPTION_COLOR)]
    subtitle = " - ".join(part for part in (beat.scene_id, beat.title) if part)
    if subtitle:
        lines.append((subtitle, small, _SUBTITLE_COLOR))
    y = height / 2 - (len(lines) - 1) * height / 24
    for text, font, color in lines:
        draw.text((width / 2, y), text, font=font, fill=color, anchor="mm")
        y += height / 10
    return av.VideoFrame.from_ndarray(np.asarray(image), format="rgb24").reformat(
        format="yuv420p", threads=_SCALE_THREADS
    )


def _beat_audio(take: TakeMedia | None, sample_rate: int, count: int) -> Samples:
    """``count`` stereo samples: the take's audio from its start, then silence."""
    buffer: Samples = np.zeros((_AUDIO_CHANNELS, count), dtype=np.float32)
    audio = None if take is None else take.audio
    if audio is None or not audio.is_file():
        return buffer
    resampler = av.AudioResampler(format="fltp", layout=_AUDIO_LAYOUT, rate=sample_rate)
    filled = 0
    try:
        with av.open(str(audio)) as source:
            if not source.streams.audio:
                raise StoreError(f"take audio {audio} has no audio stream; re-render the take")
            for frame in itertools.chain(source.decode(audio=0), (None,)):
                for chunk in resampler.resample(frame):
                    data = chunk.to_ndarray()
                    take_n = min(data.shape[1], count - filled)
                    buffer[:, filled : filled + take_n] = data[:, :take_n]
                    filled += take_n
                if filled >= count:
                    break
    except av.FFmpegError as error:
        raise StoreError(
            f"cannot decode take audio {audio}: {error}; re-render the take"
        ) from error
    return buffer
