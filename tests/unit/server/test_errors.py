"""SPEC 12: every error is JSON, ``{"error": "<one line>"}``, with a status that says what
happened; an error changes nothing."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from recoil.production.review import retake
from recoil.production.run import run_production_sync
from tests.serving import Served, serving
from tests.unit.server.api import error_of, log_bytes, status, take_row


@pytest.mark.parametrize(
    "path", ["/api/takes/nosuch", "/api/takes/nosuch/receipts", "/api/takes/nosuch/notes"]
)
def test_unknown_take(read: httpx.Client, path: str) -> None:
    assert error_of(read.get(path), 404) == "no take 'nosuch' in this project"


def test_unknown_take_near_a_known_one(read: httpx.Client) -> None:
    message = error_of(read.get("/api/takes/a-t1"), 404)
    assert message == "no take 'a-t1' in this project (did you mean 'a-t01'?)"


def test_unknown_beat(read: httpx.Client) -> None:
    assert error_of(read.get("/api/beats/zz"), 404) == "no beat 'zz' in this project"


def test_odd_ids_are_one_line(read: httpx.Client) -> None:
    for take_id in ["a-t01%0a", "%0d%0aX-Injected:%201", "a%00b", "%E2%80%A8", "x" * 3000]:
        message = error_of(read.get(f"/api/takes/{take_id}"), 404)
        assert "X-Injected" not in read.get(f"/api/takes/{take_id}").headers
        assert message.startswith("no take ")


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/takes/nosuch/approve", {}),
        ("/api/takes/nosuch/reject", {"note": "no"}),
        ("/api/takes/nosuch/notes", {"text": "hm"}),
    ],
)
def test_writes_on_an_unknown_take(
    project: Path, server: Served, client: httpx.Client, path: str, body: dict[str, str]
) -> None:
    before = log_bytes(project)
    assert error_of(client.post(path, json=body, headers=server.auth), 404).startswith(
        "no take 'nosuch'"
    )
    assert log_bytes(project) == before


def test_retake_of_an_unknown_beat(project: Path, server: Served, client: httpx.Client) -> None:
    before = log_bytes(project)
    response = client.post("/api/beats/zz/retake", json={}, headers=server.auth)
    assert error_of(response, 404) == "project 'Doors' has no beat 'zz'; beats: a, b"
    assert log_bytes(project) == before


def test_approving_a_pending_or_failed_take(project: Path) -> None:
    """a-t03 fails (its provider is slower than the run's timeout); a-t04 is pending."""
    retake(project, "a")
    (project / "recoil.toml").write_text(
        "[run]\nretries = 0\ntimeout_s = 0.2\n\n[providers.fake]\nlatency_s = 5\n"
    )
    assert run_production_sync(project).report.failed == 1
    retake(project, "a")
    rows = status(project)
    assert take_row(rows, "a-t03")["status"] == "failed"
    assert take_row(rows, "a-t04")["status"] == "pending"
    with serving(project) as server, httpx.Client(base_url=server.url, timeout=60) as client:
        failed = client.get("/api/takes/a-t03").json()
        (step,) = [s for s in failed["steps"] if s["status"] == "failed"]
        assert "no answer within 0.2 s" in step["error"]
        assert step["attempts"][-1]["status"] == "failed"
        before = log_bytes(project)
        for take_id, run_status in [("a-t03", "failed"), ("a-t04", "pending")]:
            response = client.post(f"/api/takes/{take_id}/approve", json={}, headers=server.auth)
            assert error_of(response, 409) == (
                f"take '{take_id}' is {run_status}; only a succeeded take can be approved"
            )
        assert log_bytes(project) == before
        assert status(project) == rows


MALFORMED = [
    # (path, raw body or JSON, the message)
    ("/api/takes/a-t01/approve", b"{", "JSON decode error"),
    ("/api/takes/a-t01/approve", b"", "Field required"),
    ("/api/takes/a-t01/approve", [], "valid dictionary"),
    ("/api/takes/a-t01/approve", "yes", "valid dictionary"),
    ("/api/takes/a-t01/approve", {"note": 5}, "note: Input should be a valid string"),
    ("/api/takes/a-t01/approve", {"author": ""}, "author: String should have at least 1"),
    ("/api/takes/a-t01/reject", {}, "note: Field required"),
    ("/api/takes/a-t01/reject", {"note": ""}, "note: String should have at least 1"),
    ("/api/takes/a-t01/reject", {"note": "x", "frame": -1}, "frame: Input should be greater"),
    ("/api/takes/a-t01/reject", {"note": "x", "frame": "one"}, "frame: Input should be"),
    ("/api/takes/a-t01/reject", {"note": "x", "frame": 1.5}, "frame: Input should be"),
    ("/api/takes/a-t01/notes", {"frame": 1}, "text: Field required"),
    ("/api/takes/a-t01/notes", {"text": "x" * 10_001}, "text: String should have at most"),
    ("/api/beats/a/retake", {"note": ["x"]}, "note: Input should be a valid string"),
    ("/api/runs", {"concurrency": 0}, "concurrency: Input should be greater"),
    ("/api/runs", {"budget": -1}, "budget: Input should be greater"),
    ("/api/runs", {"use_cache": "maybe"}, "use_cache: Input should be a valid boolean"),
    ("/api/dispatch", {}, "modality: Field required"),
    ("/api/dispatch", {"modality": "keyframe", "payload": []}, "payload: Input should be"),
]
UNKNOWN_FIELDS = [
    ("/api/takes/a-t01/approve", {"bogus": 1}, "bogus: Extra inputs are not permitted"),
    ("/api/takes/a-t01/reject", {"note": "x", "frames": 2}, "frames: Extra inputs are not"),
    ("/api/takes/a-t01/notes", {"text": "x", "take": "a"}, "take: Extra inputs are not"),
    ("/api/beats/a/retake", {"seed": 1}, "seed: Extra inputs are not permitted"),
    ("/api/runs", {"dry_run": True}, "dry_run: Extra inputs are not permitted"),
    ("/api/dispatch", {"modality": "keyframe", "prompt": "x"}, "prompt: Extra inputs are not"),
]


def test_malformed_bodies_and_unknown_fields(
    project: Path, server: Served, client: httpx.Client
) -> None:
    client.get("/api/project")
    before = (log_bytes(project), status(project))
    for path, body, expected in MALFORMED + UNKNOWN_FIELDS:
        if isinstance(body, bytes):
            response = client.post(
                path, content=body, headers={**server.auth, "Content-Type": "application/json"}
            )
        else:
            response = client.post(path, json=body, headers=server.auth)
        message = error_of(response, 422)
        assert expected in message, (path, body, message)
    assert (log_bytes(project), status(project)) == before
    assert client.get("/api/runs/current").json()["phase"] == "idle"


def test_a_body_with_several_problems_is_still_one_line(
    server: Served, client: httpx.Client
) -> None:
    body = {"note": "", "frame": -1, "author": "", "extra": 1}
    message = error_of(client.post("/api/takes/a-t01/reject", json=body, headers=server.auth), 422)
    assert message.count(";") >= 3, message


def test_bad_query(read: httpx.Client) -> None:
    for limit in ["0", "10001", "many", "-1"]:
        message = error_of(read.get("/api/receipts", params={"limit": limit}), 422)
        assert message.startswith("query.limit: "), message


def test_unknown_route_and_method(read: httpx.Client) -> None:
    assert error_of(read.get("/api/nosuch"), 404) == "Not Found"
    assert error_of(read.get("/api/takes/a-t01/approve"), 405) == "Method Not Allowed"
    assert error_of(read.put("/api/project"), 405) == "Method Not Allowed"
    assert error_of(read.delete("/api/takes/a-t01"), 405) == "Method Not Allowed"
