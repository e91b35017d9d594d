"""The previz keyframe: a composed storyboard frame drawn from the shot hints.

The frame shows what a director's shot description means before any model
runs: sky and ground from the palette, time of day and lighting; a horizon
placed by the camera angle (tilted for a dutch angle); the characters as
silhouettes framed by the shot size (tiny full figures in an extreme wide,
head and shoulders in a close-up); a longer lens blurs the background; rule of
thirds guides, a slate label (size, angle, lens) and a caption bar with the
caption or prompt.

Everything random comes from ``random.Random(seed)``, and a character's colour
from a hash of its name (so a character looks the same in every shot), so the
same arguments give the same PNG bytes on every run and machine with the same
Pillow; different seeds move the figures, the skyline and the colours.
"""

from __future__ import annotations

import io
import math
import random
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

import numpy as np
from PIL import Image, ImageChops, ImageDraw, ImageFilter

from recoil.providers.previz.colour import RGB, jitter, mix, parse_colour
from recoil.providers.previz.figures import FRAMING, figures
from recoil.providers.previz.overlay import caption, slate, thirds

SHOT_SIZES: tuple[str, ...] = (
    "extreme_wide",
    "wide",
    "full",
    "medium",
    "medium_close",
    "close_up",
    "extreme_close_up",
)
ANGLES: tuple[str, ...] = ("eye_level", "high", "low", "overhead", "dutch")

_HORIZON = {"eye_level": 0.5, "high": 0.22, "low": 0.78, "dutch": 0.5}
_DUTCH_DEGREES = 12.0


# Sky top, sky at the horizon, ground: the default look for a time of day.
_TIME_PALETTE: Mapping[str, tuple[RGB, RGB, RGB]] = {
    "day": ((110, 160, 215), (205, 222, 236), (112, 122, 96)),
    "dawn": ((120, 130, 180), (250, 196, 150), (104, 96, 90)),
    "golden_hour": ((170, 140, 120), (255, 205, 140), (128, 100, 70)),
    "dusk": ((62, 56, 110), (232, 134, 104), (58, 52, 64)),
    "night": ((8, 12, 32), (36, 46, 80), (20, 22, 30)),
}
_TIME_ALIASES = {
    "morning": "dawn",
    "sunrise": "dawn",
    "noon": "day",
    "afternoon": "day",
    "evening": "dusk",
    "sunset": "golden_hour",
    "golden": "golden_hour",
    "midnight": "night",
}


class ShotHintError(ValueError):
    """A shot hint previz cannot draw; ``field`` names it (``size``, ``palette[1]``...)."""

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"shot.{field}: {reason}")


def validate_shot(shot: Mapping[str, Any]) -> None:
    """Raise :class:`ShotHintError` for a hint :func:`render_keyframe` cannot draw.

    Keys previz does not use are ignored.
    """
    size = shot.get("size")
    if size is not None and size not in FRAMING:
        raise ShotHintError("size", f"expected one of {', '.join(SHOT_SIZES)}, got {size!r}")
    angle = shot.get("angle")
    if angle is not None and angle not in ANGLES:
        raise ShotHintError("angle", f"expected one of {', '.join(ANGLES)}, got {angle!r}")
    lens = shot.get("lens")
    if lens is not None and (
        isinstance(lens, bool) or not isinstance(lens, int | float) or not 4 <= lens <= 1200
    ):
        raise ShotHintError("lens", f"expected a focal length in mm (4-1200), got {lens!r}")
    palette = shot.get("palette", [])
    if not isinstance(palette, Sequence) or isinstance(palette, str):
        raise ShotHintError("palette", f"expected a list of '#rrggbb' colours, got {palette!r}")
    for i, colour in enumerate(palette):
        if parse_colour(colour) is None:
            raise ShotHintError(f"palette[{i}]", f"expected '#rrggbb', got {colour!r}")
    characters = shot.get("characters", [])
    if not isinstance(characters, Sequence) or isinstance(characters, str):
        raise ShotHintError("characters", "expected a list of {'name': ...} mappings")
    for i, character in enumerate(characters):
        if not isinstance(character, Mapping) or not isinstance(character.get("name"), str):
            raise ShotHintError(f"characters[{i}]", "expected a mapping with a 'name' string")
    for key in ("lighting", "caption", "action", "time_of_day"):
        if shot.get(key) is not None and not isinstance(shot[key], str):
            raise ShotHintError(key, f"expected a string, got {shot[key]!r}")


def render_keyframe(
    *, prompt: str, seed: int, width: int, height: int, shot: Mapping[str, Any]
) -> bytes:
    """A storyboard frame for ``shot`` as PNG bytes (see the module docstring).

    Raises :class:`ShotHintError` for a hint it cannot draw.
    """
    validate_shot(shot)
    rng = random.Random(seed)
    size = shot.get("size") or "medium"
    angle = shot.get("angle") or "eye_level"
    lens = shot.get("lens") or 35
    lighting = (shot.get("lighting") or "").lower()
    sky_top, sky_low, ground = _base_palette(shot, rng)

    horizon = None if angle == "overhead" else _HORIZON[angle] + rng.uniform(-0.03, 0.03)
    scene = _background(width, height, horizon, (sky_top, sky_low, ground), lighting)
    draw = ImageDraw.Draw(scene, "RGBA")
    if horizon is None:
        _floor_grid(draw, width, height, ground, rng)
    else:
        _skyline(draw, width=width, height=height, horizon=horizon, sky=sky_low, rng=rng)
        _perspective_lines(
            draw, width=width, height=height, horizon=horizon, ground=ground, rng=rng
        )
    blur = _background_blur(size, float(lens), height)
    if blur > 0:
        scene = _soften(scene, blur)
        draw = ImageDraw.Draw(scene, "RGBA")
    figures(draw, shot=shot, size=size, angle=angle, horizon=horizon, rng=rng)
    if angle == "dutch":
        scene = _dutch(scene, _DUTCH_DEGREES * (1 if rng.random() < 0.5 else -1))
    scene = _vignette(scene, float(lens))
    overlay = ImageDraw.Draw(scene, "RGBA")
    thirds(overlay, width, height)
    slate(overlay, size=size, angle=angle, lens=float(lens), shot=shot, seed=seed)
    caption(overlay, width, height, shot.get("caption") or prompt or shot.get("action") or "")
    buffer = io.BytesIO()
    scene.save(buffer, format="PNG", compress_level=3)
    return buffer.getvalue()


def _base_palette(shot: Mapping[str, Any], rng: random.Random) -> tuple[RGB, RGB, RGB]:
    colours = [c for c in (parse_colour(v) for v in shot.get("palette", [])) if c is not None]
    time = (shot.get("time_of_day") or "day").lower().replace(" ", "_").replace("-", "_")
    default = _TIME_PALETTE.get(_TIME_ALIASES.get(time, time), _TIME_PALETTE["day"])
    if len(colours) >= 3:
        top, low, ground = colours[0], colours[1], colours[2]
    elif len(colours) == 2:
        top, low, ground = colours[0], mix(colours[0], (255, 255, 255), 0.45), colours[1]
    elif len(colours) == 1:
        top = colours[0]
        low = mix(top, (255, 255, 255), 0.45)
        ground = mix(top, (30, 30, 30), 0.6)
    else:
        top, low, ground = default
    return jitter(top, rng, 14), jitter(low, rng, 14), jitter(ground, rng, 12)


def _lighting_gain(lighting: str) -> tuple[float, float, float]:
    """Per-channel gain for the lighting words (low key darkens, warm tints...)."""
    gain = [1.0, 1.0, 1.0]
    if any(w in lighting for w in ("low key", "low-key", "noir", "dark", "moonlit", "shadow")):
        gain = [g * 0.55 for g in gain]
    if any(w in lighting for w in ("high key", "high-key", "bright", "overexposed")):
        gain = [g * 1.25 for g in gain]
    if any(w in lighting for w in ("warm", "golden", "candle", "tungsten", "fire", "sunset")):
        gain = [gain[0] * 1.12, gain[1] * 0.98, gain[2] * 0.8]
    if any(w in lighting for w in ("cool", "blue", "moon", "fluorescent", "overcast", "neon")):
        gain = [gain[0] * 0.82, gain[1] * 0.95, gain[2] * 1.15]
    return gain[0], gain[1], gain[2]


def _background(
    width: int, height: int, horizon: float | None, colours: tuple[RGB, RGB, RGB], lighting: str
) -> Image.Image:
    sky_top, sky_low, ground = (np.array(c, dtype=np.float32) for c in colours)
    y = (np.arange(height, dtype=np.float32) + 0.5) / height
    if horizon is None:  # overhead: the ground fills the frame, lit a little in the middle
        t = np.abs(y - 0.5)[:, None] * 2
        rows = ground * (1.1 - 0.25 * t)
    else:
        sky_t = np.clip(y / max(horizon, 1e-3), 0, 1)[:, None]
        ground_t = np.clip((y - horizon) / max(1 - horizon, 1e-3), 0, 1)[:, None]
        sky = sky_top + (sky_low - sky_top) * sky_t
        earth = ground * (1.15 - 0.45 * ground_t)  # brighter near the horizon
        rows = np.where((y < horizon)[:, None], sky, earth)
    rows = rows * np.array(_lighting_gain(lighting), dtype=np.float32)
    line = np.clip(rows, 0, 255).astype(np.uint8)
    pixels = np.broadcast_to(line[:, None, :], (height, width, 3))
    return Image.fromarray(np.ascontiguousarray(pixels), "RGB")


def _skyline(
    draw: ImageDraw.ImageDraw,
    *,
    width: int,
    height: int,
    horizon: float,
    sky: RGB,
    rng: random.Random,
) -> None:
    base = horizon * height
    tone = (*mix(sky, (40, 45, 60), 0.45), 255)
    if rng.random() < 0.5:  # rolling hills
        waves = [
            (rng.uniform(1, 4), rng.uniform(0, math.tau), rng.uniform(0.3, 1)) for _ in range(3)
        ]
        amp = height * rng.uniform(0.04, 0.1)
        points = [(0.0, base)]
        for i in range(33):
            x = width * i / 32
            bump = sum(a * (1 + math.sin(f * math.tau * i / 32 + p)) for f, p, a in waves)
            points.append((x, base - amp * bump / 3))
        points.append((float(width), base))
        draw.polygon(points, fill=tone)
    else:  # a town: blocks of buildings
        x = rng.uniform(-20, 0)
        while x < width:
            w = width * rng.uniform(0.04, 0.1)
            h = height * rng.uniform(0.03, 0.16)
            draw.rectangle((x, base - h, x + w, base), fill=tone)
            x += w + width * rng.uniform(0, 0.03)


def _perspective_lines(
    draw: ImageDraw.ImageDraw,
    *,
    width: int,
    height: int,
    horizon: float,
    ground: RGB,
    rng: random.Random,
) -> None:
    vx = width * rng.uniform(0.35, 0.65)
    vy = horizon * height
    line = (*mix(ground, (255, 255, 255), 0.3), 60)
    for i in range(-4, 13):
        draw.line((vx, vy, width * i / 8, height), fill=line, width=1)


def _floor_grid(
    draw: ImageDraw.ImageDraw, width: int, height: int, ground: RGB, rng: random.Random
) -> None:
    step = max(8.0, min(width, height) * rng.uniform(0.1, 0.16))
    offset = rng.uniform(0, step)
    line = (*mix(ground, (255, 255, 255), 0.3), 70)
    x = offset
    while x < width:
        draw.line((x, 0, x, height), fill=line, width=1)
        x += step
    y = offset
    while y < height:
        draw.line((0, y, width, y), fill=line, width=1)
        y += step


def _background_blur(size: str, lens: float, height: int) -> float:
    """Depth of field: tight shots and long lenses soften what is behind the actors."""
    tight = {"medium": 0.5, "medium_close": 1.0, "close_up": 1.5, "extreme_close_up": 2.0}
    strength = tight.get(size, 0.0) + max(0.0, (lens - 50) / 40)
    return strength * height / 360


def _dutch(scene: Image.Image, degrees: float) -> Image.Image:
    """Rotate about the centre and zoom just enough that no empty corner shows."""
    width, height = scene.size
    a = math.radians(degrees)
    # The frame, turned back by the angle, must fit inside the zoomed picture.
    zoom = math.cos(abs(a)) + max(width / height, height / width) * math.sin(abs(a))
    cos, sin = math.cos(a) / zoom, math.sin(a) / zoom
    cx, cy = width / 2, height / 2
    # transform() maps each output pixel back to its source pixel.
    matrix = (cos, sin, cx - cos * cx - sin * cy, -sin, cos, cy + sin * cx - cos * cy)
    return scene.transform(scene.size, Image.Transform.AFFINE, matrix, Image.Resampling.BILINEAR)


def _soften(scene: Image.Image, radius: float) -> Image.Image:
    """A cheap wide blur: shrink, blur a little, grow back."""
    width, height = scene.size
    factor = 4
    small = scene.resize((max(1, width // factor), max(1, height // factor)), Image.Resampling.BOX)
    small = small.filter(ImageFilter.GaussianBlur(radius / factor))
    return small.resize((width, height), Image.Resampling.BILINEAR)


def _vignette(scene: Image.Image, lens: float) -> Image.Image:
    """Darken the corners, more with a wide lens."""
    strength = round(0.18 + max(0.0, (35 - lens) / 60), 2)
    return ImageChops.multiply(scene, _vignette_mask(scene.width, scene.height, strength))


@lru_cache(maxsize=8)
def _vignette_mask(width: int, height: int, strength: float) -> Image.Image:
    y = np.linspace(-1, 1, height, dtype=np.float32)[:, None]
    x = np.linspace(-1, 1, width, dtype=np.float32)[None, :]
    mask = 255 * (1 - strength * np.clip((x * x + y * y) / 2, 0, 1) ** 1.5)
    return Image.fromarray(mask.astype(np.uint8), "L").convert("RGB")
