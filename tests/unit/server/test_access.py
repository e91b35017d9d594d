"""SPEC 12: reads are open on localhost, every change needs the token, and a Host header
other than the bound host is refused (a page elsewhere cannot rebind a name to us)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.serving import Served
from tests.unit.server.api import WRITES, error_of, log_bytes, status

BODIES: dict[str, tuple[str, dict[str, Any] | None]] = {
    "/api/takes/{take_id}/approve": ("/api/takes/a-t02/approve", {"note": "good"}),
    "/api/takes/{take_id}/reject": ("/api/takes/a-t01/reject", {"note": "no", "frame": 2}),
    "/api/takes/{take_id}/notes": ("/api/takes/a-t01/notes", {"text": "hm", "frame": 1}),
    "/api/beats/{beat_id}/retake": ("/api/beats/a/retake", {"note": "again"}),
    "/api/export": ("/api/export", None),
    "/api/runs": ("/api/runs", {}),
    "/api/runs/current/stop": ("/api/runs/current/stop", None),
    "/api/dispatch": (
        "/api/dispatch",
        {"modality": "keyframe", "payload": {"prompt": "a cat", "provider": "fake"}},
    ),
}
"""A request that each write would carry out, given the token."""
assert set(BODIES) == {path for _, path in WRITES}

READ_PATHS = [
    "/api/project",
    "/api/scenes",
    "/api/beats/a",
    "/api/takes/a-t01",
    "/api/takes/a-t01/receipts",
    "/api/takes/a-t01/notes",
    "/api/receipts",
    "/api/cut",
    "/api/runs/current",
    "/cut.mp4",
    "/openapi.json",
    "/",
]


def _refusals(token: str) -> list[dict[str, str]]:
    """Authorization headers that are not the write token (and no header at all)."""
    return [
        {},
        {"Authorization": ""},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer wrong-token"},
        {"Authorization": f"Bearer {token}x"},
        {"Authorization": f"Bearer {token[:-1]}"},
        {"Authorization": f"Basic {token}"},
        {"Authorization": token},
        {"Authorization": f"Bearer {token.upper()}"},
        {"X-Token": token},
    ]


def _snapshot(project: Path) -> tuple[bytes, list[dict[str, Any]], dict[str, int]]:
    """The receipt log, ``recoil status --json`` and the exports' modification times."""
    exports = {p.name: p.stat().st_mtime_ns for p in (project / "exports").iterdir()}
    return log_bytes(project), status(project), exports


@pytest.mark.parametrize("route", sorted(BODIES))
def test_a_write_without_the_token_changes_nothing(
    project: Path, server: Served, client: httpx.Client, route: str
) -> None:
    path, body = BODIES[route]
    client.get("/api/project")  # the copy's first read makes it a project of its own
    before = _snapshot(project)
    for headers in _refusals(server.token):
        response = client.post(path, json=body, headers=headers)
        assert "write token" in error_of(response, 401), headers
        assert response.headers["www-authenticate"] == "Bearer"
        assert log_bytes(project) == before[0], headers
    assert client.get("/api/runs/current").json()["phase"] == "idle"
    assert _snapshot(project) == before
    # The same request with the token is carried out.
    assert client.post(path, json=body, headers=server.auth).status_code < 300


def test_reads_need_no_token(read: httpx.Client) -> None:
    for path in READ_PATHS:
        assert read.get(path).status_code == 200, path


def _forged(port: int) -> list[str]:
    return [
        "evil.example",
        f"evil.example:{port}",
        "127.0.0.1.evil.example",
        f"127.0.0.1.evil.example:{port}",
        f"localhost.evil.example:{port}",
        "evil-localhost",
        f"127.0.0.2:{port}",
        f"0.0.0.0:{port}",
        f"[::2]:{port}",
        "",
    ]


def test_a_forged_host_is_refused(reader: Served, read: httpx.Client) -> None:
    for host in _forged(reader.port):
        for path in READ_PATHS:
            response = read.get(path, headers={"Host": host})
            assert "answers to" in error_of(response, 421), (host, path)


def test_a_forged_host_cannot_write_even_with_the_token(
    project: Path, server: Served, client: httpx.Client
) -> None:
    before = log_bytes(project)
    for host in _forged(server.port):
        for path, body in BODIES.values():
            response = client.post(path, json=body, headers={**server.auth, "Host": host})
            error_of(response, 421)
    assert log_bytes(project) == before
    assert client.get("/api/runs/current").json()["phase"] == "idle"


def test_loopback_names_are_accepted(reader: Served, read: httpx.Client) -> None:
    port = reader.port
    for host in [
        f"127.0.0.1:{port}",
        f"localhost:{port}",
        f"LOCALHOST:{port}",
        "localhost",
        "127.0.0.1",
        f"[::1]:{port}",
    ]:
        response = read.get("/api/project", headers={"Host": host})
        assert response.status_code == 200, host
        assert response.json()["title"] == "Doors"
