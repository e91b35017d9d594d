"""SPEC 12: ``recoil review``: its usage errors are one line, exit code 2; a port that
cannot be had is one line; ``--new-token`` rotates the write token; it serves."""

from __future__ import annotations

import socket
import stat
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from recoil.server.token import TOKEN_FILE
from tests.helpers import beat, shotlist, write_project
from tests.unit.cli.running import Recoil, error_line

FILM = shotlist({"one": [beat("a", "a door opens")]}, title="Door", provider="fake")


@pytest.fixture
def film(tmp_path: Path) -> Path:
    """An unrun one-beat film."""
    return write_project(tmp_path / "film", FILM)


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port of 127.0.0.1 another program listens on."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        yield other.getsockname()[1]


def test_missing_folder(recoil: Recoil, tmp_path: Path) -> None:
    result = recoil("review", "nope")
    assert result.exit_code == 2
    missing = tmp_path / "nope"
    assert error_line(result) == (
        f"error: {missing}: no such project folder; create one with: recoil init {missing}"
    )
    assert not (tmp_path / "nope").exists()


def test_a_file_is_not_a_project(recoil: Recoil, tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hi")
    result = recoil("review", "notes.txt")
    assert result.exit_code == 2
    assert "no such project folder" in error_line(result)


def test_a_folder_without_a_shot_list(recoil: Recoil, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    result = recoil("review", "empty")
    assert result.exit_code == 2
    error_line(result)


@pytest.mark.parametrize("port", ["65536", "70000", "-1", "http", "80.5", ""])
def test_port_out_of_range(recoil: Recoil, film: Path, port: str) -> None:
    result = recoil("review", film, "--port", port)
    assert result.exit_code == 2
    line = error_line(result)
    assert "--port" in line, line


def test_missing_argument_and_unknown_option(recoil: Recoil, film: Path) -> None:
    for args in [("review",), ("review", film, "--bogus")]:
        result = recoil(*args)
        assert result.exit_code == 2
        error_line(result)


def test_a_port_in_use(recoil: Recoil, film: Path, taken_port: int) -> None:
    result = recoil("review", film, "--port", str(taken_port))
    assert result.exit_code == 1
    assert error_line(result) == (
        f"error: cannot listen on 127.0.0.1:{taken_port}: Address already in use; choose "
        "another --port (0 picks a free one) or stop what uses it"
    )
    assert result.stdout == ""  # no URL, no token printed for a server that is not there


def test_a_host_that_is_not_ours(recoil: Recoil, film: Path) -> None:
    result = recoil("review", film, "--host", "192.0.2.1", "--port", "0")  # TEST-NET-1
    assert result.exit_code == 1
    assert error_line(result).startswith("error: cannot listen on 192.0.2.1:0: ")


def test_new_token_rotates_it(recoil: Recoil, film: Path, taken_port: int) -> None:
    token_file = film / TOKEN_FILE
    recoil("review", film, "--port", str(taken_port))  # fails on the port, after the token
    first = token_file.read_text()
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    recoil("review", film, "--port", str(taken_port))
    assert token_file.read_text() == first  # kept
    recoil("review", film, "--port", str(taken_port), "--new-token")
    assert token_file.read_text() != first
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600


@pytest.mark.slow
def test_it_serves_until_ctrl_c(film: Path, clean_env: None) -> None:
    from tests.unit.server.api import reviewing

    with reviewing(film) as served:
        assert served.url.startswith("http://127.0.0.1:")
        assert served.token == (film / TOKEN_FILE).read_text().strip()
        with httpx.Client(base_url=served.url, timeout=60) as client:
            assert client.get("/api/project").json()["title"] == "Door"
            note = {"text": "hm"}
            retake = client.post("/api/beats/a/retake", json=note)
            assert retake.status_code == 401
            retake = client.post("/api/beats/a/retake", json={}, headers=served.auth)
            assert retake.status_code == 201
