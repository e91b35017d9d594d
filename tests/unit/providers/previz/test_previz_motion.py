"""The previz clip: H.264 MP4s whose frames move the way the camera does."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image, ImageDraw

from recoil.media.probe import probe
from recoil.model.requests import CAMERA_MOVEMENTS
from recoil.providers.previz.motion import frame_count, render_motion


def marker_image() -> bytes:
    """Black, with a white cross through the centre."""
    picture = Image.new("RGB", (320, 180), (0, 0, 0))
    draw = ImageDraw.Draw(picture)
    draw.rectangle((156, 0, 164, 180), fill=(255, 255, 255))
    draw.rectangle((0, 86, 320, 94), fill=(255, 255, 255))
    out = io.BytesIO()
    picture.save(out, format="PNG")
    return out.getvalue()


def decode(data: bytes) -> list[np.ndarray]:
    with av.open(io.BytesIO(data), "r") as container:
        return [frame.to_ndarray(format="gray") for frame in container.decode(video=0)]


def centre_of_bright(profile: np.ndarray) -> float:
    weights = np.clip(profile.astype(np.float64) - 128, 0, None)
    return float((weights * np.arange(len(profile))).sum() / weights.sum())


def clip(movement: str, **kwargs: float) -> bytes:
    args = {"duration_s": 0.5, "fps": 24.0, "width": 160, "height": 90, **kwargs}
    return render_motion(image=marker_image(), movement=movement, **args)  # type: ignore[arg-type]


@pytest.mark.parametrize("movement", CAMERA_MOVEMENTS)
def test_every_movement_gives_the_right_frames(movement: str) -> None:
    data = clip(movement)
    frames = decode(data)
    assert len(frames) == 12
    assert frames[0].shape == (90, 160)
    facts = probe(data, "video/mp4")
    assert facts["codec"] == "h264"
    assert facts["fps"] == 24.0
    assert facts["duration_s"] == pytest.approx(0.5)
    assert clip(movement) == data  # deterministic
    first, last = frames[0].astype(int), frames[-1].astype(int)
    if movement == "static":
        # Lossy coding leaves small differences; nothing moves.
        assert all(np.abs(first - f.astype(int)).mean() < 1 for f in frames)
    else:
        assert np.abs(first - last).mean() > 2


@pytest.mark.parametrize(
    ("movement", "axis", "direction"),
    [
        ("pan_left", "x", +1),  # the camera turns left, the picture drifts right
        ("pan_right", "x", -1),
        ("truck_left", "x", +1),
        ("truck_right", "x", -1),
        ("tilt_up", "y", +1),
        ("tilt_down", "y", -1),
    ],
)
def test_the_picture_drifts_against_the_camera(movement: str, axis: str, direction: int) -> None:
    frames = decode(clip(movement))

    def position(frame: np.ndarray) -> float:
        # The vertical bar locates x (read along a row); the horizontal bar locates y.
        return centre_of_bright(frame[10] if axis == "x" else frame[:, 10])

    shift = position(frames[-1]) - position(frames[0])
    assert shift * direction > 5


def test_push_in_magnifies_and_pull_out_shrinks() -> None:
    def bar_width(frame: np.ndarray) -> int:
        return int((frame[10] > 128).sum())

    push = decode(clip("push_in"))
    pull = decode(clip("pull_out"))
    assert bar_width(push[-1]) > bar_width(push[0])
    assert bar_width(pull[-1]) < bar_width(pull[0])


def test_frame_count_rounds_and_is_at_least_one() -> None:
    assert frame_count(4.0, 24.0) == 96
    assert frame_count(0.01, 24.0) == 1
    assert len(decode(clip("push_in", duration_s=0.01))) == 1
    assert len(decode(clip("pan_left", duration_s=1.0, fps=23.976))) == 24


def test_odd_sizes_are_rounded_down_to_even() -> None:
    facts = probe(clip("pan_right", width=161, height=91), "video/mp4")
    assert (facts["width"], facts["height"]) == (160, 90)


def test_any_source_aspect_is_cropped_to_fill() -> None:
    out = io.BytesIO()
    Image.new("RGB", (100, 400), (200, 100, 50)).save(out, format="PNG")
    data = render_motion(
        image=out.getvalue(), movement="tilt_down", duration_s=0.25, fps=12, width=64, height=36
    )
    frame = decode(data)[0]
    assert frame.shape == (36, 64)
    assert frame.min() > 60  # no black bars


def test_identical_across_processes(tmp_path: Path) -> None:
    source = tmp_path / "still.png"
    source.write_bytes(marker_image())
    script = (
        "import sys; from pathlib import Path\n"
        "from recoil.providers.previz.motion import render_motion\n"
        "sys.stdout.buffer.write(render_motion(image=Path(sys.argv[1]).read_bytes(),"
        " movement='push_in', duration_s=0.5, fps=24.0, width=160, height=90))\n"
    )
    other = subprocess.run(
        [sys.executable, "-c", script, str(source)], capture_output=True, check=True
    ).stdout
    assert other == clip("push_in")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc malloc tunable")
def test_heap_contents_do_not_leak_into_the_video(tmp_path: Path) -> None:
    # glibc fills fresh heap memory with MALLOC_PERTURB_; an encoder reading memory it never
    # wrote would give other bytes for another fill value.
    source = tmp_path / "still.png"
    source.write_bytes(marker_image())
    script = (
        "import sys; from pathlib import Path\n"
        "from recoil.providers.previz.motion import render_motion\n"
        "for movement in ('truck_left', 'push_in', 'pan_right'):\n"
        "    sys.stdout.buffer.write(render_motion(image=Path(sys.argv[1]).read_bytes(),"
        " movement=movement, duration_s=0.5, fps=24.0, width=160, height=90))\n"
    )
    runs = {
        subprocess.run(
            [sys.executable, "-c", script, str(source)],
            capture_output=True,
            check=True,
            env={**os.environ, "MALLOC_PERTURB_": fill},
        ).stdout
        for fill in ("17", "90", "200")
    }
    assert len(runs) == 1


def test_unknown_movement_is_rejected() -> None:
    with pytest.raises(ValueError, match="camera movement"):
        clip("barrel_roll")
