"""Colours of the previz frame: parsing a hint, mixing and jittering."""

from __future__ import annotations

import random
from typing import Any

RGB = tuple[int, int, int]


def parse_colour(value: Any) -> RGB | None:
    if not isinstance(value, str) or len(value) != 7 or value[0] != "#":
        return None
    try:
        return (int(value[1:3], 16), int(value[3:5], 16), int(value[5:7], 16))
    except ValueError:
        return None


def mix(a: RGB, b: RGB, t: float) -> RGB:
    return (
        round(a[0] + (b[0] - a[0]) * t),
        round(a[1] + (b[1] - a[1]) * t),
        round(a[2] + (b[2] - a[2]) * t),
    )


def jitter(colour: RGB, rng: random.Random, amount: int) -> RGB:
    return (
        min(255, max(0, colour[0] + rng.randint(-amount, amount))),
        min(255, max(0, colour[1] + rng.randint(-amount, amount))),
        min(255, max(0, colour[2] + rng.randint(-amount, amount))),
    )
