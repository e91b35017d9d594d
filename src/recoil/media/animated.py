"""An animated image (WebP, GIF) as an H.264 MP4: the clip of a workflow that saves one.

ComfyUI's ``SaveAnimatedWEBP`` (and custom nodes that save GIFs) make a video
workflow's clip an animated image, while the cut, the timeline and every
editor want H.264. Frames are decoded with Pillow (FFmpeg reads no animated
WebP) and encoded with PyAV at the settings of :mod:`recoil.media.h264`, so the
same file always gives the same bytes. H.264 in yuv420p needs even sides: an
odd last row or column is dropped. :func:`pictures_to_mp4` encodes frames a
provider made in memory (a diffusers clip) the same way.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from recoil.errors import ProviderError

if TYPE_CHECKING:
    from PIL.Image import Image as PILImage

_MIN_FRAME_MS = 10
"""Browsers show shorter frames at 100 ms; a duration under this says nothing of the rate."""


def animated_to_mp4(data: bytes, *, fps: float | None = None) -> bytes:
    """``data``, an animated WebP or GIF, as an H.264 MP4 of all its frames.

    ``fps`` is the rate the file was saved at, when the caller knows it: both
    formats keep whole milliseconds per frame, so a 16 fps WebP says 62 ms.
    Without it the first frame's duration gives the rate. Frames are encoded
    as they are decoded. Raises a permanent :class:`ProviderError` when
    ``data`` is no image Pillow can read.
    """
    from PIL import Image, ImageSequence, UnidentifiedImageError

    out = io.BytesIO()
    try:
        with Image.open(io.BytesIO(data)) as image, _H264(out) as encoder:
            for still in ImageSequence.Iterator(image):
                rgb = still.convert("RGB")  # loads the frame, and so its duration
                if not encoder.started:
                    duration = float(still.info.get("duration") or 0)
                    if fps is None or fps <= 0:
                        fps = 1000.0 / duration if duration >= _MIN_FRAME_MS else 10.0
                    encoder.start(rgb.width, rgb.height, fps)
                encoder.add(rgb)
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise ProviderError(
            f"the output is not an animated image ({exc}); point the template's output at "
            "a node that saves an animated WebP or GIF, or a video",
            retryable=False,
            error_type="invalid_output",
        ) from None
    return out.getvalue()


def pictures_to_mp4(pictures: Iterable[PILImage], *, fps: float) -> bytes:
    """RGB ``pictures`` (all of one size) as an H.264 MP4 at ``fps``, at the same settings.

    Raises a permanent :class:`ProviderError` when there are no pictures.
    """
    out = io.BytesIO()
    with _H264(out) as encoder:
        for picture in pictures:
            rgb = picture.convert("RGB")
            if not encoder.started:
                encoder.start(rgb.width, rgb.height, fps)
            encoder.add(rgb)
        if not encoder.started:
            raise ProviderError(
                "the clip has no frames", retryable=False, error_type="invalid_output"
            )
    return out.getvalue()


class _H264:
    """An MP4 with one H.264 stream, fed RGB pictures; its size and rate set by the first."""

    def __init__(self, out: io.BytesIO) -> None:
        import av

        self._container: Any = av.open(out, "w", format="mp4")
        self._stream: Any = None
        self._rate = Fraction(1)
        self._count = 0

    @property
    def started(self) -> bool:
        return self._stream is not None

    def start(self, width: int, height: int, fps: float) -> None:
        from recoil.media.h264 import CODEC, PIXEL_FORMAT, x264_options

        self._rate = Fraction(fps).limit_denominator(1001)
        stream = self._container.add_stream(CODEC, rate=self._rate, options=dict(x264_options()))
        stream.width, stream.height = width - width % 2, height - height % 2
        stream.pix_fmt = PIXEL_FORMAT
        stream.codec_context.thread_count = 1
        self._stream = stream

    def add(self, picture: PILImage) -> None:
        import av
        import numpy as np
        from av.video.reformatter import Interpolation

        stream = self._stream
        pixels = np.ascontiguousarray(np.asarray(picture)[: stream.height, : stream.width])
        frame = av.VideoFrame.from_ndarray(pixels, format="rgb24").reformat(
            format=stream.pix_fmt,
            interpolation=Interpolation.BILINEAR
            | Interpolation.ACCURATE_RND
            | Interpolation.BITEXACT,
            threads=1,
        )
        frame.pts = self._count
        frame.time_base = 1 / self._rate
        self._count += 1
        for packet in stream.encode(frame):
            self._container.mux(packet)

    def __enter__(self) -> _H264:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        try:
            if exc_type is None and self._stream is not None:
                for packet in self._stream.encode():
                    self._container.mux(packet)
        finally:
            self._container.close()
