"""Re-cutting after a change: the exports follow every decision made on the page.

An approval, a rejection or a note changes what the exports show (the
primary, the review markers), so each one asks :class:`Exporter` for a new
export. Exports run one at a time in a background thread; requests that
arrive while one runs are folded into a single next export. While a run
holds the project the export is skipped: the run exports when it ends, and
it reads the decisions made meanwhile.
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from dataclasses import dataclass
from pathlib import Path

from recoil.errors import ProjectBusyError, RecoilError
from recoil.production.export import ExportResult, export_current
from recoil.records.redact import redact_text


@dataclass(frozen=True, slots=True, kw_only=True)
class ExportState:
    """The latest background export."""

    exports: int = 0
    """Exports finished since the server started."""
    running: bool = False
    error: str | None = None
    """Why the last export failed or was skipped (one line)."""


class Exporter:
    """Exports the project in the background, one at a time, coalescing requests."""

    def __init__(self, project: Path) -> None:
        self.project = project
        self._lock = threading.Lock()
        self._wanted = False
        self._thread: threading.Thread | None = None
        self.state = ExportState()
        self._idle = threading.Event()
        self._idle.set()

    def request(self) -> None:
        """Ask for an export of the project as it stands now."""
        with self._lock:
            self._wanted = True
            if self._thread is None or not self._thread.is_alive():
                self._idle.clear()
                self.state = dataclasses.replace(self.state, running=True)
                self._thread = threading.Thread(
                    target=self._loop, name="recoil-review-export", daemon=True
                )
                self._thread.start()

    def export_now(self) -> ExportResult:
        """Export at once in the caller's thread (``POST /api/export``)."""
        self.wait()
        return asyncio.run(export_current(self.project))

    def wait(self, timeout_s: float | None = None) -> bool:
        """Wait until no export is running or wanted; False on timeout."""
        return self._idle.wait(timeout_s)

    def _loop(self) -> None:
        while True:
            with self._lock:
                if not self._wanted:
                    self.state = dataclasses.replace(self.state, running=False)
                    self._idle.set()
                    return
                self._wanted = False
            error: str | None = None
            try:
                asyncio.run(export_current(self.project))
            except ProjectBusyError:
                error = "a run holds the project; it exports when it ends"
            except RecoilError as exc:
                error = redact_text(" ".join(str(exc).split()))
            with self._lock:
                self.state = dataclasses.replace(
                    self.state, exports=self.state.exports + (error is None), error=error
                )
