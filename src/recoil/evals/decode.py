"""Pixels, frames and samples of a file, decoded once for every scorer that needs them.

Images give a :class:`Still`: the RGB picture and its luma. Videos give a
:class:`Clip`: up to :data:`SAMPLES` frames (evenly spaced pairs of consecutive
frames, so frame-to-frame measures see real neighbours) as downscaled luma, a
few small RGB thumbnails, and the mean luma of *every* frame (read off the
decoded Y plane, a few microseconds a frame). Every frame must be decoded
anyway (an H.264 P-frame needs its predecessors), but only the sampled ones
are converted, so the scorers' work is the same for a 4 s clip and a 4 min
one. Audio gives a :class:`Sound`: float samples and the rate.

Decoding runs on one thread: a run scores many files side by side. A file
that does not decode raises :class:`~recoil.errors.ValidationError` naming it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from recoil.errors import NotFoundError, ValidationError

if TYPE_CHECKING:
    import av
    from numpy.typing import NDArray
    from PIL import Image

    Floats = NDArray[np.float32]

SAMPLES = 24
"""The most frames a clip is sampled at: twelve pairs of consecutive frames."""
ANALYSIS_SIDE = 320
"""Sampled frames are downscaled so their longer side is at most this."""
THUMBNAILS = 3
"""RGB frames kept of a clip, for scorers that look at colour (prompt adherence)."""
STILL_SIDE = 2048
"""Images larger than this (longer side) are box-reduced by a whole factor first."""
_YUV8 = frozenset({"yuv420p", "yuvj420p", "yuv422p", "yuvj422p", "yuv444p", "yuvj444p", "nv12"})
_LUMA_STRIDE = 4


@dataclass(frozen=True, slots=True, kw_only=True)
class Still:
    """An image: ``rgb`` as decoded and ``luma`` (0-255, float32, at most STILL_SIDE)."""

    rgb: Image.Image
    luma: Floats

    def luma_at(self, width: int, height: int) -> Floats:
        """The luma resized to ``width`` x ``height`` (area-averaged when shrinking)."""
        from PIL import Image

        grey = self.rgb.convert("L").resize((width, height), Image.Resampling.BOX)
        return np.asarray(grey, dtype=np.float32)


@dataclass(frozen=True, slots=True, kw_only=True)
class Clip:
    """A video, sampled: see the module docstring."""

    frames: Floats
    """Sampled frames, luma 0-255, shape (k, h, w), longer side <= ANALYSIS_SIDE."""
    indices: tuple[int, ...]
    """The frame number of each sampled frame, increasing."""
    frame_luma: Floats
    """Mean luma (0-255) of every decoded frame, in order."""
    thumbnails: tuple[Image.Image, ...]
    """A few RGB frames spread over the clip (first, middle, last), analysis-sized."""
    fps: float
    width: int
    height: int

    @property
    def frame_count(self) -> int:
        """How many frames decoded."""
        return len(self.frame_luma)

    @property
    def duration_s(self) -> float:
        """Frames over rate: how long the clip plays."""
        return self.frame_count / self.fps if self.fps > 0 else 0.0

    def pairs(self) -> list[tuple[int, int]]:
        """Positions (in ``frames``) of sampled frames whose successor is sampled too."""
        return [
            (i, i + 1)
            for i in range(len(self.indices) - 1)
            if self.indices[i + 1] == self.indices[i] + 1
        ]


@dataclass(frozen=True, slots=True, kw_only=True)
class Sound:
    """Audio: ``samples`` float32 of shape (n, channels), full scale 1.0, at ``rate`` Hz."""

    samples: Floats
    rate: int

    @property
    def duration_s(self) -> float:
        """Samples over rate."""
        return len(self.samples) / self.rate


def decode_image(path: Path) -> Still:
    """Decode an image file into a :class:`Still`."""
    from PIL import Image, UnidentifiedImageError

    _exists(path)
    try:
        with Image.open(path) as image:
            rgb = image.convert("RGB")
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise ValidationError(f"{path}: not a readable image ({exc})") from exc
    grey = rgb.convert("L")
    factor = math.ceil(max(grey.size) / STILL_SIDE)
    if factor > 1:
        grey = grey.reduce(factor)
    return Still(rgb=rgb, luma=np.asarray(grey, dtype=np.float32))


def sample_indices(total: int, samples: int = SAMPLES) -> list[int]:
    """Frame numbers to sample of ``total``: all of them, or evenly spaced pairs."""
    if total <= samples:
        return list(range(total))
    anchors = np.linspace(0, total - 2, samples // 2).round().astype(int)
    return sorted({int(i) + step for i in anchors for step in (0, 1)})


def decode_video(path: Path, *, samples: int = SAMPLES) -> Clip:
    """Decode a video file into a :class:`Clip` (see the module docstring)."""
    import av

    _exists(path)
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise ValidationError(f"{path}: not a readable video (no video stream)")
            stream = container.streams.video[0]
            # MP4 and MOV headers count the frames; WebM and MKV do not: count the
            # packets then (no decoding), and start again.
            total = int(stream.frames) or _count_packets(path)
            stream.thread_type = "SLICE"
            stream.codec_context.thread_count = 1
            fps = float(stream.average_rate or stream.guessed_rate or 0)
            width, height = stream.codec_context.width, stream.codec_context.height
            return _sample(container, stream, _Plan(path, total, samples, width, height, fps))
    except av.FFmpegError as exc:
        raise ValidationError(f"{path}: not a readable video ({_why(exc)})") from exc


@dataclass(frozen=True, slots=True)
class _Plan:
    path: Path
    total: int
    samples: int
    width: int
    height: int
    fps: float


def _count_packets(path: Path) -> int:
    import av

    with av.open(str(path)) as container:
        return sum(1 for packet in container.demux(container.streams.video[0]) if packet.size)


def _sample(container: Any, stream: Any, plan: _Plan) -> Clip:
    wanted = sample_indices(plan.total, plan.samples)
    keep = set(wanted)
    thumbs = {wanted[round(i * (len(wanted) - 1) / (THUMBNAILS - 1))] for i in range(THUMBNAILS)}
    scale = min(1.0, ANALYSIS_SIDE / max(plan.width, plan.height, 1))
    size = (max(1, round(plan.width * scale)), max(1, round(plan.height * scale)))
    means: list[float] = []
    frames: list[Floats] = []
    indices: list[int] = []
    thumbnails: list[Image.Image] = []
    for number, frame in enumerate(container.decode(stream)):
        means.append(_mean_luma(frame))
        if number in keep:
            grey = frame.reformat(width=size[0], height=size[1], format="gray")
            frames.append(grey.to_ndarray().astype(np.float32))
            indices.append(number)
            if number in thumbs:
                thumbnails.append(frame.to_image(width=size[0], height=size[1]))
    if not frames:
        raise ValidationError(f"{plan.path}: not a readable video (no decodable frame)")
    return Clip(
        frames=np.stack(frames),
        indices=tuple(indices),
        frame_luma=np.asarray(means, dtype=np.float32),
        thumbnails=tuple(thumbnails),
        fps=plan.fps,
        width=plan.width,
        height=plan.height,
    )


def _mean_luma(frame: av.VideoFrame) -> float:
    """The mean luma of a frame on the 0-255 (full range) scale, from a subsample."""
    if frame.format.name in _YUV8:
        plane = frame.planes[0]
        rows = np.frombuffer(memoryview(plane), np.uint8).reshape(-1, plane.line_size)
        y = float(rows[: plane.height : _LUMA_STRIDE, : plane.width : _LUMA_STRIDE].mean())
        full = frame.format.name.startswith("yuvj") or int(frame.color_range) == 2  # JPEG
        return y if full else (y - 16.0) * 255.0 / 219.0
    small = frame.reformat(width=64, height=max(1, round(64 * frame.height / frame.width)))
    return float(small.reformat(format="gray").to_ndarray().mean())


def decode_audio(path: Path) -> Sound:
    """Decode an audio file into a :class:`Sound` (planar float, the file's own rate)."""
    import av

    _exists(path)
    chunks: list[NDArray[Any]] = []
    try:
        with av.open(str(path)) as container:
            if not container.streams.audio:
                raise ValidationError(f"{path}: not a readable audio file (no audio stream)")
            stream = container.streams.audio[0]
            rate = int(stream.codec_context.sample_rate)
            resampler = av.AudioResampler(format="fltp", layout=stream.layout, rate=rate)
            for frame in container.decode(stream):
                chunks.extend(f.to_ndarray() for f in resampler.resample(frame))
            chunks.extend(f.to_ndarray() for f in resampler.resample(None))
    except av.FFmpegError as exc:
        raise ValidationError(f"{path}: not a readable audio file ({_why(exc)})") from exc
    samples = np.concatenate(chunks, axis=1).T if chunks else np.zeros((0, 1))
    if not len(samples) or rate <= 0:
        raise ValidationError(f"{path}: the audio stream holds no samples")
    return Sound(samples=np.ascontiguousarray(samples, dtype=np.float32), rate=rate)


def _why(exc: Exception) -> str:
    """FFmpeg's own words, without the errno and the path the message repeats."""
    return str(getattr(exc, "strerror", None) or exc)


def _exists(path: Path) -> None:
    if not path.is_file():
        raise NotFoundError(f"{path}: no such file")
