"""A diffusers setup that cannot work is one line naming the fix, and exit code 2."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from tests.unit.cli.running import Recoil, error_line, runner
from tests.unit.providers.diffusers.conftest import settings

pytest.importorskip("torch")
pytest.importorskip("diffusers")


@pytest.fixture
def recoil(tmp_path: Path, clean_env: None, monkeypatch: pytest.MonkeyPatch) -> Recoil:
    monkeypatch.chdir(tmp_path)
    return runner()


def _fails(recoil: Recoil, tmp_path: Path, toml: str, *args: str) -> str:
    project = tmp_path / "film"
    project.mkdir()
    (project / "recoil.toml").write_text(toml)
    result = recoil(
        "dispatch", "keyframe", "-p", "a door", "--provider", "diffusers", "--project", project,
        *args,
    )  # fmt: skip
    assert result.exit_code == 2, result.output
    return error_line(result)


def test_a_missing_extra_names_the_install_command(
    recoil: Recoil, tmp_path: Path, sd_folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "diffusers", None)  # as if it were not installed
    line = _fails(recoil, tmp_path, settings(sd_folder))
    assert "pip install 'recoil[diffusers]'" in line


def test_a_missing_model_folder_says_where_it_looked(recoil: Recoil, tmp_path: Path) -> None:
    line = _fails(recoil, tmp_path, settings(tmp_path / "no-such-model"))
    assert f"model folder {tmp_path / 'no-such-model'} does not exist" in line
    assert "hf download" in line


def test_a_model_id_not_in_the_cache_is_never_downloaded(
    recoil: Recoil, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    toml = '[providers.diffusers.keyframe]\nmodel = "acme/not-here"\n'
    line = _fails(recoil, tmp_path, toml)
    assert "'acme/not-here' is neither a folder nor in the Hugging Face cache" in line
    assert not (tmp_path / "empty-cache").exists() or not any((tmp_path / "empty-cache").iterdir())


def test_a_pipeline_class_diffusers_lacks_is_unsupported(
    recoil: Recoil, tmp_path: Path, sd_folder: Path
) -> None:
    toml = settings(sd_folder).replace(
        f'model = "{sd_folder}"', f'model = "{sd_folder}"\npipeline = "NoSuchPipeline"'
    )
    line = _fails(recoil, tmp_path, toml)
    assert "unsupported pipeline 'NoSuchPipeline'" in line


def test_a_pipeline_of_the_wrong_kind_is_unsupported(
    recoil: Recoil, tmp_path: Path, svd_folder: Path
) -> None:
    """An image-to-video model configured for keyframes is refused before it loads."""
    line = _fails(recoil, tmp_path, settings(svd_folder))
    assert "unsupported pipeline 'StableVideoDiffusionPipeline' for keyframe" in line
    assert "not a text-to-image pipeline" in line


def test_an_unknown_setting_suggests_the_right_one(
    recoil: Recoil, tmp_path: Path, sd_folder: Path
) -> None:
    line = _fails(recoil, tmp_path, settings(sd_folder, dtpye='"float16"'))
    assert "has no setting 'dtpye' (did you mean 'dtype'?)" in line


def test_a_modality_without_a_model_names_the_table_to_add(
    recoil: Recoil, tmp_path: Path, sd_folder: Path
) -> None:
    project = tmp_path / "film"
    project.mkdir()
    (project / "recoil.toml").write_text(settings(sd_folder))
    result = recoil(
        "dispatch", "video", "-p", "a door", "--provider", "diffusers", "--project", project,
        "--param", "image=x.png",
    )  # fmt: skip
    assert result.exit_code == 2
    assert "add [providers.diffusers.video]" in error_line(result)


def test_offload_on_the_cpu_is_refused(recoil: Recoil, tmp_path: Path, sd_folder: Path) -> None:
    line = _fails(recoil, tmp_path, settings(sd_folder, offload="true"))
    assert "set offload = false" in line


def test_recoil_providers_checks_every_modality_the_shot_list_sends(
    recoil: Recoil, tmp_path: Path, sd_folder: Path
) -> None:
    """A shot list that sends clips to a provider with no video model: named before a run."""
    from tests.helpers import beat, shotlist, write_project

    text = shotlist({"one": [beat("a", "a red door")]}, title="Doors", provider="diffusers")
    film = write_project(tmp_path / "film", text, settings(sd_folder))
    result = recoil("providers", film, "--json")
    assert result.exit_code != 0
    [check] = [c for c in json.loads(result.stdout) if c["name"] == "diffusers"]
    assert check["used"] is True
    assert any("add [providers.diffusers.video]" in p for p in check["problems"])


def test_the_run_sends_one_request_at_a_time_unless_told_more(tmp_path: Path) -> None:
    """One call per device runs anyway; more in flight would only wait out their timeouts."""
    from recoil.production.settings import load_settings

    (tmp_path / "recoil.toml").write_text("[providers.diffusers]\n")
    assert load_settings(tmp_path).provider_limit("diffusers") == 1
    (tmp_path / "recoil.toml").write_text("[providers.diffusers]\nlimit = 2\n")
    assert load_settings(tmp_path).provider_limit("diffusers") == 2


def test_settings_the_run_and_the_ray_executor_read_are_not_refused(sd_folder: Path) -> None:
    from recoil.providers.diffusers.config import load_configs

    options = {
        "device": "cpu",
        "limit": 1,
        "ray_resources": {"GPU": 1},
        "keyframe": {"model": str(sd_folder)},
    }
    assert set(load_configs(options)) == {"keyframe"}
