"""One writer per project: the folder lock, the edit lock and the database claim."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from recoil.errors import ProjectBusyError
from recoil.store import ProjectStore
from recoil.store.lock import EDIT_LOCK_FILE, WRITER_LOCK_FILE, ProjectLock, editing

OpenStore = Callable[..., ProjectStore]


def test_a_second_writer_is_refused_with_the_holder_named(project_dir: Path) -> None:
    with ProjectLock(project_dir, command="recoil run"):
        held = json.loads((project_dir / WRITER_LOCK_FILE).read_text())
        assert held["pid"] == os.getpid() and held["command"] == "recoil run"
        with pytest.raises(ProjectBusyError) as info:
            ProjectLock(project_dir, command="recoil export").acquire()
    message = str(info.value)
    assert "busy" in message and f"pid {os.getpid()}" in message and "`recoil run`" in message
    assert "\n" not in message
    assert info.value.exit_code == 75
    # Released: the next writer gets it at once, and the file no longer names anyone.
    assert (project_dir / WRITER_LOCK_FILE).read_text() == ""
    with ProjectLock(project_dir, command="recoil export"):
        pass


def test_a_killed_holder_never_blocks_the_project(project_dir: Path) -> None:
    code = (
        "import sys; from pathlib import Path; from recoil.store.lock import ProjectLock;"
        "lock = ProjectLock(Path(sys.argv[1]), command='recoil run'); lock.acquire();"
        "print('held', flush=True); sys.stdin.read()"  # held until killed (or orphaned)
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", code, str(project_dir)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(ProjectBusyError, match=f"pid {holder.pid}"):
            ProjectLock(project_dir, command="recoil run").acquire()
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=10)
        for pipe in (holder.stdin, holder.stdout):
            if pipe is not None:
                pipe.close()
    # The stale holder info is still in the file; the lock is not.
    assert str(holder.pid) in (project_dir / WRITER_LOCK_FILE).read_text()
    with ProjectLock(project_dir, command="recoil run"):
        pass


def test_the_edit_lock_waits_then_gives_up_with_one_line(
    project_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with editing(project_dir, command="recoil approve"):
        started = time.monotonic()
        with pytest.raises(ProjectBusyError, match=r"waited 0\.2 s"):
            ProjectLock(project_dir, command="recoil run", name=EDIT_LOCK_FILE).acquire(wait_s=0.2)
        assert time.monotonic() - started >= 0.2
    with editing(project_dir, command="recoil run"):
        pass


def test_the_database_claim_refuses_a_second_writer(
    open_store: OpenStore, project_dir: Path, db_url: str | None
) -> None:
    first = open_store()
    first.claim_writer("recoil run")
    second = open_store()
    if db_url is None:
        second.claim_writer("recoil run")  # SQLite: the folder lock is the guard
        return
    with pytest.raises(ProjectBusyError, match="busy"):
        second.claim_writer("recoil run")
    first.close()  # the claim ends with its connection
    second.claim_writer("recoil run")
