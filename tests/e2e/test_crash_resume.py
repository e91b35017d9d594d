"""Kill -9 a run as its log grows, rerun each time, finish: nothing lost, nothing paid twice.

SPEC 3 and 7. The fake provider runs as a submit-then-poll service with
latency, so steps overlap and jobs are in flight when the process dies; its
``calls_file`` counts every submit across the killed processes (and makes it a
remote provider, whose jobs outlive the process). No job may ever be submitted
twice: not one with a ``submitted`` record, and not one a kill cut off between
the vendor accepting it and our log recording it (its ``sending`` record makes
the next run look it up). The kills are placed by the log, not by the clock:
each lands a random handful of lines after the last, so the test kills the same
number of times on a fast machine and a slow one. A second film chains most of
its beats, so kills land while chained takes wait for their sources' primaries
and while their keyframes start from a frame.
"""

from __future__ import annotations

import json
import os
import random
from collections import Counter
from pathlib import Path

import pytest

from tests.helpers import (
    ANA_WAITS,
    artifact_hashes,
    beat,
    log_lines,
    recoil,
    records,
    shotlist,
    start_recoil,
    wait_until,
    write_project,
)

pytestmark = pytest.mark.slow

SHOTLIST = shotlist(
    {
        "one": [
            ANA_WAITS,
            beat("b", "Ana turns"),
            beat("c", "Ana runs", chain_from_previous=True),
        ],
        "two": [beat("d", "Ana stops"), beat("e", "Ana smiles")],
    },
    title="Crash Test",
    provider="fake",
    takes_per_beat=3,
    seed=11,
)

CHAINED = shotlist(
    {
        "one": [
            beat("a", "Ana turns"),
            beat("b", "Ana runs", chain_from_previous=True),
            beat("c", "Ana jumps", chain_from_previous=True),
            beat("d", "Ana lands", chain_from_previous=True),
        ],
        "two": [beat("e", "Ana stops"), beat("f", "Ana smiles", chain_from_previous=True)],
    },
    title="Chained Crash Test",
    provider="fake",
    takes_per_beat=2,
    seed=12,
)
FILMS = {"mixed": (SHOTLIST, 3, "abcde"), "chained": (CHAINED, 2, "abcdef")}
"""Shot list, takes per beat and the beats, by name."""

SETTINGS = """\
[run]
concurrency = 2

[providers.fake]
latency_s = 0.8
async = true
calls_file = "{calls}"
"""

KILLS = 12
"""How many times the run is killed before it may finish."""
MOST_LINES = 6
"""A kill lands once the log has grown by 1 to this many complete lines.

A whole run writes over a hundred (a take record per take, then a ``sending``,
a ``submitted`` and a receipt per dispatch), so :data:`KILLS` kills always come
before its end, on any machine, and land all through it: between a submit and
its record, between a record and the next, and while the vendor is working.
"""

BACKENDS = ["sqlite"]
if os.environ.get("RECOIL_TEST_DATABASE_URL"):
    BACKENDS.append("postgresql")


def _make(project: Path, film: str) -> Path:
    calls = project.parent / f"{project.name}-calls.jsonl"
    write_project(project, FILMS[film][0], SETTINGS.format(calls=calls))
    return calls


def _env(backend: str) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("RECOIL_DATABASE_URL", None)
    if backend == "postgresql":
        env["RECOIL_DATABASE_URL"] = os.environ["RECOIL_TEST_DATABASE_URL"]
    return env


def _calls(calls_file: Path) -> Counter[str]:
    if not calls_file.exists():
        return Counter()
    return Counter(json.loads(line)["job_id"] for line in calls_file.read_text().splitlines())


def _kill_after_growth(project: Path, env: dict[str, str], lines: int) -> bool:
    """Start a run; SIGKILL it once the log has ``lines`` more complete lines.

    Returns whether it was killed (False: it finished first, and succeeded).
    """
    output = project.parent / "run.log"
    target = log_lines(project) + lines
    process = start_recoil("run", str(project), cwd=project.parent, env=env, output=output)
    try:
        wait_until(
            lambda: process.poll() is not None or log_lines(project) >= target,
            what=f"the log to reach {target} lines",
        )
    finally:
        process.kill()
        process.wait()
    finished = process.returncode == 0
    assert finished or process.returncode == -9, output.read_text()
    return not finished


@pytest.mark.parametrize("film", sorted(FILMS))
@pytest.mark.parametrize("backend", BACKENDS)
def test_kill_nine_and_resume(tmp_path: Path, backend: str, film: str) -> None:
    """SPEC 7: twelve SIGKILLs, a rerun after each, then a clean finish."""
    project = tmp_path / "film"
    calls_file = _make(project, film)
    env = _env(backend)
    rng = random.Random(20261121)
    kills = 0
    while kills < KILLS and _kill_after_growth(project, env, rng.randint(1, MOST_LINES)):
        kills += 1
        again = sorted(job for job, n in _calls(calls_file).items() if n > 1)
        assert not again, f"jobs submitted twice: {again}"
    assert kills == KILLS, f"the run finished after {kills} kills, before its log was long enough"

    final = recoil("run", str(project), cwd=tmp_path, env=env)
    assert final.returncode == 0, final.stderr
    calls = _calls(calls_file)
    again = sorted(job for job, n in calls.items() if n > 1)
    assert not again, f"jobs submitted twice: {again}"

    # The log parses completely; torn tails (if a kill landed mid-write) were set aside.
    assert (project / "receipts.jsonl").read_bytes().endswith(b"\n")
    receipts = records(project, "receipt")
    assert all(r["status"] == "succeeded" for r in receipts)
    # Every job the vendor accepted was paid for once and ended in a receipt.
    assert set(calls) == {r["job_id"] for r in receipts if not r["cached"]}

    # Every enabled beat has its takes, all succeeded, none stale, and a primary.
    status = recoil("status", str(project), "--json", cwd=tmp_path, env=env)
    assert status.returncode == 0, status.stderr
    beats = json.loads(status.stdout)
    _, takes, beat_ids = FILMS[film]
    assert [b["beat_id"] for b in beats] == list(beat_ids)
    for row in beats:
        assert len(row["takes"]) == takes
        assert all(t["status"] == "succeeded" and not t["stale"] for t in row["takes"])
        assert row["primary_take_id"] is not None

    # The same film as an uninterrupted run.
    clean = tmp_path / "clean"
    _make(clean, film)
    assert recoil("run", str(clean), cwd=tmp_path, env=env).returncode == 0
    assert artifact_hashes(project) == artifact_hashes(clean)
