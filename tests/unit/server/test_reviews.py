"""SPEC 6, 11, 12: approve, reject (with a frame), note, retake and export from the API,
each visible at once in ``recoil status`` and in the API's own reads."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import httpx

from tests.helpers import records, wait_until
from tests.serving import Served
from tests.unit.server.api import beat_row, error_of, status, take_row, timeline_takes


def _exported(client: httpx.Client, count: int) -> dict[str, Any]:
    """Wait for the background export to have run ``count`` times; its state."""

    def done() -> dict[str, Any] | None:
        state: dict[str, Any] = client.get("/api/cut").json()["export"]
        return state if state["exports"] >= count and not state["running"] else None

    return wait_until(done, what=f"{count} background exports")


def test_approve(project: Path, server: Served, client: httpx.Client) -> None:
    assert beat_row(status(project), "a")["primary_take_id"] == "a-t01"
    response = client.post(
        "/api/takes/a-t02/approve",
        json={"note": "better light", "author": "ed"},
        headers=server.auth,
    )
    assert response.status_code == 200
    assert response.json() == {"take_id": "a-t02", "review": "approved", "primary": True}
    # At once, in `recoil status` as a user runs it:
    rows = status(project, in_a_process=True)
    assert beat_row(rows, "a")["primary_take_id"] == "a-t02"
    approved = take_row(rows, "a-t02")
    assert (approved["review"], approved["primary"]) == ("approved", True)
    assert approved["notes"] == ["ed: better light"]
    assert take_row(rows, "a-t01")["primary"] is False
    # ... and in the API's reads.
    take = client.get("/api/takes/a-t02").json()
    assert (take["review"], take["primary"]) == ("approved", True)
    (note,) = client.get("/api/takes/a-t02/notes").json()
    assert note["author"] == "ed"
    assert note["text"] == "better light"
    assert note["frame"] is None
    assert note["created_at"]
    assert client.get("/api/beats/a").json()["primary_take_id"] == "a-t02"
    assert client.get("/api/cut").json()["beats"][0]["take_id"] == "a-t02"
    # The exports follow in the background.
    assert _exported(client, 1)["error"] is None
    assert timeline_takes(project)["a"] == "a-t02"
    # The decision is a review record in the receipt log.
    (review,) = records(project, "review")
    assert review["take_id"] == "a-t02"


def test_approve_without_a_body_field(project: Path, server: Served, client: httpx.Client) -> None:
    response = client.post("/api/takes/b-t02/approve", json={}, headers=server.auth)
    assert response.status_code == 200
    row = take_row(status(project), "b-t02")
    assert (row["review"], row["primary"], len(row["notes"])) == ("approved", True, 0)


def test_reject_with_a_frame(project: Path, server: Served, client: httpx.Client) -> None:
    response = client.post(
        "/api/takes/b-t01/reject",
        json={"note": "too dark", "frame": 7, "author": "ed"},
        headers=server.auth,
    )
    assert response.status_code == 200
    assert response.json() == {"take_id": "b-t01", "review": "retake", "queued": "b-t03"}
    rows = status(project)
    rejected = take_row(rows, "b-t01")
    assert (rejected["review"], rejected["primary"]) == ("retake", False)
    assert rejected["notes"] == ["ed [frame 7]: too dark"]
    assert take_row(rows, "b-t03")["status"] == "pending"
    assert beat_row(rows, "b")["primary_take_id"] == "b-t02"  # a rejected take is not used
    (note,) = client.get("/api/takes/b-t01/notes").json()
    assert (note["text"], note["frame"], note["author"]) == ("too dark", 7, "ed")
    queued = client.get("/api/takes/b-t03").json()
    assert (queued["status"], queued["retake_of"], queued["note"]) == (
        "pending",
        "b-t01",
        "too dark",
    )
    assert queued["media"] == {}
    assert [t["take_id"] for t in client.get("/api/beats/b").json()["takes"]] == [
        "b-t01",
        "b-t02",
        "b-t03",
    ]
    _exported(client, 1)
    assert timeline_takes(project)["b"] == "b-t02"


def test_frame_pinned_note(project: Path, server: Served, client: httpx.Client) -> None:
    response = client.post(
        "/api/takes/a-t01/notes",
        json={"text": "the door jumps here", "frame": 3, "author": "ed"},
        headers=server.auth,
    )
    assert response.status_code == 201
    written = response.json()
    assert (written["text"], written["frame"], written["author"]) == (
        "the door jumps here",
        3,
        "ed",
    )
    assert client.get("/api/takes/a-t01/notes").json() == [written]
    second = client.post(
        "/api/takes/a-t01/notes", json={"text": "and here", "frame": 0}, headers=server.auth
    ).json()
    assert client.get("/api/takes/a-t01/notes").json() == [written, second]
    assert second["author"]  # the user's name when none is given
    row = take_row(status(project), "a-t01")
    assert row["review"] == "pending"  # a note leaves the review status as it is
    assert row["notes"] == [
        "ed [frame 3]: the door jumps here",
        f"{second['author']} [frame 0]: and here",
    ]
    assert client.get("/api/takes/a-t01").json()["notes"] == [written, second]


def test_retake(project: Path, server: Served, client: httpx.Client) -> None:
    response = client.post("/api/beats/a/retake", json={"note": "slower"}, headers=server.auth)
    assert response.status_code == 201
    queued = response.json()
    assert queued["beat_id"] == "a"
    assert queued["queued"] == "a-t03"
    assert isinstance(queued["seed"], int)
    rows = status(project)
    assert [t["take_id"] for t in beat_row(rows, "a")["takes"]] == ["a-t01", "a-t02", "a-t03"]
    assert take_row(rows, "a-t03")["status"] == "pending"
    take = client.get("/api/takes/a-t03").json()
    assert (take["status"], take["seed"], take["note"]) == ("pending", queued["seed"], "slower")
    assert client.get("/api/project").json()["takes"] == 5
    again = client.post("/api/beats/a/retake", json={}, headers=server.auth).json()
    assert again["queued"] == "a-t04"
    assert again["seed"] != queued["seed"]


def test_export(project: Path, server: Served, client: httpx.Client) -> None:
    outputs = ["cut.mp4", "cut.otio", "contact.html", "contact.png"]
    response = client.post("/api/export", headers=server.auth)
    assert response.status_code == 200
    assert response.json()["outputs"] == outputs
    # Exported again with nothing changed, nothing is written.
    again = client.post("/api/export", headers=server.auth).json()
    assert again == {"written": False, "missing": [], "outputs": outputs}
    # Decide, then export: the new primary is in the cut.
    for path in ["/api/takes/a-t02/approve", "/api/takes/b-t02/approve"]:
        assert client.post(path, json={}, headers=server.auth).status_code == 200
    exported = client.post("/api/export", headers=server.auth).json()
    # (written or not: the background export the approvals asked for may have come first)
    assert (exported["outputs"], exported["missing"]) == (outputs, [])
    assert timeline_takes(project) == {"a": "a-t02", "b": "b-t02"}
    assert sorted(p.name for p in (project / "exports").iterdir() if p.name in outputs) == sorted(
        outputs
    )


def test_a_rejected_primary_leaves_a_hole_once_every_take_is_rejected(
    project: Path, server: Served, client: httpx.Client
) -> None:
    for take_id in ["a-t01", "a-t02"]:
        response = client.post(
            f"/api/takes/{take_id}/reject", json={"note": "no"}, headers=server.auth
        )
        assert response.status_code == 200
    assert beat_row(status(project), "a")["primary_take_id"] is None
    exported = client.post("/api/export", headers=server.auth).json()
    assert exported["missing"] == ["a"]
    assert client.get("/api/cut").json()["beats"][0]["take_id"] is None


def test_approving_a_pending_take_is_refused(
    project: Path, server: Served, client: httpx.Client
) -> None:
    client.post("/api/beats/a/retake", json={}, headers=server.auth)
    before = status(project)
    message = error_of(client.post("/api/takes/a-t03/approve", json={}, headers=server.auth), 409)
    assert message == "take 'a-t03' is pending; only a succeeded take can be approved"
    assert status(project) == before


def test_notes_at_once_are_all_kept(project: Path, server: Served, client: httpx.Client) -> None:
    texts = [f"note {n}" for n in range(8)]
    answers: list[int] = []

    def write(text: str) -> None:
        with httpx.Client(base_url=server.url, timeout=60) as own:
            answer = own.post("/api/takes/a-t01/notes", json={"text": text}, headers=server.auth)
            answers.append(answer.status_code)

    threads = [threading.Thread(target=write, args=(text,)) for text in texts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers == [201] * len(texts)
    notes = client.get("/api/takes/a-t01/notes").json()
    assert sorted(n["text"] for n in notes) == texts
    assert len(take_row(status(project), "a-t01")["notes"]) == len(texts)
