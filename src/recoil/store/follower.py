"""Indexing the receipt log from a second process while a run appends to it.

A long run's event loop keeps one core busy; indexing its receipts into the
store at the end of the run would add their whole cost after it. A
:class:`LogFollower` starts ``python -m recoil.store.follower``, which indexes
the log's new tail (:meth:`ProjectStore.index_log`) as it grows, on another
core, so the store is current during the run (``recoil status`` from another
terminal sees it) and the run's closing reconcile has only the last lines
left.

The follower only adds rows from the log: indexing is idempotent and the
log is the source of truth, so it may be stopped or killed at any point and
the next reconcile finishes its work. It stops when its stdin closes, which
also happens when the run's process dies. The database URL goes to it through
the environment, never its command line, so a password in it is not visible
to other users' ``ps``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
import sys
import threading
from pathlib import Path

from recoil.store.engine import DATABASE_URL_ENV

log = logging.getLogger(__name__)

POLL_S = 0.05
"""How long the follower waits before looking at a log that had nothing new."""
STOP_TIMEOUT_S = 30.0


class LogFollower:
    """A follower process for one project's log (a context manager)."""

    def __init__(self, project_dir: Path, url: str) -> None:
        self.project_dir = project_dir
        self._url = url
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start following (at most once)."""
        if self._process is not None:
            return
        env = {**os.environ, DATABASE_URL_ENV: self._url}
        try:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "recoil.store", str(self.project_dir)],
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                env=env,
            )
        except OSError as exc:
            # Only speed is lost: the closing reconcile indexes everything.
            log.warning("could not start the store's log follower (%s); indexing at the end", exc)

    def stop(self) -> None:
        """Ask the follower to stop and wait for it; kill it if it does not."""
        process, self._process = self._process, None
        if process is None:
            return
        assert process.stdin is not None
        with contextlib.suppress(OSError):  # it is gone already
            process.stdin.close()
        try:
            process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def __enter__(self) -> LogFollower:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def follow(project_dir: Path) -> None:
    """Index ``project_dir``'s log as it grows until stdin closes (the child's loop).

    Meant for ``python -m recoil.store``, which exits the process right after.
    """
    from recoil.errors import StoreError
    from recoil.store.store import ProjectStore

    stopped = threading.Event()

    def wait_for_eof() -> None:
        sys.stdin.buffer.read()
        stopped.set()

    threading.Thread(target=wait_for_eof, daemon=True).start()
    try:
        store = ProjectStore.open(project_dir, reconcile=False)
    except StoreError as exc:
        # The run goes on; its closing reconcile indexes everything (or says why not).
        log.warning("the store's log follower stopped: %s", exc)
        return
    while not stopped.is_set():
        if store.index_log() == 0:
            stopped.wait(POLL_S)
    # Not closed: closing SQLite's last connection checkpoints the WAL (a third of a
    # second for a long run), and the run waits for this process. The process exits
    # now; the run's own connection checkpoints later.
