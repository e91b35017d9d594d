"""Kill -9 a fal or Replicate run after its submits; the rerun polls those jobs (SPEC 7).

The loopback server's jobs are slow (queued, then running), so the first run
is killed while they are in flight, right after every job it submitted has a
``submitted`` record. The rerun must pick those jobs up from the log and poll
them, never submit them again: the server counts exactly one submit per
distinct request, and the run finishes with a primary take for every beat.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.e2e.remote import Server, environment, leaks, start_server
from tests.helpers import (
    ANA_WAITS,
    beat,
    recoil,
    records,
    shotlist,
    start_recoil,
    wait_until,
    write_project,
)

pytestmark = pytest.mark.slow

SHOTLIST = shotlist(
    {"one": [ANA_WAITS, beat("b", "Ana turns away")]},
    title="Resume",
    takes_per_beat=1,
    seed=5,
)
FIRST_WAVE = 3
"""Steps with no dependency: two keyframes and one line of dialogue."""
STEPS = 5
"""Plus a video per beat."""


def _kill_after_submits(project: Path, env: dict[str, str], server: Server) -> set[str]:
    """Start a run, SIGKILL it once every first-wave job has its ``submitted`` record.

    Returns the ids of the jobs that were in flight at the kill.
    """
    log = project.parent / "first-run.log"
    process = start_recoil(
        "run", str(project), "--provider", server.provider, cwd=project.parent, env=env, output=log
    )

    def first_wave_sent() -> list[dict[str, object]]:
        assert process.poll() is None, log.read_text()
        submitted = records(project, "submitted")
        sent = len(submitted) >= FIRST_WAVE and server.control.submits == len(submitted)
        return submitted if sent else []

    try:
        submitted = wait_until(first_wave_sent, what="the first wave's submitted records")
    finally:
        process.kill()
        process.wait()
    assert len(submitted) == FIRST_WAVE, log.read_text()
    done = {r.get("job_id") for r in records(project, "receipt")}
    in_flight = {str(r["job_id"]) for r in submitted} - done
    assert in_flight, "every job finished before the kill; make the server slower"
    return in_flight


@pytest.mark.parametrize("provider", ["fal", "replicate"])
def test_a_killed_run_polls_its_jobs_instead_of_submitting_again(
    provider: str, tmp_path: Path
) -> None:
    server = start_server(provider)
    server.control.queue_s = server.control.run_s = 0.6
    try:
        project = write_project(tmp_path / "resume", SHOTLIST)
        server.configure(project)
        env = environment(tmp_path)
        in_flight = _kill_after_submits(project, env, server)

        rerun = recoil("run", str(project), "--provider", provider, cwd=tmp_path, env=env)
        assert rerun.returncode == 0, rerun.stdout + rerun.stderr
        per_request = server.requests()
        assert server.control.submits == STEPS
        assert len(per_request) == STEPS
        assert set(per_request.values()) == {1}
        status = recoil("status", str(project), "--json", cwd=tmp_path, env=env)
    finally:
        server.stop()

    receipts = records(project, "receipt")
    assert len(receipts) == STEPS
    assert {r["status"] for r in receipts} == {"succeeded"}
    assert {r["provider"] for r in receipts} == {provider}
    # The jobs in flight at the kill were finished by polling them, under their old ids.
    assert in_flight <= {r["job_id"] for r in receipts}
    beats = json.loads(status.stdout)
    assert [b["beat_id"] for b in beats] == ["a", "b"]
    assert all(b["primary_take_id"] for b in beats)
    assert leaks(tmp_path, rerun.stdout, rerun.stderr) == []
