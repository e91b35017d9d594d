"""The previz storyboard frame: real PNGs that follow the shot, the same for the same seed."""

from __future__ import annotations

import io
import subprocess
import sys
import time
from typing import Any

import numpy as np
import pytest
from PIL import Image

from recoil.providers.previz.frame import (
    ANGLES,
    SHOT_SIZES,
    ShotHintError,
    render_keyframe,
    validate_shot,
)

SHOT: dict[str, Any] = {
    "size": "medium",
    "angle": "eye_level",
    "lens": 35,
    "lighting": "warm practicals",
    "palette": ["#203040", "#c08060", "#403020"],
    "characters": [{"name": "Mara", "description": "a ferry pilot"}, {"name": "Joss"}],
    "caption": "Mara hands Joss the lantern.",
    "time_of_day": "dusk",
}


def pixels(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as picture:
        assert picture.format == "PNG"
        return np.asarray(picture.convert("RGB"), dtype=np.int16)


def render(seed: int = 1, **shot: Any) -> bytes:
    return render_keyframe(prompt="A harbour at dusk", seed=seed, width=320, height=180, shot=shot)


def test_png_of_the_requested_size() -> None:
    data = render_keyframe(prompt="p", seed=3, width=640, height=360, shot=SHOT)
    with Image.open(io.BytesIO(data)) as picture:
        assert picture.size == (640, 360)
        assert picture.mode == "RGB"


def test_same_arguments_same_bytes_across_calls_and_processes() -> None:
    first = render_keyframe(prompt="p", seed=9, width=320, height=180, shot=SHOT)
    assert render_keyframe(prompt="p", seed=9, width=320, height=180, shot=SHOT) == first
    script = (
        "import sys, json; from recoil.providers.previz.frame import render_keyframe\n"
        "shot = json.loads(sys.argv[1])\n"
        "sys.stdout.buffer.write(render_keyframe(prompt='p', seed=9, width=320, height=180,"
        " shot=shot))\n"
    )
    import json

    other = subprocess.run(
        [sys.executable, "-c", script, json.dumps(SHOT)], capture_output=True, check=True
    ).stdout
    assert other == first


def test_seeds_give_visibly_different_frames() -> None:
    a, b = pixels(render(1, **SHOT)), pixels(render(2, **SHOT))
    assert np.abs(a - b).mean() > 3


def test_every_size_and_angle_renders_differently() -> None:
    frames = {render(size=size, characters=[{"name": "A"}]) for size in SHOT_SIZES}
    frames |= {render(angle=angle, characters=[{"name": "A"}]) for angle in ANGLES}
    assert len(frames) == len(SHOT_SIZES) + len(ANGLES) - 1  # medium/eye_level is in both


def figure_area(size: str) -> float:
    """Share of the frame the character covers: the difference a character makes."""
    with_figure = pixels(render(5, size=size, characters=[{"name": "A"}]))
    without = pixels(render(5, size=size))
    return float((np.abs(with_figure - without).sum(axis=2) > 30).mean())


def test_tighter_shots_show_bigger_figures() -> None:
    areas = [figure_area(size) for size in ("extreme_wide", "wide", "medium", "close_up")]
    assert areas == sorted(areas)
    assert areas[0] < 0.01
    assert areas[-1] > 0.2


def test_palette_colours_the_sky() -> None:
    frame = pixels(render(size="wide", palette=["#ff0000", "#ff8080", "#00ff00"]))
    top = frame[5:20, 140:180].mean(axis=(0, 1))
    assert top[0] > 180 and top[1] < 60 and top[2] < 60


def test_low_key_lighting_is_darker_than_high_key() -> None:
    dark = pixels(render(lighting="low key")).mean()
    bright = pixels(render(lighting="high key")).mean()
    assert dark < bright * 0.7


def test_empty_shot_and_long_prompt_render() -> None:
    data = render_keyframe(prompt="word " * 300, seed=0, width=64, height=36, shot={})
    assert pixels(data).shape == (36, 64, 3)


@pytest.mark.parametrize(
    ("shot", "field"),
    [
        ({"size": "huge"}, "size"),
        ({"angle": "sideways"}, "angle"),
        ({"lens": "wide"}, "lens"),
        ({"palette": ["red"]}, "palette[0]"),
        ({"palette": "#ffffff"}, "palette"),
        ({"characters": [{"description": "no name"}]}, "characters[0]"),
        ({"caption": 3}, "caption"),
    ],
)
def test_bad_hints_name_the_field(shot: dict[str, Any], field: str) -> None:
    with pytest.raises(ShotHintError) as info:
        validate_shot(shot)
    assert info.value.field == field
    with pytest.raises(ShotHintError):
        render(**shot)


def test_fast_enough() -> None:
    render_keyframe(prompt="warm up", seed=0, width=640, height=360, shot=SHOT)
    start = time.perf_counter()
    for seed in range(5):
        render_keyframe(prompt="A harbour", seed=seed, width=640, height=360, shot=SHOT)
    assert (time.perf_counter() - start) / 5 < 0.25  # about 30 ms on a laptop core
