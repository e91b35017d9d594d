"""Bad input and unusable paths end a command with one line on stderr and exit code 2."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from typer.testing import Result

from recoil.errors import ConfigError, NotFoundError
from tests.unit.cli.running import Recoil, error_line

SMALL = ["--param", "width=64", "--param", "height=36"]
"""A keyframe small enough to render at once."""


def bad_input(result: Result) -> str:
    """The one ``error:`` line of a command that failed on bad input (exit 2)."""
    line = error_line(result)
    assert result.exit_code == 2, line
    return line


@pytest.fixture
def project(recoil: Recoil, tmp_path: Path) -> Path:
    """The example project of ``recoil init``, as ``p`` in the current folder."""
    assert recoil("init", "p").exit_code == 0
    return Path("p")


def test_init_where_the_folder_cannot_be_made(recoil: Recoil, tmp_path: Path) -> None:
    Path("a-file").write_text("")
    assert bad_input(recoil("init", "a-file/film")) == (
        "error: cannot create a-file/film: not a directory; "
        "choose a folder you can write to for the new project"
    )
    if Path("/proc/self").is_dir():  # a file system where nobody may make a folder
        assert bad_input(recoil("init", "/proc/x")).startswith("error: cannot create /proc/x: ")


def test_debug_shows_the_error_itself(recoil: Recoil) -> None:
    Path("a-file").write_text("")
    result = recoil("--debug", "init", "a-file/film")
    assert isinstance(result.exception, ConfigError)


def test_settings_that_are_not_utf8(recoil: Recoil, project: Path) -> None:
    (project / "recoil.toml").write_bytes(b'[project]\nshotlist = "caf\xe9.yaml"\n')
    expected = "error: p/recoil.toml: not UTF-8 text (byte 25 is 0xe9); save the file as UTF-8"
    assert bad_input(recoil("status", project)) == expected
    assert bad_input(recoil("dispatch", "keyframe", "--project", project)) == expected


def test_settings_values_are_not_coerced(recoil: Recoil, project: Path) -> None:
    (project / "recoil.toml").write_text('[project]\nembed_prompts = "yes"\n')
    assert bad_input(recoil("dispatch", "keyframe", "--project", project, *SMALL)) == (
        "error: p/recoil.toml: project.embed_prompts: got 'yes', expected true or false"
    )


def test_unsupported_database_url(
    recoil: Recoil, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = (
        "got a mysql:// URL, expected postgresql://user@host/db or sqlite:///path/recoil.db "
        "(or leave it unset for the project's SQLite file)"
    )
    settings = project / "recoil.toml"
    settings.write_text('[project]\ndatabase_url = "mysql://me@db/recoil"\n')
    assert bad_input(recoil("status", project)) == (
        f"error: p/recoil.toml: project.database_url: {expected}"
    )
    settings.unlink()
    monkeypatch.setenv("RECOIL_DATABASE_URL", "mysql://me:hunter2@db/recoil")
    assert bad_input(recoil("receipts", project)) == (
        f"error: environment variable RECOIL_DATABASE_URL: {expected}"
    )


def test_unknown_beat_or_take(recoil: Recoil, project: Path) -> None:
    assert bad_input(recoil("retake", project, "arival")) == (
        "error: project 'The Last Train' has no beat 'arival' (did you mean 'arrival'?)"
    )
    assert bad_input(recoil("retake", project, "nosuch")) == (
        "error: project 'The Last Train' has no beat 'nosuch'; "
        "beats: arrival, guard, reply, clock, offer"
    )
    assert bad_input(recoil("approve", project, "arrival-t1")) == (
        "error: no take 'arrival-t1' in this project (did you mean 'arrival-t01'?)"
    )
    assert bad_input(recoil("reject", project, "guard-t1", "--note", "darker")) == (
        "error: no take 'guard-t1' in this project (did you mean 'guard-t01'?)"
    )


def test_a_missing_take_is_not_found(recoil: Recoil, project: Path) -> None:
    """``recoil approve P no-such-take``: one line, the not-found exit code (2)."""
    line = bad_input(recoil("approve", project, "no-such-take"))
    assert line == "error: no take 'no-such-take' in this project"
    result = recoil("--debug", "approve", project, "no-such-take")
    assert isinstance(result.exception, NotFoundError)
    assert NotFoundError.exit_code == 2


def test_dispatch_needs_an_existing_project_folder(recoil: Recoil) -> None:
    line = bad_input(recoil("dispatch", "keyframe", "--project", "missing-folder"))
    assert line == (
        "error: recoil dispatch: invalid value for '--project': folder 'missing-folder' does "
        "not exist; create it with: mkdir missing-folder (or recoil init missing-folder for a "
        "project with an example shot list) (see: recoil dispatch --help)"
    )
    assert not Path("missing-folder").exists()
    Path("a-file").write_text("")
    assert "'a-file' is a file, not a folder" in bad_input(
        recoil("dispatch", "keyframe", "--project", "a-file")
    )


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_dispatch_into_a_read_only_project(recoil: Recoil) -> None:
    folder = Path("p")
    folder.mkdir()
    folder.chmod(0o555)
    try:
        line = bad_input(recoil("dispatch", "keyframe", "--project", folder, *SMALL))
    finally:
        folder.chmod(0o755)
    assert "permission denied; make it and its folder writable by you" in line


def test_dispatch_into_a_project_that_cannot_hold_artifacts(recoil: Recoil) -> None:
    # The OS error of an unwritable project without needing a non-root user: the
    # artifacts folder is a file.
    folder = Path("p")
    folder.mkdir()
    (folder / "artifacts").write_text("")
    line = bad_input(recoil("dispatch", "keyframe", "--project", folder, *SMALL))
    assert re.fullmatch(
        r"error: cannot use \S+/p/artifacts/[0-9a-f]{2}: a part of the path is a file, "
        r"not a folder; check the path",
        line,
    ), line
