"""Previz upscaling: real resampling of images and of every video frame."""

from __future__ import annotations

import io

import av
import numpy as np
from PIL import Image

from recoil.media.probe import probe
from recoil.providers.previz.motion import render_motion
from recoil.providers.previz.resample import upscale_image, upscale_video


def png(mode: str = "RGB", size: tuple[int, int] = (40, 30)) -> bytes:
    out = io.BytesIO()
    picture = Image.linear_gradient("L").resize(size).convert(mode)
    picture.save(out, format="PNG")
    return out.getvalue()


def test_image_is_scaled_with_lanczos() -> None:
    data = upscale_image(png(), 2.0)
    with Image.open(io.BytesIO(data)) as picture:
        assert picture.format == "PNG"
        assert picture.size == (80, 60)
        big = np.asarray(picture.convert("L"), dtype=float)
    with Image.open(io.BytesIO(png())) as small:
        expected = np.asarray(small.convert("L").resize((80, 60), Image.Resampling.LANCZOS))
    assert np.abs(big - expected).max() <= 1
    assert upscale_image(png(), 2.0) == data


def test_image_alpha_is_kept_and_fractional_scales_round() -> None:
    data = upscale_image(png("RGBA", (41, 31)), 1.5)
    with Image.open(io.BytesIO(data)) as picture:
        assert picture.mode == "RGBA"
        assert picture.size == (62, 46)


def test_video_every_frame_scaled_fps_kept() -> None:
    clip = render_motion(
        image=png(size=(64, 36)), movement="pan_left", duration_s=0.5, fps=12, width=64, height=36
    )
    data = upscale_video(clip, 2.5)
    facts = probe(data, "video/mp4")
    assert (facts["width"], facts["height"]) == (160, 90)
    assert facts["frames"] == 6
    assert facts["fps"] == 12.0
    with av.open(io.BytesIO(data), "r") as container:
        assert sum(1 for _ in container.decode(video=0)) == 6
    assert upscale_video(clip, 2.5) == data
