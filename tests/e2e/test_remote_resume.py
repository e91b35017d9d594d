"""Kill -9 a fal or Replicate run after its submits; the rerun polls those jobs (SPEC 7).

The loopback server's jobs are slow (queued, then running), so the first run
is killed while they are in flight, right after every job it submitted has a
``submitted`` record. The rerun must pick those jobs up from the log and poll
them, never submit them again: the server counts exactly one submit per
distinct request, and the run finishes with a primary take for every beat.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.e2e.remote import Server, environment, leaks, recoil, records, start_server

pytestmark = pytest.mark.slow

SHOTLIST = """\
version: 1
project: {title: Resume, resolution: 160x90, fps: 12, takes_per_beat: 1, seed: 5}
characters:
  ana: {name: Ana, description: a woman in a red coat, voice: en-us}
scenes:
  - id: one
    beats:
      - {id: a, action: Ana waits, characters: [ana], duration: 1,
         dialogue: [{character: ana, text: "Still here."}]}
      - {id: b, action: Ana turns away, duration: 1}
"""
FIRST_WAVE = 3
"""Steps with no dependency: two keyframes and one line of dialogue."""
STEPS = 5
"""Plus a video per beat."""


def _kill_after_submits(project: Path, env: dict[str, str], server: Server) -> set[str]:
    """Start a run, SIGKILL it once every first-wave job has its ``submitted`` record.

    Returns the ids of the jobs that were in flight at the kill.
    """
    command = [sys.executable, "-m", "recoil", "run", str(project), "--provider", server.provider]
    log = project.parent / "first-run.log"
    with log.open("w") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=out)
        try:
            deadline = time.monotonic() + 30
            submitted: list[dict[str, object]] = []
            while time.monotonic() < deadline and process.poll() is None:
                submitted = [r for r in records(project) if r["kind"] == "submitted"]
                if len(submitted) >= FIRST_WAVE and server.control.submits == len(submitted):
                    break
                time.sleep(0.01)
        finally:
            process.kill()
            process.wait()
    assert len(submitted) == FIRST_WAVE, log.read_text()
    done = {r.get("job_id") for r in records(project) if r["kind"] == "receipt"}
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
        project = tmp_path / "resume"
        project.mkdir()
        (project / "shotlist.yaml").write_text(SHOTLIST)
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

    receipts = [r for r in records(project) if r["kind"] == "receipt"]
    assert len(receipts) == STEPS
    assert {r["status"] for r in receipts} == {"succeeded"}
    assert {r["provider"] for r in receipts} == {provider}
    # The jobs in flight at the kill were finished by polling them, under their old ids.
    assert in_flight <= {r["job_id"] for r in receipts}
    beats = json.loads(status.stdout)
    assert [b["beat_id"] for b in beats] == ["a", "b"]
    assert all(b["primary_take_id"] for b in beats)
    assert leaks(tmp_path, rerun.stdout, rerun.stderr) == []
