"""What the contact sheet and the shootout grid share: thumbnails, links, fitted text, files.

Both are a static HTML page beside a PNG grid of thumbnails; the helpers here
read a thumbnail from a keyframe or a clip, link files relatively (so a page
keeps working when its folder moves), cut text to a width in pixels and write
a file atomically.
"""

from __future__ import annotations

import base64
import html
import io
import os
import re
import tempfile
import urllib.parse
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

import av
from PIL import Image, ImageDraw, ImageFont, PngImagePlugin, UnidentifiedImageError

from recoil.errors import StoreError

Font = ImageFont.FreeTypeFont | ImageFont.ImageFont

# The palette both grids draw with (the pages' CSS uses the same colours).
BACKGROUND = (24, 24, 28)
TEXT = (230, 230, 230)
DIM = (150, 150, 155)
CHOSEN = (46, 204, 113)
"""The outline and label of the chosen cell (a beat's primary, a shootout's best)."""
WARN = (231, 76, 60)
PLACEHOLDER = (60, 60, 66)
LINE_HEIGHT = 15


def read_image(path: Path, owner: str) -> Image.Image:
    """The image at ``path`` as RGB; a file that does not decode is a :class:`StoreError`."""
    try:
        with Image.open(path) as opened:
            return opened.convert("RGB")
    except (OSError, UnidentifiedImageError) as error:
        raise StoreError(f"cannot read image {path} of {owner}: {error}; re-render it") from error


def first_frame(video: Path, owner: str) -> Image.Image | None:
    """The first frame of ``video`` (``None`` without a video stream)."""
    try:
        with av.open(str(video)) as container:
            if not container.streams.video:
                return None
            for frame in container.decode(video=0):
                return Image.fromarray(frame.to_ndarray(format="rgb24"))
    except av.FFmpegError as error:
        raise StoreError(f"cannot read video {video} of {owner}: {error}; re-render it") from error
    return None


def write_atomic(path: Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file, readable by everyone."""
    with open_atomic(path) as handle:
        handle.write(data)
    return path


@contextmanager
def open_atomic(path: Path) -> Iterator[BinaryIO]:
    """A file to write in parts that appears at ``path`` whole, readable by everyone, on exit.

    On an error nothing appears and the temporary file is removed.
    """
    with replacing(path) as tmp, tmp.open("wb") as handle:
        yield handle


@contextmanager
def replacing(path: Path, suffix: str = ".tmp") -> Iterator[Path]:
    """A temporary path beside ``path`` for a writer that wants a file name (an encoder,
    an adapter); it replaces ``path``, readable by everyone, on exit, and is removed on
    an error. Its name starts with ``.<name>.`` and ends with ``suffix``, so a sweep of
    a killed export finds it."""
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        tmp.chmod(0o644)  # mkstemp makes it private; an export is meant to be shared
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def png_bytes(
    image: Image.Image, text: Mapping[str, str] | None = None, *, compress_level: int = 3
) -> bytes:
    """``image`` encoded as PNG, with ``text`` as its text chunks.

    zlib level 3 takes half the time of the default 6 for a tenth more bytes: a
    grid is drawn again on every export that changes it.
    """
    info = PngImagePlugin.PngInfo()
    for key, value in (text or {}).items():
        info.add_text(key, value)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", pnginfo=info, compress_level=compress_level)
    return buffer.getvalue()


def escape(text: str) -> str:
    """``text`` safe inside HTML text and attribute values."""
    return html.escape(text, quote=True)


class Links:
    """URLs to files relative to one page's folder; each folder is resolved once per page."""

    def __init__(self, out_dir: Path) -> None:
        self._base = out_dir.resolve()
        self._folders: dict[Path, str] = {}

    def __call__(self, path: Path) -> str:
        """A URL to ``path`` relative to the page's folder."""
        folder = self._folders.get(path.parent)
        if folder is None:
            relative = Path(os.path.relpath(path.parent.resolve(), self._base)).as_posix()
            folder = "" if relative == "." else urllib.parse.quote(relative) + "/"
            self._folders[path.parent] = folder
        return folder + urllib.parse.quote(path.name)


_SHA256_NAME = re.compile(r"[0-9a-f]{64}")


def named_sha256(path: Path) -> str | None:
    """The sha256 of a content-addressed artifact's bytes, which is its name; else ``None``.

    The artifact store keeps each file as ``<first two hex digits>/<sha256>.<ext>``,
    named by the hash of its bytes (``recoil verify`` checks that they still are),
    so an export that keys its caches on a file's content need not read it again.
    Any other file is not taken for one.
    """
    stem = path.stem
    stored = _SHA256_NAME.fullmatch(stem) is not None and path.parent.name == stem[:2]
    return stem if stored else None


def data_uri(image: Image.Image) -> str:
    """``image`` as a JPEG ``data:`` URI, for a thumbnail that has no file of its own."""
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=82)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def fit(draw: ImageDraw.ImageDraw, text: str, width: int, font: Font) -> str:
    """``text`` cut with an ellipsis to fit ``width`` pixels.

    Measuring a prefix costs its length, so prefixes are measured at doubling
    lengths until one is too wide, then the longest that fits with the ellipsis is
    found by halving: the cost grows with what fits, not with the whole text (an id
    or action line may be thousands of characters).
    """

    def fits(end: int, suffix: str = "") -> bool:
        return draw.textlength(text[:end] + suffix, font=font) <= width

    too_wide = 16
    while too_wide < len(text) and fits(too_wide):
        too_wide *= 2
    if too_wide >= len(text):
        if fits(len(text)):
            return text
        too_wide = len(text)
    short = 0  # the longest prefix known to fit with the ellipsis
    while too_wide - short > 1:
        middle = (short + too_wide) // 2
        if fits(middle, "..."):
            short = middle
        else:
            too_wide = middle
    return text[:short] + "..."
