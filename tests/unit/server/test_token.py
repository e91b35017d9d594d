"""SPEC 12: the write token is kept in the project, readable by its owner only, and
``--new-token`` (``rotate``) replaces it."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from recoil.records.redact import redact_text
from recoil.server.token import TOKEN_FILE, review_token, token_matches
from tests.serving import serving
from tests.unit.server.api import error_of


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(params=[0o022, 0o000, 0o077])
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    """Run the test under this umask (the file's mode must not depend on it)."""
    old = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(old)


def test_made_on_first_use_owner_only(tmp_path: Path, umask: int) -> None:
    token = review_token(tmp_path)
    path = tmp_path / TOKEN_FILE
    assert _mode(path) == 0o600
    assert path.read_text() == f"{token}\n"
    assert len(token) >= 40
    assert review_token(tmp_path) == token  # kept
    assert [p.name for p in tmp_path.iterdir()] == [TOKEN_FILE]  # no scratch file left


def test_rotate(tmp_path: Path, umask: int) -> None:
    first = review_token(tmp_path)
    second = review_token(tmp_path, rotate=True)
    assert second != first
    assert (tmp_path / TOKEN_FILE).read_text() == f"{second}\n"
    assert _mode(tmp_path / TOKEN_FILE) == 0o600
    assert review_token(tmp_path) == second
    assert [p.name for p in tmp_path.iterdir()] == [TOKEN_FILE]


def test_a_readable_token_file_is_made_owner_only(tmp_path: Path) -> None:
    token = review_token(tmp_path)
    (tmp_path / TOKEN_FILE).chmod(0o644)
    assert review_token(tmp_path) == token
    assert _mode(tmp_path / TOKEN_FILE) == 0o600


def test_an_empty_token_file_gets_a_token(tmp_path: Path) -> None:
    (tmp_path / TOKEN_FILE).write_text("\n")
    token = review_token(tmp_path)
    assert token
    assert (tmp_path / TOKEN_FILE).read_text() == f"{token}\n"


def test_the_token_is_redacted_from_error_text(tmp_path: Path) -> None:
    token = review_token(tmp_path)
    assert token not in redact_text(f"bad token {token}")


def test_token_matches() -> None:
    assert token_matches("abc", "abc")
    assert not token_matches("abd", "abc")
    assert not token_matches("", "abc")
    assert not token_matches("abc\u00e9", "abc")


def test_a_rotated_token_replaces_the_old_one(project: Path) -> None:
    old = review_token(project)
    new = review_token(project, rotate=True)
    with serving(project) as server, httpx.Client(base_url=server.url, timeout=60) as client:
        assert server.token == new
        note = {"text": "hm"}
        refused = client.post(
            "/api/takes/a-t01/notes", json=note, headers={"Authorization": f"Bearer {old}"}
        )
        error_of(refused, 401)
        accepted = client.post(
            "/api/takes/a-t01/notes", json=note, headers={"Authorization": f"Bearer {new}"}
        )
        assert accepted.status_code == 201
