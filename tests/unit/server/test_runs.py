"""SPEC 7, 12: a run from the page is the same engine as ``recoil run`` (one writer, resume,
nothing paid twice), and its progress is live.

The film runs on the fake provider as a slow remote service (half a second a call,
each submit a line of its calls file), so a run stays active long enough to be
raced, stopped and refused while it lasts.
"""

from __future__ import annotations

import json
import os
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from recoil.store.lock import ProjectLock
from tests.helpers import recoil, records, wait_until
from tests.serving import Served, serving
from tests.unit.server.api import beat_row, error_of, status, take_row, timeline_takes
from tests.unit.server.conftest import Slow

pytestmark = pytest.mark.slow

STEPS = 10
"""Steps of the film with two takes a beat (a: keyframe, video; b: and audio)."""


def _run(client: httpx.Client) -> dict[str, Any]:
    state: dict[str, Any] = client.get("/api/runs/current").json()
    return state


def _finished(client: httpx.Client) -> dict[str, Any]:
    """Wait for the page's run to end; its last state."""

    def ended() -> dict[str, Any] | None:
        state = _run(client)
        return None if state["active"] else state

    return wait_until(ended, what="the run to end")


def _calls(project: Path) -> Counter[str]:
    """How many times the fake vendor was sent each job."""
    calls = project.parent / "calls.jsonl"
    lines = calls.read_text().splitlines() if calls.exists() else []
    return Counter(json.loads(line)["job_id"] for line in lines)


@pytest.fixture
def slow(slow_project: Slow) -> Iterator[tuple[Path, Served, httpx.Client]]:
    """The slow film (two takes a beat, two calls at a time), served, and a client."""
    project = slow_project()
    with serving(project) as server, httpx.Client(base_url=server.url, timeout=60) as client:
        yield project, server, client


def test_a_run_from_the_page(slow: tuple[Path, Served, httpx.Client]) -> None:
    project, server, client = slow
    response = client.post("/api/runs", json={}, headers=server.auth)
    assert response.status_code == 202
    started = response.json()
    assert (started["phase"], started["active"]) == ("running", True)
    assert started["run_id"].startswith("run_")
    current = _run(client)
    assert current["run_id"] == started["run_id"]
    assert current["active"] is True
    assert client.get("/api/project").json()["run"]["run_id"] == started["run_id"]
    done = _finished(client)
    assert done["run_id"] == started["run_id"]
    assert (done["phase"], done["total"], done["done"], done["failed"]) == ("done", STEPS, STEPS, 0)
    assert done["cost"] == pytest.approx(0.01 * STEPS)
    assert done["summary"].startswith(f"{STEPS} succeeded (0 cached), 0 failed")
    assert done["error"] is None
    assert done["finished_at"] >= done["started_at"]
    assert all(t["status"] == "succeeded" for beat in status(project) for t in beat["takes"])
    receipts = records(project, "receipt")
    assert len(receipts) == STEPS
    assert all(r["status"] == "succeeded" for r in receipts)
    assert client.get("/api/project").json()["run"] == done
    assert client.get("/api/cut").json()["url"] == "/cut.mp4"  # the run exported the cut


def test_two_runs_at_once(slow: tuple[Path, Served, httpx.Client]) -> None:
    project, server, client = slow
    barrier = threading.Barrier(2)
    answers: list[httpx.Response] = []

    def start() -> None:
        with httpx.Client(base_url=server.url, timeout=60) as own:
            barrier.wait()
            answers.append(own.post("/api/runs", json={}, headers=server.auth))

    threads = [threading.Thread(target=start) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(a.status_code for a in answers) == [202, 409]
    (refused,) = [a for a in answers if a.status_code == 409]
    assert "in progress" in error_of(refused, 409)
    (accepted,) = [a for a in answers if a.status_code == 202]
    # The one run ran the film once.
    assert _finished(client)["run_id"] == accepted.json()["run_id"]
    assert _finished(client)["phase"] == "done"
    assert all(n == 1 for n in _calls(project).values())
    assert len(records(project, "receipt")) == STEPS


def test_a_run_while_recoil_run_holds_the_project(
    slow: tuple[Path, Served, httpx.Client],
) -> None:
    project, server, client = slow
    lock = ProjectLock(project, command="recoil run")
    lock.acquire()
    try:
        message = error_of(client.post("/api/runs", json={}, headers=server.auth), 409)
        assert message.startswith(f"project {project} is busy: `recoil run` (pid {os.getpid()}")
        assert _run(client)["phase"] == "idle"
        assert records(project, "receipt") == []
    finally:
        lock.release()
    assert client.post("/api/runs", json={}, headers=server.auth).status_code == 202
    assert _finished(client)["phase"] == "done"


def test_recoil_run_while_the_page_runs(slow_project: Slow) -> None:
    project = slow_project(takes_per_beat=3, concurrency=1)  # 15 calls one at a time
    with serving(project) as server, httpx.Client(base_url=server.url, timeout=60) as client:
        assert client.post("/api/runs", json={}, headers=server.auth).status_code == 202
        wait_until(lambda: _run(client)["total"] > 0, what="the run to plan its steps")
        refused = recoil("run", str(project), cwd=project.parent, env=os.environ)
        assert refused.returncode == 75, refused.stderr  # ProjectBusyError: try again later
        (line,) = refused.stderr.splitlines()
        assert line.startswith(f"error: project {project} is busy: `recoil run`"), line
        # Still running; a stop without the token does not stop it either.
        assert _run(client)["active"] is True
        error_of(client.post("/api/runs/current/stop"), 401)
        assert _run(client)["phase"] == "running"
        client.post("/api/runs/current/stop", headers=server.auth)
        assert _finished(client)["phase"] == "interrupted"


def test_stop_then_resume_pays_nothing_twice(slow: tuple[Path, Served, httpx.Client]) -> None:
    project, server, client = slow
    assert client.post("/api/runs", json={}, headers=server.auth).status_code == 202
    wait_until(lambda: _run(client)["done"] >= 3, what="three steps to finish")
    stopping = client.post("/api/runs/current/stop", headers=server.auth)
    assert stopping.status_code == 200
    assert stopping.json()["phase"] in ("stopping", "interrupted")
    first = _finished(client)
    assert first["phase"] == "interrupted"
    assert 3 <= first["done"] < STEPS
    assert "run again to resume" in first["summary"]
    paid = records(project, "receipt")
    assert len(paid) == first["done"]
    # A stop with no run going changes nothing.
    assert client.post("/api/runs/current/stop", headers=server.auth).json() == first

    assert client.post("/api/runs", json={}, headers=server.auth).status_code == 202
    second = _finished(client)
    assert second["phase"] == "done"
    assert second["run_id"] != first["run_id"]
    assert second["total"] == STEPS - first["done"]  # only what the first left
    assert second["failed"] == 0

    receipts = records(project, "receipt")
    assert receipts[: len(paid)] == paid
    assert all(r["status"] == "succeeded" and not r["cached"] for r in receipts)
    steps = Counter(
        (r["provenance"]["take_id"], r["provenance"]["workflow_step_id"]) for r in receipts
    )
    assert len(steps) == STEPS
    assert set(steps.values()) == {1}, steps  # one receipt a step
    assert len({r["request_sha256"] for r in receipts}) == STEPS
    calls = _calls(project)
    assert set(calls.values()) == {1}, calls  # no job sent twice
    assert set(calls) == {r["job_id"] for r in receipts}  # and each sent one was paid once
    assert all(t["status"] == "succeeded" for beat in status(project) for t in beat["takes"])


def _events(lines: Iterator[str]) -> Iterator[dict[str, Any]]:
    """The ``run`` events of a server-sent event stream."""
    event: dict[str, str] = {}
    for line in lines:
        if line.startswith(":"):
            continue  # a keep-alive comment
        if line:
            name, _, value = line.partition(": ")
            event[name] = value
            continue
        if event:
            assert event["event"] == "run", event
            yield json.loads(event["data"])
            event = {}


def test_events_show_the_progress(slow: tuple[Path, Served, httpx.Client]) -> None:
    _, server, client = slow
    seen: list[dict[str, Any]] = []
    with client.stream("GET", "/api/events") as stream:
        assert stream.status_code == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        events = _events(stream.iter_lines())
        seen.append(next(events))  # the state now
        assert seen[0]["phase"] == "idle"
        assert client.post("/api/runs", json={}, headers=server.auth).status_code == 202
        for event in events:
            seen.append(event)
            if not event["active"]:
                break
    assert [e["phase"] for e in seen][-1] == "done"
    running = [e for e in seen if e["phase"] == "running"]
    assert running
    assert len({e["run_id"] for e in seen[1:]}) == 1
    done = [e["done"] for e in seen[1:]]
    assert done == sorted(done)  # never backwards
    assert any(0 < n < STEPS for n in done)  # progress while it runs, not only its end
    assert seen[-1]["done"] == seen[-1]["total"] == STEPS
    assert any(e["last"].endswith(": succeeded") for e in running)
    assert seen[-1] == _run(client)


def test_decisions_while_the_page_runs(slow_project: Slow) -> None:
    """An approval during a run is recorded at once; the run's own export shows it."""
    project = slow_project(takes_per_beat=2, concurrency=1)
    with serving(project) as server, httpx.Client(base_url=server.url, timeout=60) as client:
        assert client.post("/api/runs", json={}, headers=server.auth).status_code == 202
        wait_until(
            lambda: client.get("/api/takes/a-t02").json()["status"] == "succeeded",
            what="a-t02 to succeed",
        )
        assert _run(client)["active"] is True
        approved = client.post("/api/takes/a-t02/approve", json={}, headers=server.auth)
        assert approved.status_code == 200
        assert take_row(status(project), "a-t02")["review"] == "approved"
        wait_until(
            lambda: not client.get("/api/cut").json()["export"]["running"],
            what="the background export to give up",
        )
        skipped = client.get("/api/cut").json()["export"]
        assert skipped["error"] == "a run holds the project; it exports when it ends"
        assert _finished(client)["phase"] == "done"
        assert beat_row(status(project), "a")["primary_take_id"] == "a-t02"
        assert client.get("/api/cut").json()["beats"][0]["take_id"] == "a-t02"
    assert timeline_takes(project)["a"] == "a-t02"


def test_stopping_the_server_stops_its_run(slow_project: Slow) -> None:
    """The server's end stops its run as Ctrl-C stops ``recoil run``; the next resumes."""
    project = slow_project()
    with serving(project) as server, httpx.Client(base_url=server.url, timeout=60) as client:
        assert client.post("/api/runs", json={}, headers=server.auth).status_code == 202
        wait_until(lambda: _run(client)["done"] >= 1, what="a step to finish")
    state = server.app.state.served.runs.state
    assert state.phase == "interrupted"
    assert state.done < STEPS
    resumed = recoil("run", str(project), cwd=project.parent, env=os.environ)
    assert resumed.returncode == 0, resumed.stderr
    receipts = records(project, "receipt")
    assert len(receipts) == STEPS
    assert set(_calls(project).values()) == {1}
