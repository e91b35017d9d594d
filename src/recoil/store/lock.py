"""One writer per project: a lock on the project folder that a crash cannot leave behind.

Two locks, both ``flock`` on a file in the project folder:

- the *writer* lock (``.recoil-lock``), held for a whole ``recoil run`` or
  ``recoil export``: a second one is refused at once with one line naming the
  holder (:class:`ProjectBusyError`);
- the *edit* lock (``.recoil-edit``), held for the moments a process changes the
  project tree (a run planning its takes, an approval or a retake queueing
  one): others wait for it, briefly.

The kernel releases an ``flock`` when its holder exits, however it exits (kill
-9 included), so a crashed holder never blocks a project; the holder's pid,
host and command are written into the lock file only to say who holds it. A
project whose store is PostgreSQL is also claimed in the database
(:meth:`ProjectStore.claim_writer`), which guards two machines sharing one
database, where a folder lock on each machine's disk cannot.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from recoil.errors import ProjectBusyError
from recoil.model.ids import utc_now_iso

WRITER_LOCK_FILE = ".recoil-lock"
EDIT_LOCK_FILE = ".recoil-edit"
EDIT_WAIT_S = 30.0
"""How long a change to the project tree waits for another one to finish."""
_POLL_S = 0.05


class ProjectLock:
    """An exclusive ``flock`` on one lock file of a project folder; see the module docs."""

    def __init__(self, folder: Path, *, command: str, name: str = WRITER_LOCK_FILE) -> None:
        self.folder = folder
        self.command = command
        self.path = folder / name
        self._handle: IO[str] | None = None

    def acquire(self, *, wait_s: float = 0.0) -> None:
        """Take the lock, waiting up to ``wait_s``; :class:`ProjectBusyError` if it is held."""
        handle = self._open()
        deadline = time.monotonic() + wait_s
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = self._holder(handle)
                    handle.close()
                    raise ProjectBusyError(self._busy_line(holder, wait_s)) from None
                time.sleep(_POLL_S)
        info = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "command": self.command,
            "started": utc_now_iso(),
        }
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps(info))
        handle.flush()
        self._handle = handle

    def release(self) -> None:
        """Let go of the lock (the file stays: removing it would let two holders race)."""
        handle, self._handle = self._handle, None
        if handle is not None:
            with contextlib.suppress(OSError):
                handle.seek(0)
                handle.truncate()
            fcntl.flock(handle, fcntl.LOCK_UN)
            handle.close()

    def __enter__(self) -> ProjectLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def _open(self) -> IO[str]:
        # Python opens files non-inheritable, so a child process started with
        # exec never holds the lock past its parent.
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        return os.fdopen(fd, "r+", encoding="utf-8")

    @staticmethod
    def _holder(handle: IO[str]) -> dict[str, object]:
        try:
            handle.seek(0)
            found = json.loads(handle.read() or "{}")
        except (OSError, ValueError):
            return {}
        return found if isinstance(found, dict) else {}

    def _busy_line(self, holder: dict[str, object], wait_s: float) -> str:
        who = (
            f"`{holder.get('command', 'recoil')}` (pid {holder.get('pid', '?')} on "
            f"{holder.get('host', '?')}, since {holder.get('started', '?')})"
            if holder
            else "another recoil process"
        )
        waited = f" (waited {wait_s:g} s)" if wait_s else ""
        return (
            f"project {self.folder} is busy: {who} is writing it{waited}; "
            "wait for it to finish (or stop it), then run again"
        )


@contextlib.contextmanager
def editing(folder: Path, *, command: str) -> Iterator[None]:
    """Hold the project's edit lock for the block, waiting up to :data:`EDIT_WAIT_S`."""
    lock = ProjectLock(folder, command=command, name=EDIT_LOCK_FILE)
    lock.acquire(wait_s=EDIT_WAIT_S)
    try:
        yield
    finally:
        lock.release()
