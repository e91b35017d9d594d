"""The characters of a previz frame: silhouettes framed by the shot size."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from PIL import ImageDraw

from recoil.providers.previz.colour import RGB, jitter, mix
from recoil.providers.previz.overlay import sized_font

_FIGURE_HEADS = 7.5
"""A figure is this many head heights tall."""


@dataclass(frozen=True, slots=True)
class _Framing:
    head: float
    """Head height as a fraction of the frame height."""
    top: float | None
    """Top of the head as a fraction of the frame height; None: stand on the ground."""
    ground: float = 0.0
    """Where the feet stand between the horizon (0) and the bottom edge (1)."""


FRAMING = {
    "extreme_wide": _Framing(head=0.018, top=None, ground=0.3),
    "wide": _Framing(head=0.05, top=None, ground=0.65),
    "full": _Framing(head=0.105, top=0.07),
    "medium": _Framing(head=0.2, top=0.1),
    "medium_close": _Framing(head=0.28, top=0.1),
    "close_up": _Framing(head=0.4, top=0.12),
    "extreme_close_up": _Framing(head=1.25, top=-0.3),
}


def _character_colour(name: str, rng: random.Random) -> RGB:
    digest = hashlib.sha256(name.encode("utf-8")).digest()
    base = (40 + digest[0] % 70, 40 + digest[1] % 70, 40 + digest[2] % 70)
    return jitter(base, rng, 8)


def figures(
    draw: ImageDraw.ImageDraw,
    *,
    shot: Mapping[str, Any],
    size: str,
    angle: str,
    horizon: float | None,
    rng: random.Random,
) -> None:
    width, height = draw.im.size
    characters = [c for c in shot.get("characters", []) if isinstance(c, Mapping)]
    count = len(characters)
    if count == 0:
        return
    framing = FRAMING[size]
    head = framing.head * height
    if angle == "low":
        head *= 1.08
    elif angle == "high":
        head *= 0.92
    if count == 1:
        slots = [rng.choice((1 / 3, 2 / 3)) if size != "extreme_close_up" else 0.5]
    else:
        slots = [0.18 + 0.64 * i / (count - 1) for i in range(count)]
    font = sized_font(max(9, round(height / 30)))
    for character, slot in zip(characters, slots, strict=True):
        cx = width * (slot + rng.uniform(-0.04, 0.04))
        colour = _character_colour(str(character["name"]), rng)
        if horizon is None:
            cy = height * rng.uniform(0.35, 0.65)
            top = _overhead_figure(draw, cx, cy, head, colour)
        else:
            if framing.top is None:
                feet = height * (
                    horizon + (1 - horizon) * (framing.ground + rng.uniform(-0.05, 0.05))
                )
                top = feet - head * _FIGURE_HEADS
            else:
                top = height * (framing.top + rng.uniform(-0.02, 0.02))
            _standing_figure(
                draw, cx, top, head, colour, faces=size in ("close_up", "extreme_close_up")
            )
        label = str(character["name"])
        label_y = top - font.size * 1.4 if top - font.size * 1.4 > 2 else top + head * 0.2
        draw.text((cx, max(2.0, label_y)), label, fill=(255, 255, 255, 220), font=font, anchor="mt")


def _standing_figure(
    draw: ImageDraw.ImageDraw, cx: float, top: float, head: float, colour: RGB, *, faces: bool
) -> None:
    """A silhouette ``head`` pixels per head unit, head top at ``top``, centred on ``cx``."""
    u = head
    fill = (*colour, 255)
    edge = (*mix(colour, (0, 0, 0), 0.5), 255)
    rim = (*mix(colour, (255, 255, 255), 0.35), 255)
    line = max(1, round(u / 24))

    def at(x: float, y: float) -> tuple[float, float]:
        return (cx + x * u, top + y * u)

    legs = [
        [at(-0.75, 3.8), at(-0.05, 3.8), at(-0.2, 7.5), at(-0.6, 7.5)],
        [at(0.05, 3.8), at(0.75, 3.8), at(0.6, 7.5), at(0.2, 7.5)],
    ]
    arms = [
        [at(-1.05, 1.35), at(-0.7, 1.35), at(-0.85, 4.0), at(-1.2, 4.0)],
        [at(0.7, 1.35), at(1.05, 1.35), at(1.2, 4.0), at(0.85, 4.0)],
    ]
    torso = [at(-1.0, 1.35), at(1.0, 1.35), at(0.8, 3.95), at(-0.8, 3.95)]
    for part in (*legs, *arms, torso):
        draw.polygon(part, fill=fill, outline=edge, width=line)
    draw.ellipse((*at(-1.05, 1.15), *at(-0.55, 1.65)), fill=fill)
    draw.ellipse((*at(0.55, 1.15), *at(1.05, 1.65)), fill=fill)
    draw.rectangle((*at(-0.16, 0.85), *at(0.16, 1.4)), fill=fill)
    draw.ellipse((*at(-0.38, 0.0), *at(0.38, 1.0)), fill=fill, outline=rim, width=line)
    if faces:
        eye = (*mix(colour, (255, 255, 255), 0.7), 255)
        for side in (-1, 1):
            draw.ellipse((*at(side * 0.17 - 0.06, 0.42), *at(side * 0.17 + 0.06, 0.5)), fill=eye)
        draw.line((*at(-0.1, 0.75), *at(0.1, 0.75)), fill=edge, width=line)


def _overhead_figure(
    draw: ImageDraw.ImageDraw, cx: float, cy: float, head: float, colour: RGB
) -> float:
    """A figure seen from above; returns the top of its outline."""
    fill = (*colour, 255)
    edge = (*mix(colour, (0, 0, 0), 0.5), 255)
    line = max(1, round(head / 24))
    draw.ellipse(
        (cx - head, cy - head * 0.45, cx + head, cy + head * 0.45),
        fill=fill,
        outline=edge,
        width=line,
    )
    r = head * 0.4
    draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=(*mix(colour, (0, 0, 0), 0.3), 255))
    return cy - head * 0.45
