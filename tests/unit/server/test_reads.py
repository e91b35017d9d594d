"""SPEC 12: every read route answers what the store holds (the film, run once)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.helpers import records
from tests.unit.server.api import OPERATIONS, beat_row, status, take_row

TAKES = ["a-t01", "a-t02", "b-t01", "b-t02"]
STEPS = {"a": ["keyframe", "video"], "b": ["keyframe", "video", "audio"]}


@pytest.fixture(scope="module")
def rows(film: Path) -> list[dict[str, Any]]:
    """``recoil status film --json``."""
    return status(film, in_a_process=True)


def _receipts(film: Path, take_id: str | None = None) -> list[dict[str, Any]]:
    """The receipts of the log (of one take), oldest first."""
    found = [
        r
        for r in records(film, "receipt")
        if take_id is None or r["provenance"].get("take_id") == take_id
    ]
    return sorted(found, key=lambda r: r["started_us"])


def test_project(read: httpx.Client, film: Path) -> None:
    project = read.get("/api/project").json()
    cost = sum(r["cost"]["amount"] for r in _receipts(film))
    assert cost == pytest.approx(0.10)  # ten dispatches at 0.01
    assert project == {
        "title": "Doors",
        "fps": 12.0,
        "width": 160,
        "height": 90,
        "currency": "USD",
        "primary_strategy": "first_success",
        "scenes": 1,
        "beats": 2,
        "takes": 4,
        "cost": pytest.approx(cost),
        "notes": [],
        "run": read.get("/api/runs/current").json(),
    }
    assert project["run"]["phase"] == "idle"
    assert project["run"]["active"] is False


def test_scenes_are_what_status_shows(read: httpx.Client, rows: list[dict[str, Any]]) -> None:
    (scene,) = read.get("/api/scenes").json()
    assert scene["scene_id"] == "one"
    assert [b["beat_id"] for b in scene["beats"]] == [r["beat_id"] for r in rows] == ["a", "b"]
    for beat, row in zip(scene["beats"], rows, strict=True):
        assert beat["primary_take_id"] == row["primary_take_id"]
        assert beat["enabled"] is row["enabled"] is True
        assert [t["take_id"] for t in beat["takes"]] == [t["take_id"] for t in row["takes"]]
        for take, expected in zip(beat["takes"], row["takes"], strict=True):
            assert take["status"] == expected["status"] == "succeeded"
            assert take["review"] == expected["review"] == "pending"
            assert take["primary"] is expected["primary"]
            assert take["cost"] == pytest.approx(expected["cost"])
            assert take["score"] == pytest.approx(expected["score"])
            assert take["notes"] == expected["notes"] == []


@pytest.mark.parametrize("beat_id", ["a", "b"])
def test_beat(read: httpx.Client, rows: list[dict[str, Any]], beat_id: str) -> None:
    beat = read.get(f"/api/beats/{beat_id}").json()
    (scene,) = read.get("/api/scenes").json()
    assert beat == next(b for b in scene["beats"] if b["beat_id"] == beat_id)
    assert beat["title"] == {"a": "a door opens", "b": "a door closes"}[beat_id]
    assert beat["duration_s"] == 1.0
    assert beat["primary_take_id"] == beat_row(rows, beat_id)["primary_take_id"]
    assert [t["take_id"] for t in beat["takes"]] == [f"{beat_id}-t01", f"{beat_id}-t02"]


@pytest.mark.parametrize("take_id", TAKES)
def test_take_with_steps_attempts_and_sidecars(
    read: httpx.Client, film: Path, rows: list[dict[str, Any]], take_id: str
) -> None:
    take = read.get(f"/api/takes/{take_id}").json()
    beat_id = take_id.split("-", maxsplit=1)[0]
    row = take_row(rows, take_id)
    assert take["take_id"] == take_id
    assert (take["scene_id"], take["beat_id"]) == ("one", beat_id)
    assert take["take_index"] == int(take_id[-2:]) - 1
    assert (take["status"], take["review"], take["primary"]) == (
        row["status"],
        row["review"],
        row["primary"],
    )
    assert take["cost"] == pytest.approx(row["cost"]) == pytest.approx(0.01 * len(STEPS[beat_id]))
    logged = {r["provenance"]["workflow_step_id"]: r for r in _receipts(film, take_id)}
    assert [s["step_id"] for s in take["steps"]] == STEPS[beat_id]
    assert sorted(logged) == sorted(STEPS[beat_id])  # one receipt a step
    for step in take["steps"]:
        receipt = logged[step["step_id"]]
        assert step["status"] == "succeeded"
        assert step["error"] is None
        assert (step["provider"], step["model"]) == ("fake", f"fake-{step['modality']}")
        assert step["prompt"] == receipt["prompt"]
        assert step["seed"] == receipt["seed"] == take["seed"]
        assert step["attempts"] == [receipt]  # the receipt as the log holds it
    assert take["prompt"] == logged["keyframe"]["prompt"]
    assert take["scores"]
    assert {name.split(".")[0] for name in take["scores"]} <= set(STEPS[beat_id])
    assert all(0.0 <= value <= 1.0 for value in take["scores"].values())
    # The media are the steps' artifacts, served by hash, each with its provenance sidecar.
    labels = {"keyframe": "keyframe", "video": "video", "audio": "audio"}
    assert set(take["media"]) == set(take["sidecars"]) == {labels[s] for s in STEPS[beat_id]}
    for label, media in take["media"].items():
        (artifact,) = logged[label]["artifacts"].values()
        assert media["sha256"] == artifact["sha256"]
        assert media["mime"] == artifact["mime"]
        assert media["url"] == f"/media/{Path(artifact['path']).name}"
        sidecar = film / f"{artifact['path']}.json"
        assert take["sidecars"][label] == json.loads(sidecar.read_text())
        assert take["sidecars"][label]["receipt_id"] == logged[label]["receipt_id"]


@pytest.mark.parametrize("take_id", TAKES)
def test_take_receipts(read: httpx.Client, film: Path, take_id: str) -> None:
    assert read.get(f"/api/takes/{take_id}/receipts").json() == _receipts(film, take_id)


@pytest.mark.parametrize("take_id", TAKES)
def test_take_notes_of_an_unreviewed_film(read: httpx.Client, take_id: str) -> None:
    # Notes that were written are read back in test_reviews.
    assert read.get(f"/api/takes/{take_id}/notes").json() == []


def test_receipts(read: httpx.Client, film: Path) -> None:
    logged = _receipts(film)
    assert len(logged) == 10
    assert read.get("/api/receipts").json() == logged
    assert read.get("/api/receipts", params={"limit": 3}).json() == logged[-3:]
    assert read.get("/api/receipts", params={"limit": 1}).json() == logged[-1:]
    assert read.get("/api/receipts", params={"limit": 10_000}).json() == logged


def test_cut(read: httpx.Client, film: Path, rows: list[dict[str, Any]]) -> None:
    cut = read.get("/api/cut").json()
    assert cut == {
        "url": "/cut.mp4",
        "fps": 12.0,
        "duration_s": 2.0,
        "beats": [
            {
                "scene_id": "one",
                "beat_id": "a",
                "title": "a door opens",
                "start_s": 0.0,
                "duration_s": 1.0,
                "take_id": beat_row(rows, "a")["primary_take_id"],
            },
            {
                "scene_id": "one",
                "beat_id": "b",
                "title": "a door closes",
                "start_s": 1.0,
                "duration_s": 1.0,
                "take_id": beat_row(rows, "b")["primary_take_id"],
            },
        ],
        "export": {"exports": 0, "running": False, "error": None},
    }
    video = read.get(cut["url"])
    assert video.status_code == 200
    assert video.headers["content-type"] == "video/mp4"
    expected = (film / "exports" / "cut.mp4").read_bytes()
    assert hashlib.sha256(video.content).hexdigest() == hashlib.sha256(expected).hexdigest()


def test_run_current_before_any_run(read: httpx.Client) -> None:
    assert read.get("/api/runs/current").json() == {
        "run_id": None,
        "phase": "idle",
        "active": False,
        "total": 0,
        "done": 0,
        "failed": 0,
        "cost": 0.0,
        "last": "",
        "started_at": None,
        "finished_at": None,
        "summary": "",
        "error": None,
    }


def test_openapi_lists_every_operation(read: httpx.Client) -> None:
    schema = read.get("/openapi.json").json()
    assert schema["openapi"].startswith("3.")
    assert schema["info"]["title"] == "recoil review"
    listed = {
        (method.upper(), path)
        for path, operations in schema["paths"].items()
        for method in operations
    }
    assert listed == set(OPERATIONS)
    assert len(OPERATIONS) == len(set(OPERATIONS))


def test_page(read: httpx.Client) -> None:
    page = read.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert page.headers["cache-control"] == "no-cache"
    assert "<html" in page.text.lower()
