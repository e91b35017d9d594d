"""SPEC 2, 12: ``POST /api/dispatch`` is ``recoil dispatch`` into the project's receipt log."""

from __future__ import annotations

import hashlib
from pathlib import Path

import httpx

from recoil.store.lock import ProjectLock
from tests.helpers import records
from tests.serving import Served
from tests.unit.server.api import error_of, log_bytes

KEYFRAME = {"modality": "keyframe", "payload": {"prompt": "a red door", "provider": "fake"}}


def test_dispatch_writes_one_receipt(project: Path, server: Served, client: httpx.Client) -> None:
    before = records(project, "receipt")
    response = client.post("/api/dispatch", json=KEYFRAME, headers=server.auth)
    assert response.status_code == 200
    receipt = response.json()
    assert (receipt["kind"], receipt["status"], receipt["modality"]) == (
        "receipt",
        "succeeded",
        "keyframe",
    )
    assert (receipt["provider"], receipt["prompt"]) == ("fake", "a red door")
    after = records(project, "receipt")
    assert after[: len(before)] == before
    (new,) = after[len(before) :]
    assert new == receipt
    # Its artifact is in the project, served by its hash.
    (artifact,) = receipt["artifacts"].values()
    assert (project / artifact["path"]).is_file()
    served = client.get(f"/media/{Path(artifact['path']).name}")
    assert hashlib.sha256(served.content).hexdigest() == artifact["sha256"]


def test_the_same_dispatch_again_is_a_cache_hit(
    project: Path, server: Served, client: httpx.Client
) -> None:
    body = {"modality": "keyframe", "payload": {**KEYFRAME["payload"], "seed": 5}}
    first = client.post("/api/dispatch", json=body, headers=server.auth).json()
    second = client.post("/api/dispatch", json=body, headers=server.auth).json()
    assert (first["cached"], second["cached"]) == (False, True)
    assert second["artifacts"] == first["artifacts"]
    assert len(records(project, "receipt")) == 10 + 2


def test_a_failed_dispatch_is_answered_with_its_receipt(
    project: Path, server: Served, client: httpx.Client
) -> None:
    body = {
        "modality": "keyframe",
        "payload": {"prompt": "x", "provider": "fake", "params": {"fake_fail": "permanent"}},
    }
    response = client.post("/api/dispatch", json=body, headers=server.auth)
    assert response.status_code == 200
    receipt = response.json()
    assert receipt["status"] == "failed"
    assert receipt["error"]
    assert records(project, "receipt")[-1] == receipt


def test_refused_dispatches_write_nothing(
    project: Path, server: Served, client: httpx.Client
) -> None:
    before = log_bytes(project)
    unknown = {"modality": "hologram", "payload": {}}
    message = error_of(client.post("/api/dispatch", json=unknown, headers=server.auth), 404)
    assert message.startswith("unknown modality 'hologram'")
    bad = {"modality": "keyframe", "payload": {"prompt": 5, "provider": "fake"}}
    message = error_of(client.post("/api/dispatch", json=bad, headers=server.auth), 400)
    assert "prompt" in message
    nobody = {"modality": "keyframe", "payload": {"prompt": "x", "provider": "nosuch"}}
    error_of(client.post("/api/dispatch", json=nobody, headers=server.auth), 404)
    assert log_bytes(project) == before


def test_dispatch_while_a_run_holds_the_project(
    project: Path, server: Served, client: httpx.Client
) -> None:
    before = log_bytes(project)
    lock = ProjectLock(project, command="recoil run")
    lock.acquire()
    try:
        response = client.post("/api/dispatch", json=KEYFRAME, headers=server.auth)
        assert "`recoil run`" in error_of(response, 409)
    finally:
        lock.release()
    assert log_bytes(project) == before
    assert client.post("/api/dispatch", json=KEYFRAME, headers=server.auth).status_code == 200
