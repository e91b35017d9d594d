"""Fault injection against the real ``recoil`` command: ``pytest tests/faults``.

Each test breaks a project the way people and machines do (two runs at once,
kill -9, a moved or copied folder, deleted or corrupted files, a deleted
store, a provider misconfigured then fixed) and checks the three promises:
nothing lost, nothing paid twice, and an exit code that tells the truth.

The offline ``previz`` provider does the generating (real PNG, MP4, WAV); a
loopback fal server stands in for a paid one. With ``RECOIL_TEST_DATABASE_URL``
set, the concurrency tests also run on PostgreSQL.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from recoil.store.lock import ProjectLock
from tests.e2e.remote import KEYS, Server, environment, start_server
from tests.helpers import (
    ANA_WAITS,
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


def _shotlist(provider: str) -> str:
    """Three beats, two takes each; Ana speaks in the first."""
    beats = [ANA_WAITS, beat("b", "Ana turns"), beat("c", "Ana runs")]
    return shotlist({"one": beats}, title="Faults", provider=provider, takes_per_beat=2, seed=5)


STEPS = 2 * (3 + 2 + 2)  # two takes of: a (keyframe, video, audio), b and c (keyframe, video)
LOCK = ".recoil-lock"

DATABASES = ["sqlite"]
if os.environ.get("RECOIL_TEST_DATABASE_URL"):
    DATABASES.append("postgresql")


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """A clean environment (no RECOIL_* settings, no real keys) with the test keys."""
    return environment(tmp_path)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project folder with a three-beat previz shot list."""
    return write_project(tmp_path / "film", _shotlist("previz"))


def on_fal(project: Path) -> Server:
    """Start a loopback fal server and make it the project's provider, for every modality."""
    server = start_server("fal")
    (project / "shotlist.yaml").write_text(_shotlist("fal"))
    server.configure(project)
    return server


def generated(project: Path) -> Counter[str]:
    """How many times each request was generated (succeeded, not served from the cache)."""
    return Counter(
        r["request_sha256"]
        for r in records(project, "receipt")
        if r["status"] == "succeeded" and not r.get("cached")
    )


def status(project: Path, env: dict[str, str]) -> list[dict[str, Any]]:
    result = recoil("status", str(project), "--json", cwd=project.parent, env=env)
    assert result.returncode == 0, result.stderr
    rows: list[dict[str, Any]] = json.loads(result.stdout)
    return rows


def one_error_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1, text
    assert lines[0].startswith("error: "), text
    assert "Traceback" not in text
    return lines[0]


def wait_for_lock(project: Path, run: subprocess.Popen[str]) -> None:
    """Until the run holds the project (its pid in the lock file) and has sent something."""

    def taken() -> bool:
        assert run.poll() is None, run.communicate()
        held = (project / LOCK).read_text() if (project / LOCK).exists() else ""
        return str(run.pid) in held and log_lines(project) > 0

    wait_until(taken, what="the run to take the project")


def children(pid: int) -> set[int]:
    """Every live descendant of ``pid`` (from /proc)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if fields[0] != "Z":
                parents[int(entry.name)] = int(fields[1])
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def alive(pids: set[int]) -> set[int]:
    left = set()
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            left.add(pid)
    return left


@pytest.fixture(params=DATABASES)
def database(request: pytest.FixtureRequest, env: dict[str, str]) -> Iterator[str]:
    if request.param == "postgresql":
        env["RECOIL_DATABASE_URL"] = os.environ["RECOIL_TEST_DATABASE_URL"]
    yield request.param


def test_a_second_run_is_refused_and_nothing_is_paid_twice(
    project: Path, env: dict[str, str], database: str
) -> None:
    server = on_fal(project)
    server.control.queue_s = 3600  # the first run's jobs wait in the queue until let go
    try:
        first = start_recoil("run", str(project), cwd=project.parent, env=env)
        wait_for_lock(project, first)
        wait_until(lambda: records(project, "submitted"), what="the first run's submits")
        second = recoil("run", str(project), cwd=project.parent, env=env)
        queued = recoil("retake", str(project), "c", cwd=project.parent, env=env)  # allowed
        server.control.queue_s = 0
        _, err = first.communicate(timeout=180)

        assert second.returncode == 75, second.stderr
        line = one_error_line(second.stderr)
        assert "busy" in line and f"pid {first.pid}" in line and "recoil run" in line
        assert first.returncode == 0, err
        counts = generated(project)
        assert len(counts) == STEPS and set(counts.values()) == {1}
        assert queued.returncode == 0, queued.stderr
        # The lock died with its holder: the next run takes the project at once, and runs
        # only the take queued meanwhile.
        again = recoil("run", str(project), cwd=project.parent, env=env)
        assert again.returncode == 0, again.stderr
        assert "running 2 steps" in again.stderr
        assert len(generated(project)) == STEPS + 2 and set(generated(project).values()) == {1}
        # One submit per step. (Bodies may repeat: the two takes of Ana's line differ only in
        # their seed, which the speech model has no input for.)
        assert server.control.submits == STEPS + 2
    finally:
        server.stop()


def test_an_export_waits_for_no_one_while_a_writer_holds_the_project(
    project: Path, env: dict[str, str]
) -> None:
    assert recoil("run", str(project), cwd=project.parent, env=env).returncode == 0
    with ProjectLock(project, command="recoil run"):
        for command in ("export", "run"):
            busy = recoil(command, str(project), cwd=project.parent, env=env)
            assert busy.returncode == 75, busy.stderr
            assert f"pid {os.getpid()}" in one_error_line(busy.stderr)
    assert recoil("export", str(project), cwd=project.parent, env=env).returncode == 0


def test_kill_9_leaves_no_lock_and_no_process_behind(project: Path, env: dict[str, str]) -> None:
    run = start_recoil("run", str(project), cwd=project.parent, env=env)
    wait_for_lock(project, run)

    def rendering() -> set[int]:
        assert run.poll() is None, "the run ended before it was killed"
        return children(run.pid) if records(project, "receipt") else set()

    # A render has come back from a worker process, and the rest are under way.
    workers = wait_until(rendering, what="the run to render in worker processes")
    run.send_signal(signal.SIGKILL)
    run.communicate(timeout=30)
    assert run.returncode == -signal.SIGKILL
    wait_until(lambda: not alive(workers), what=f"the workers {sorted(workers)} to end")

    resumed = recoil("run", str(project), cwd=project.parent, env=env)
    assert resumed.returncode == 0, resumed.stderr
    counts = generated(project)
    assert len(counts) == STEPS
    assert max(counts.values()) <= 2  # a render killed before its receipt is made again
    again = recoil("run", str(project), cwd=project.parent, env=env)
    assert "running 0 steps" in again.stderr and generated(project) == counts


def test_a_moved_project_finds_its_files(project: Path, env: dict[str, str]) -> None:
    assert recoil("run", str(project), cwd=project.parent, env=env).returncode == 0
    counts = generated(project)
    moved = project.with_name("moved")
    project.rename(moved)

    export = recoil("export", str(moved), cwd=moved.parent, env=env)
    assert export.returncode == 0, export.stderr
    assert "MISSING" not in export.stderr and "hole" not in export.stderr
    run = recoil("run", str(moved), cwd=moved.parent, env=env)
    assert run.returncode == 0, run.stderr
    assert "running 0 steps" in run.stderr
    assert generated(moved) == counts
    timeline = json.loads((moved / "exports" / "cut.otio").read_text())
    assert str(project) + "/" not in json.dumps(timeline)


def test_a_copied_project_is_a_project_of_its_own(
    project: Path, env: dict[str, str], database: str
) -> None:
    assert recoil("run", str(project), cwd=project.parent, env=env).returncode == 0
    copy = project.with_name("copy")
    shutil.copytree(project, copy, symlinks=True)

    run = recoil("run", str(copy), cwd=copy.parent, env=env)
    assert run.returncode == 0, run.stderr
    assert "copy of" in run.stdout + run.stderr
    assert "running 0 steps" in run.stderr
    assert (copy / ".recoil-project-id").read_text() != (project / ".recoil-project-id").read_text()
    # The copy reads its own files: with the original gone it exports whole.
    approved = status(copy, env)[0]["takes"][1]["take_id"]
    assert recoil("approve", str(copy), approved, cwd=copy.parent, env=env).returncode == 0
    shutil.rmtree(project)
    export = recoil("export", str(copy), cwd=copy.parent, env=env)
    assert export.returncode == 0, export.stderr
    assert status(copy, env)[0]["primary_take_id"] == approved


def _primary_video(project: Path, env: dict[str, str]) -> Path:
    beat = status(project, env)[1]
    receipts = [
        r
        for r in records(project, "receipt")
        if r["provenance"].get("take_id") == beat["primary_take_id"] and r["modality"] == "video"
    ]
    return project / receipts[-1]["artifacts"]["video"]["path"]


def test_a_deleted_video_is_a_hole_then_regenerated(project: Path, env: dict[str, str]) -> None:
    assert recoil("run", str(project), cwd=project.parent, env=env).returncode == 0
    video = _primary_video(project, env)
    video.unlink()

    export = recoil("export", str(project), cwd=project.parent, env=env)
    assert export.returncode == 1
    assert "hole" in export.stderr and " b" in export.stderr
    verify = recoil("verify", str(project), cwd=project.parent, env=env)
    assert verify.returncode == 1 and "missing" in verify.stderr
    run = recoil("run", str(project), cwd=project.parent, env=env)
    assert run.returncode == 0, run.stderr
    assert "running 1 steps" in run.stderr and "regenerating video" in run.stdout
    assert video.is_file()
    assert recoil("verify", str(project), cwd=project.parent, env=env).returncode == 0
    assert recoil("export", str(project), cwd=project.parent, env=env).returncode == 0


def test_flipped_bytes_are_noticed_and_regenerated(project: Path, env: dict[str, str]) -> None:
    assert recoil("run", str(project), cwd=project.parent, env=env).returncode == 0
    video = _primary_video(project, env)
    data = bytearray(video.read_bytes())
    data[len(data) // 2] ^= 0xFF
    stat = video.stat()
    video.write_bytes(bytes(data))
    os.utime(video, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # same size, same mtime

    verify = recoil("verify", str(project), cwd=project.parent, env=env)
    assert verify.returncode == 1 and "damaged" in verify.stderr
    video.write_bytes(bytes(data))  # a plain overwrite: the mtime moves, so a run rehashes
    run = recoil("run", str(project), cwd=project.parent, env=env)
    assert run.returncode == 0, run.stderr
    assert "running 1 steps" in run.stderr
    assert recoil("verify", str(project), cwd=project.parent, env=env).returncode == 0


def test_a_deleted_store_keeps_every_review_decision(project: Path, env: dict[str, str]) -> None:
    assert recoil("run", str(project), cwd=project.parent, env=env).returncode == 0
    before = status(project, env)
    approved = before[0]["takes"][1]["take_id"]
    rejected = before[1]["primary_take_id"]
    cwd = project.parent
    assert recoil("approve", str(project), approved, cwd=cwd, env=env).returncode == 0
    reject = recoil("reject", str(project), rejected, "--note", "too dark", cwd=cwd, env=env)
    assert reject.returncode == 0, reject.stderr
    assert recoil("retake", str(project), "c", cwd=cwd, env=env).returncode == 0
    decided = status(project, env)
    counts = generated(project)

    (project / "recoil.db").unlink()
    after = status(project, env)
    assert after == decided
    assert after[0]["primary_take_id"] == approved
    take = next(t for t in after[1]["takes"] if t["take_id"] == rejected)
    assert take["review"] == "retake" and any("too dark" in n for n in take["notes"])
    assert sum(len(beat["takes"]) for beat in after) == 6 + 2  # one retake queued per command

    run = recoil("run", str(project), cwd=cwd, env=env)
    assert run.returncode == 0, run.stderr
    assert "running 4 steps" in run.stderr  # only the two queued takes
    assert len(generated(project)) == len(counts) + 4
    assert status(project, env)[0]["primary_take_id"] == approved


def test_a_fixed_provider_config_retries_only_what_failed(
    project: Path, env: dict[str, str]
) -> None:
    server = on_fal(project)
    try:
        settings = project / "recoil.toml"
        fixed_settings = settings.read_text()
        # A model fal still describes but no longer runs: the submits fail, not the preflight.
        retired = "fal-ai/retired/image-to-video"
        server.control.script(
            "POST", f"/{retired}", status=404, body={"detail": "Application not found"}, times=99
        )
        settings.write_text(re.sub(r'(?m)^video = ".*"$', f'video = "{retired}"', fixed_settings))
        failed = recoil("run", str(project), cwd=project.parent, env=env)
        assert failed.returncode == 1
        assert "failed: a-t01/video:" in failed.stderr and "HTTP 404" in failed.stderr
        submits = server.control.submits

        settings.write_text(fixed_settings)
        fixed = recoil("run", str(project), cwd=project.parent, env=env)
        assert fixed.returncode == 0, fixed.stderr
        assert "running 6 steps" in fixed.stderr  # the six videos; keyframes and audio kept
        assert server.control.submits == submits + 6
        assert "Traceback" not in failed.stderr + fixed.stderr
        assert not any(key in failed.stderr + fixed.stderr for key in KEYS.values())
    finally:
        server.stop()
