"""The previz clip: a keyframe animated by the shot's camera movement, as H.264 MP4.

A window moves over the still with smooth easing and each frame is that
window scaled to the output size (one ``Image.resize`` with ``box=`` per
frame, so cropping and scaling cost one pass):

- ``push_in`` / ``pull_out``: the window shrinks / grows about the centre;
- ``pan_left`` / ``pan_right``, ``tilt_up`` / ``tilt_down``: a zoomed window
  turns across the picture with ease-in-out, like a camera head;
- ``truck_left`` / ``truck_right``: a zoomed window slides at a steadier speed
  over a wider travel, like a camera on a dolly (one still has no parallax);
- ``static``: the frame holds.

Encoding uses fixed settings (libx264, preset veryfast, crf 23, yuv420p, one
thread, no AVX-512 code, no wall-clock metadata), so the same arguments give the same bytes in
every process. H.264 with 4:2:0 needs even dimensions: an odd width or height
is rounded down to the next even number.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable, Iterator
from fractions import Fraction

import av
import numpy as np
from av.video.reformatter import Interpolation
from PIL import Image

from recoil.media.h264 import CODEC, PIXEL_FORMAT, x264_options
from recoil.model.requests import CAMERA_MOVEMENTS

_PUSH_ZOOM = 1.3
_PAN_ZOOM = 1.25
_TRUCK_ZOOM = 1.4
# FFmpeg's scaler takes CPU-specific shortcuts unless told to be bit-exact.
_SCALER = Interpolation.BILINEAR | Interpolation.ACCURATE_RND | Interpolation.BITEXACT
Box = tuple[float, float, float, float]


def even_size(width: int, height: int) -> tuple[int, int]:
    """The frame size H.264 4:2:0 can hold: each side rounded down to even, at least 2."""
    return max(2, width - width % 2), max(2, height - height % 2)


def frame_count(duration_s: float, fps: float) -> int:
    """Frames in a clip: duration times fps, rounded, at least one."""
    return max(1, round(duration_s * fps))


def render_motion(
    *, image: bytes, movement: str, duration_s: float, fps: float, width: int, height: int
) -> bytes:
    """An MP4 of ``image`` animated by ``movement`` (see the module docstring).

    Raises :class:`ValueError` for an unknown movement.
    """
    if movement not in CAMERA_MOVEMENTS:
        raise ValueError(
            f"camera movement must be one of {', '.join(CAMERA_MOVEMENTS)}, got {movement!r}"
        )
    width, height = even_size(width, height)
    with Image.open(io.BytesIO(image)) as opened:
        source = opened.convert("RGB")
    base = _cover_box(source.width, source.height, width / height)
    count = frame_count(duration_s, fps)
    if movement == "static":
        still = yuv_frame(source.resize((width, height), Image.Resampling.BICUBIC, box=base))
        return encode_h264((still for _ in range(count)), width=width, height=height, fps=fps)
    # Convert once, at twice the output size, so that moving the window by whole pixels
    # of the big picture gives half-pixel steps on screen; each frame is then a crop and a
    # scale of YUV planes.
    big_w, big_h = 2 * width, 2 * height
    big = yuv_frame(source.resize((big_w, big_h), Image.Resampling.BICUBIC, box=base))
    planes = big.to_ndarray()
    luma = planes[:big_h]
    chroma = planes[big_h:].reshape(2, big_h // 2, big_w // 2)
    window = _window(movement, (0.0, 0.0, float(big_w), float(big_h)))

    def frames() -> Iterator[av.VideoFrame]:
        for i in range(count):
            x0, y0, x1, y1 = window(i / (count - 1) if count > 1 else 0.0)
            w = min(big_w, max(2, 2 * round((x1 - x0) / 2)))
            h = min(big_h, max(2, 2 * round((y1 - y0) / 2)))
            left = min(big_w - w, max(0, 2 * round(x0 / 2)))
            top = min(big_h - h, max(0, 2 * round(y0 / 2)))
            crop = np.empty((h * 3 // 2, w), np.uint8)
            crop[:h] = luma[top : top + h, left : left + w]
            crop[h:].reshape(2, h // 2, w // 2)[:] = chroma[
                :, top // 2 : (top + h) // 2, left // 2 : (left + w) // 2
            ]
            frame = av.VideoFrame.from_ndarray(crop, format="yuv420p")
            yield frame.reformat(width=width, height=height, interpolation=_SCALER, threads=1)

    return encode_h264(frames(), width=width, height=height, fps=fps)


def yuv_frame(picture: Image.Image) -> av.VideoFrame:
    """``picture`` as a BT.601 limited-range yuv420p frame, converted bit-exactly."""
    frame = av.VideoFrame.from_ndarray(np.asarray(picture.convert("RGB")), format="rgb24")
    return frame.reformat(format="yuv420p", interpolation=_SCALER, threads=1)


def rgb_image(frame: av.VideoFrame) -> Image.Image:
    """A decoded frame as an RGB picture, converted bit-exactly."""
    rgb = frame.reformat(format="rgb24", interpolation=_SCALER, threads=1)
    return Image.fromarray(rgb.to_ndarray(), "RGB")


def encode_h264(frames: Iterable[av.VideoFrame], *, width: int, height: int, fps: float) -> bytes:
    """Encode yuv420p frames of ``width`` x ``height`` (even) into an MP4 with fixed settings."""
    rate = Fraction(fps).limit_denominator(1001)
    out = io.BytesIO()
    with av.open(out, "w", format="mp4") as container:
        stream = container.add_stream(CODEC, rate=rate, options=dict(x264_options()))
        stream.width = width
        stream.height = height
        stream.pix_fmt = PIXEL_FORMAT
        stream.codec_context.thread_count = 1
        for index, frame in enumerate(frames):
            frame.pts = index
            frame.time_base = 1 / rate
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return out.getvalue()


def _cover_box(width: int, height: int, aspect: float) -> Box:
    """The largest centred box of ``aspect`` (w/h) inside a ``width`` x ``height`` picture."""
    if width / height > aspect:
        w = height * aspect
        return ((width - w) / 2, 0.0, (width + w) / 2, float(height))
    h = width / aspect
    return (0.0, (height - h) / 2, float(width), (height + h) / 2)


def _ease(t: float) -> float:
    """Smootherstep: starts and stops without a jolt."""
    return t * t * t * (t * (6 * t - 15) + 10)


def _steady(t: float) -> float:
    """Mostly constant speed with short soft starts and stops."""
    return 0.8 * t + 0.2 * _ease(t)


def _zoomed(base: Box, zoom: float, fx: float, fy: float) -> Box:
    """A window ``zoom`` times tighter than ``base``; ``fx``/``fy`` (0..1) place it."""
    x0, y0, x1, y1 = base
    w, h = (x1 - x0) / zoom, (y1 - y0) / zoom
    left = x0 + (x1 - x0 - w) * fx
    top = y0 + (y1 - y0 - h) * fy
    return (left, top, left + w, top + h)


def _window(movement: str, base: Box) -> Callable[[float], Box]:
    """The crop window at time ``t`` in 0..1 for ``movement``."""
    # The window moves the way the camera points, so the picture drifts the other way.
    windows: dict[str, Callable[[float], Box]] = {
        "static": lambda t: base,
        "push_in": lambda t: _zoomed(base, 1 + (_PUSH_ZOOM - 1) * _ease(t), 0.5, 0.5),
        "pull_out": lambda t: _zoomed(base, _PUSH_ZOOM - (_PUSH_ZOOM - 1) * _ease(t), 0.5, 0.5),
        "pan_left": lambda t: _zoomed(base, _PAN_ZOOM, 1 - _ease(t), 0.5),
        "pan_right": lambda t: _zoomed(base, _PAN_ZOOM, _ease(t), 0.5),
        "tilt_up": lambda t: _zoomed(base, _PAN_ZOOM, 0.5, 1 - _ease(t)),
        "tilt_down": lambda t: _zoomed(base, _PAN_ZOOM, 0.5, _ease(t)),
        "truck_left": lambda t: _zoomed(base, _TRUCK_ZOOM, 1 - _steady(t), 0.5),
        "truck_right": lambda t: _zoomed(base, _TRUCK_ZOOM, _steady(t), 0.5),
    }
    return windows[movement]
