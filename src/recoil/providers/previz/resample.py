"""Previz upscaling: real Lanczos resampling of an image or of every frame of a video.

The output size is the input size times ``scale``, rounded; a video's size is
then rounded down to even numbers (H.264 4:2:0). A video keeps its frame rate
and frame count; audio streams are dropped. The video is re-encoded with the
same fixed settings as :mod:`recoil.providers.previz.motion`, so the result is
deterministic.
"""

from __future__ import annotations

import io
from collections.abc import Iterator

import av
from PIL import Image

from recoil.providers.previz.motion import encode_h264, even_size, rgb_image, yuv_frame


def scaled_size(width: int, height: int, scale: float) -> tuple[int, int]:
    """``width`` x ``height`` times ``scale``, rounded, at least 1 x 1."""
    return max(1, round(width * scale)), max(1, round(height * scale))


def upscale_image(data: bytes, scale: float) -> bytes:
    """The image in ``data`` resized by ``scale`` with Lanczos, as PNG (alpha kept)."""
    with Image.open(io.BytesIO(data)) as opened:
        picture = opened.convert("RGBA" if _has_alpha(opened) else "RGB")
    bigger = picture.resize(scaled_size(*picture.size, scale), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    bigger.save(out, format="PNG", compress_level=3)
    return out.getvalue()


def upscale_video(data: bytes, scale: float) -> bytes:
    """The video in ``data`` with every frame resized by ``scale`` (Lanczos), as H.264 MP4."""
    with av.open(io.BytesIO(data), "r") as container:
        stream = container.streams.video[0]
        fps = float(stream.average_rate or stream.guessed_rate or 24)
        width, height = even_size(
            *scaled_size(stream.codec_context.width, stream.codec_context.height, scale)
        )

        def frames() -> Iterator[av.VideoFrame]:
            for frame in container.decode(stream):
                picture = rgb_image(frame).resize((width, height), Image.Resampling.LANCZOS)
                yield yuv_frame(picture)

        return encode_h264(frames(), width=width, height=height, fps=fps)


def _has_alpha(picture: Image.Image) -> bool:
    return picture.mode in ("RGBA", "LA", "PA") or "transparency" in picture.info
