"""The example project of ``recoil init``."""

from __future__ import annotations

from pathlib import Path

import pytest

from recoil.errors import ConfigError
from recoil.production.settings import load_settings
from recoil.shotlist import EXAMPLE_SETTINGS, EXAMPLE_SHOTLIST, load_shotlist, write_example


def test_example_loads_and_fits_the_demo_budget(tmp_path: Path) -> None:
    write_example(tmp_path / "film")
    shotlist = load_shotlist(tmp_path / "film" / "shotlist.yaml")
    beats = [beat for _, beat in shotlist.iter_beats()]
    assert [len(scene.beats) for scene in shotlist.scenes] == [3, 2]
    assert len(shotlist.characters) == 2
    assert all(c.voice for c in shotlist.characters.values())
    assert sum(1 for beat in beats if beat.dialogue) >= 3
    assert shotlist.project.takes_per_beat == 2
    assert (shotlist.project.resolution.width, shotlist.project.resolution.height) == (640, 360)
    assert shotlist.project.fps == 24
    assert all(2 <= beat.duration <= 3 for beat in beats)
    assert len({beat.shot.size for beat in beats}) == 5
    assert len({beat.shot.movement for beat in beats}) >= 4
    assert len({beat.shot.angle for beat in beats}) >= 4
    settings = load_settings(tmp_path / "film")
    assert settings.project.shotlist == "shotlist.yaml"
    assert settings.provider_limit("previz") == 2


def test_files_are_written_verbatim(tmp_path: Path) -> None:
    write_example(tmp_path)
    assert (tmp_path / "shotlist.yaml").read_text(encoding="utf-8") == EXAMPLE_SHOTLIST
    assert (tmp_path / "recoil.toml").read_text(encoding="utf-8") == EXAMPLE_SETTINGS


def test_refuses_to_overwrite(tmp_path: Path) -> None:
    (tmp_path / "recoil.toml").write_text("# mine\n")
    with pytest.raises(ConfigError, match=r"recoil\.toml already exists"):
        write_example(tmp_path)
    assert not (tmp_path / "shotlist.yaml").exists()
    assert (tmp_path / "recoil.toml").read_text() == "# mine\n"


def test_refuses_a_file_as_the_folder(tmp_path: Path) -> None:
    target = tmp_path / "film"
    target.write_text("")
    with pytest.raises(ConfigError, match="is a file"):
        write_example(target)


def test_a_folder_that_cannot_be_created_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("")
    target = tmp_path / "a-file" / "film"
    with pytest.raises(ConfigError) as info:
        write_example(target)
    assert str(info.value) == (
        f"cannot create {target}: not a directory; "
        "choose a folder you can write to for the new project"
    )


def test_a_file_that_cannot_be_created_leaves_nothing_behind(tmp_path: Path) -> None:
    # A dangling link is not an existing file, but "x" mode cannot create through it.
    (tmp_path / "recoil.toml").symlink_to(tmp_path / "nowhere")
    with pytest.raises(ConfigError, match=r"cannot create .*recoil\.toml: file exists"):
        write_example(tmp_path)
    assert not (tmp_path / "shotlist.yaml").exists()
