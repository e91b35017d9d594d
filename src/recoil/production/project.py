"""A project folder opened from a script: :func:`open_project` and its :class:`ProjectHandle`.

The handle's methods are the ``recoil`` commands as calls, running the same
library functions the CLI runs (``recoil run``, ``run --dry-run``, ``export``,
``score``, ``status``, ``approve``, ``reject``, ``retake``)::

    import recoil

    film = recoil.open_project("my-film")
    print(sum(line.estimate for line in film.plan()))
    outcome = film.run()
    for beat in film.status():
        print(beat.beat_id, beat.primary_take_id)

Every method is synchronous (it runs its own event loop) and opens the project
afresh, so a handle sees what other processes did in between; from async code,
call :func:`recoil.production.run.run_production` and
:func:`recoil.production.export.export_current` instead. Like the commands, a
run, an export and a review decision are the project's one writer while they
last (:class:`~recoil.errors.ProjectBusyError` otherwise). Unlike ``recoil run``,
a run here installs no signal handlers: Ctrl-C raises ``KeyboardInterrupt``, and
what finished is already recorded for the next run to resume from.
"""

from __future__ import annotations

import asyncio
import dataclasses
from os import PathLike
from pathlib import Path

from recoil.model.take import Take
from recoil.production.export import ExportResult, export_current
from recoil.production.folder import open_production
from recoil.production.preflight import PlanLine
from recoil.production.review import BeatRow, approve, reject, retake, status
from recoil.production.run import Progress, RunOptions, RunOutcome, run_production
from recoil.production.scoring import ScoreOutcome, score_project


def open_project(path: str | PathLike[str]) -> ProjectHandle:
    """Open the project folder at ``path`` (made by ``recoil init``).

    Reads its settings and shot list now, so a missing folder or a broken shot
    list raises here (:class:`~recoil.errors.ConfigError`,
    :class:`~recoil.errors.ShotListError`) rather than on the first call.
    """
    return ProjectHandle(Path(path))


class ProjectHandle:
    """One project folder; each method is one ``recoil`` command (see the module docstring)."""

    __slots__ = ("_path",)

    def __init__(self, path: Path) -> None:
        open_production(path)  # fail early on a folder that is not a project
        self._path = path

    @property
    def path(self) -> Path:
        """The project folder."""
        return self._path

    def __repr__(self) -> str:
        return f"ProjectHandle({str(self._path)!r})"

    def plan(self, options: RunOptions | None = None) -> list[PlanLine]:
        """The takes a run would generate, with dispatch counts and cost estimates.

        ``recoil run --dry-run``: the providers are checked as a run checks them
        (a ``ConfigError`` or ``PayloadError`` for a problem), nothing is generated
        and nothing is written. ``options`` is read as for :meth:`run` (e.g.
        ``provider``), always as a dry run.
        """
        dry = dataclasses.replace(options or RunOptions(), dry_run=True)
        return asyncio.run(run_production(self._path, dry)).plan

    def run(
        self, options: RunOptions | None = None, *, progress: Progress | None = None
    ) -> RunOutcome:
        """Generate every pending take, choose primaries and export the cut (``recoil run``).

        Resumable: what an earlier run finished is not generated again. The
        outcome's ``exit_code`` is the one ``recoil run`` would exit with;
        ``progress`` is told of every finished step.
        """
        return asyncio.run(run_production(self._path, options, progress=progress))

    def export(self) -> ExportResult:
        """Write the cut, the timeline and the contact sheet from the current primaries.

        ``recoil export``: nothing is generated; an export that is already this
        edit's is not written again (``written`` is false).
        """
        return asyncio.run(export_current(self._path))

    def score(self) -> ScoreOutcome:
        """Score the succeeded takes that lack current scores, then choose primaries.

        ``recoil score``: nothing is generated; a second call computes nothing new.
        """
        return score_project(self._path)

    def status(self) -> list[BeatRow]:
        """Every beat with its takes' run and review status, primary and cost (``status``)."""
        return status(self._path)

    def approve(self, take_id: str, *, note: str | None = None, author: str | None = None) -> Take:
        """Approve a succeeded take; it becomes its beat's primary (``recoil approve``)."""
        return approve(self._path, take_id, note=note, author=author)

    def reject(
        self, take_id: str, *, note: str, author: str | None = None, frame: int | None = None
    ) -> Take:
        """Mark a take for retake with a note; returns the new take queued (``recoil reject``)."""
        return reject(self._path, take_id, note=note, author=author, frame=frame)

    def retake(self, beat_id: str, *, note: str | None = None) -> Take:
        """Queue one more take of a beat with a new seed (``recoil retake``); returns it."""
        return retake(self._path, beat_id, note=note)
