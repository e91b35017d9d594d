"""A model folder's revision: its configs' content and every other file's size and time."""

from __future__ import annotations

import os
from pathlib import Path

from recoil.providers.diffusers.placement import model_revision


def _model(folder: Path) -> Path:
    (folder / "unet").mkdir(parents=True)
    (folder / "model_index.json").write_text('{"_class_name": "StableDiffusionPipeline"}')
    (folder / "unet" / "diffusion_pytorch_model.safetensors").write_bytes(b"\0" * 64)
    return folder


def test_weights_written_over_with_the_same_size_are_another_revision(tmp_path: Path) -> None:
    folder = _model(tmp_path / "model")
    before = model_revision(folder)
    assert model_revision(folder) == before

    weights = folder / "unet" / "diffusion_pytorch_model.safetensors"
    weights.write_bytes(b"\1" * 64)  # a fine-tune of the same shape
    stat = weights.stat()
    os.utime(weights, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))

    assert model_revision(folder).sha256 != before.sha256


def test_a_config_edit_is_another_revision_and_tool_state_is_not(tmp_path: Path) -> None:
    folder = _model(tmp_path / "model")
    before = model_revision(folder).sha256
    (folder / ".cache").mkdir()
    (folder / ".cache" / "download.lock").write_text("x")
    assert model_revision(folder).sha256 == before

    (folder / "model_index.json").write_text('{"_class_name": "StableDiffusionXLPipeline"}')
    assert model_revision(folder).sha256 != before


def test_a_cache_snapshot_names_its_commit(tmp_path: Path) -> None:
    commit = "0123456789abcdef0123456789abcdef01234567"
    folder = _model(tmp_path / "models--a--b" / "snapshots" / commit)
    assert model_revision(folder).commit == commit
