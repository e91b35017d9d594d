"""SPEC 12 (and 3): no response holds a credential, nor the write token (but the page's
own ``#token=`` URL, which ``recoil review`` prints and no response carries)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.helpers import wait_until
from tests.serving import Served
from tests.unit.server.api import SECRET

ENV_SECRET = "r8_envsecret_9d8c7b6a5f4e3d2c1b0a"
"""A credential in a secret-named environment variable."""


def test_no_response_holds_a_secret_or_the_token(
    project: Path, server: Served, client: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REPLICATE_API_TOKEN", ENV_SECRET)
    answers: list[httpx.Response] = []
    # Writes first, so that the server has used the credentials (a run, a dispatch)
    # and the store holds every kind of record.
    auth = server.auth
    for path, body in [
        ("/api/beats/a/retake", {"note": "again"}),
        ("/api/takes/b-t02/approve", {"note": "good", "author": "ed"}),
        ("/api/takes/b-t01/reject", {"note": "too dark", "frame": 4}),
        ("/api/takes/a-t01/notes", {"text": "door", "frame": 1}),
        ("/api/runs", {}),
    ]:
        answers.append(client.post(path, json=body, headers=auth))
    wait_until(lambda: not client.get("/api/runs/current").json()["active"], what="the run")
    answers.append(client.post("/api/runs/current/stop", headers=auth))
    dispatch = {"modality": "keyframe", "payload": {"prompt": "a door", "provider": "fake"}}
    answers.append(client.post("/api/dispatch", json=dispatch, headers=auth))
    answers.append(client.post("/api/export", headers=auth))
    assert all(a.status_code < 300 for a in answers), [a.text for a in answers]
    # Every read.
    take_ids = [
        take["take_id"]
        for scene in client.get("/api/scenes").json()
        for beat in scene["beats"]
        for take in beat["takes"]
    ]
    assert len(take_ids) == 6  # the film's four, a retake and a rejection's new take
    paths = [
        "/api/project",
        "/api/scenes",
        "/api/beats/a",
        "/api/beats/b",
        "/api/receipts",
        "/api/cut",
        "/api/runs/current",
        "/openapi.json",
        "/",
    ]
    for take_id in take_ids:
        paths += [f"/api/takes/{take_id}", f"/api/takes/{take_id}/receipts"]
        paths += [f"/api/takes/{take_id}/notes"]
    for path in paths:
        answers.append(client.get(path))
        assert answers[-1].status_code == 200, path
    with client.stream("GET", "/api/events") as events:
        lines = events.iter_lines()
        first = next(lines) + next(lines)
        assert first.startswith("event: run")
    for take_id in take_ids:
        for medium in client.get(f"/api/takes/{take_id}").json()["media"].values():
            answers.append(client.get(medium["url"]))
    # Errors too.
    answers.append(client.post("/api/takes/a-t01/approve", json={}))
    answers.append(client.get("/api/takes/nosuch"))
    answers.append(client.get("/api/project", headers={"Host": "evil.example"}))

    secrets = [SECRET, ENV_SECRET, server.token]
    for answer in answers:
        where = f"{answer.request.method} {answer.request.url.path}"
        for secret in secrets:
            assert secret.encode() not in answer.content, (where, secret)
            assert secret not in str(answer.headers), (where, secret)
    assert first.count(SECRET) == first.count(server.token) == 0
