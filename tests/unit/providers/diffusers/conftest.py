"""The tiny pipelines, built once per session, and projects whose recoil.toml names them."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.providers.diffusers import tiny


@pytest.fixture(scope="session")
def sd_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A saved text-to-image pipeline folder (model_index.json, configs, safetensors)."""
    return tiny.text_to_image(tmp_path_factory.mktemp("models") / "tiny-sd")


@pytest.fixture(scope="session")
def svd_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A saved image-to-video pipeline folder."""
    return tiny.image_to_video(tmp_path_factory.mktemp("models") / "tiny-svd")


@pytest.fixture(scope="session")
def upscaler_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A saved upscale pipeline folder (2x)."""
    return tiny.upscaler(tmp_path_factory.mktemp("models") / "tiny-upscaler")


def settings(
    keyframe: Path, video: Path | None = None, upscale: Path | None = None, **extra: str
) -> str:
    """A recoil.toml serving keyframes (and clips, upscales) from these folders on the CPU."""
    lines = ["[providers.diffusers]", 'device = "cpu"']
    lines += [f"{key} = {value}" for key, value in extra.items()]
    lines += ["[providers.diffusers.keyframe]", f'model = "{keyframe}"']
    if video is not None:
        lines += ["[providers.diffusers.video]", f'model = "{video}"']
    if upscale is not None:
        lines += ["[providers.diffusers.upscale]", f'model = "{upscale}"']
    return "\n".join(lines) + "\n"
