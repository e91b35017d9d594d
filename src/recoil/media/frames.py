"""Frames taken out of video files."""

from __future__ import annotations

import io
from pathlib import Path

from recoil.errors import ValidationError
from recoil.records.artifacts import write_atomic


def last_frame(video: Path, folder: Path) -> Path:
    """The last frame of a video as a PNG in ``folder`` (named by the video's hash).

    Raises :class:`~recoil.errors.ValidationError` when the file is not a
    readable video or holds no frame.
    """
    import av
    from PIL import Image

    target = folder / f"{video.stem}-last.png"
    if target.exists():
        return target
    last: av.VideoFrame | None = None
    try:
        with av.open(str(video)) as container:
            for frame in container.decode(video=0):
                last = frame
    except (av.FFmpegError, OSError) as exc:
        raise ValidationError(
            f"{video}: not a readable video ({exc}); cannot chain from it"
        ) from exc
    if last is None:
        raise ValidationError(f"{video}: no frames to chain from")
    buffer = io.BytesIO()
    Image.fromarray(last.to_ndarray(format="rgb24")).save(buffer, format="PNG")
    write_atomic(target, buffer.getvalue())
    return target
