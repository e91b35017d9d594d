"""What the previz frame draws over the picture: thirds guides, the slate and the caption."""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from PIL import ImageDraw, ImageFont

_SIZE_LABEL = {
    "extreme_wide": "EWS",
    "wide": "WS",
    "full": "FS",
    "medium": "MS",
    "medium_close": "MCU",
    "close_up": "CU",
    "extreme_close_up": "ECU",
}
_ANGLE_LABEL = {
    "eye_level": "EYE",
    "high": "HIGH",
    "low": "LOW",
    "overhead": "TOP",
    "dutch": "DUTCH",
}


def thirds(draw: ImageDraw.ImageDraw, width: int, height: int) -> None:
    guide = (255, 255, 255, 55)
    for i in (1, 2):
        draw.line((width * i / 3, 0, width * i / 3, height), fill=guide, width=1)
        draw.line((0, height * i / 3, width, height * i / 3), fill=guide, width=1)


@lru_cache(maxsize=32)
def sized_font(size: int) -> ImageFont.FreeTypeFont:
    font = ImageFont.load_default(size=size)
    if not isinstance(font, ImageFont.FreeTypeFont):
        raise RuntimeError("previz needs Pillow built with FreeType (the PyPI wheels are)")
    return font


def slate(
    draw: ImageDraw.ImageDraw,
    *,
    size: str,
    angle: str,
    lens: float,
    shot: Mapping[str, Any],
    seed: int,
) -> None:
    width, height = draw.im.size
    font = sized_font(max(9, round(height / 24)))
    small = sized_font(max(8, round(height / 32)))
    pad = max(3, round(height / 90))
    title = f"{_SIZE_LABEL[size]} · {_ANGLE_LABEL[angle]} · {lens:g}mm"
    details = " · ".join(
        str(shot[k]).replace("_", " ") for k in ("time_of_day", "lighting") if shot.get(k)
    )
    lines = [(title, font)] + ([(details, small)] if details else [])
    y = pad
    for text, face in lines:
        left, top, right, bottom = draw.textbbox((pad * 2, y), text, font=face)
        draw.rectangle((left - pad, top - pad, right + pad, bottom + pad), fill=(0, 0, 0, 150))
        draw.text((pad * 2, y), text, fill=(255, 255, 255, 235), font=face)
        y = bottom + pad * 2
    draw.text(
        (width - pad * 2, pad), f"seed {seed}", fill=(255, 255, 255, 180), font=small, anchor="ra"
    )


def caption(draw: ImageDraw.ImageDraw, width: int, height: int, text: str) -> None:
    text = " ".join(text.split())
    if not text:
        return
    font = sized_font(max(9, round(height / 28)))
    pad = max(4, round(height / 60))
    lines = _wrap(text, font, width - 4 * pad, max_lines=2)
    line_height = font.size * 1.25
    bar = line_height * len(lines) + 2 * pad
    draw.rectangle((0, height - bar, width, height), fill=(0, 0, 0, 160))
    for i, line in enumerate(lines):
        y = height - bar + pad + i * line_height
        draw.text((2 * pad, y), line, fill=(255, 255, 255, 240), font=font)


def _wrap(text: str, font: ImageFont.FreeTypeFont, width: float, *, max_lines: int) -> list[str]:
    """Greedy word wrap; the last line ends in an ellipsis when text is left over."""
    lines: list[str] = []
    current = ""
    for word in text.split(" "):
        candidate = f"{current} {word}" if current else word
        if current and font.getlength(candidate) > width:
            lines.append(current)
            current = word
            if len(lines) == max_lines:
                lines[-1] = _ellipsize(lines[-1], font, width)
                return lines
        else:
            current = candidate
    lines.append(current)
    return [
        _ellipsize(line, font, width) if font.getlength(line) > width else line for line in lines
    ]


def _ellipsize(line: str, font: ImageFont.FreeTypeFont, width: float) -> str:
    while line and font.getlength(line + "…") > width:
        line = line[:-1]
    return line + "…"
