"""The project store: the production's scenes, beats, takes, reviews and receipts.

The receipt log (``PROJECT/receipts.jsonl``) is the source of truth: every
dispatch (receipts, ``submitted``, ``sending``, ``eval``), every take planned
(``take``) and every review decision or note (``review``) is a record in it.
The store indexes it for queries (spend, cache lookups, scores, reviews) and
keeps the project tree and each take's workflow state, all of which can be
rebuilt from the log and the shot list: delete the store and the next open
builds it again. :meth:`ProjectStore.reconcile` runs on every open and indexes
whatever the log holds that the store lacks, so a crash between the log append
and the store write loses nothing.

A project folder can be moved or copied (:mod:`.relocation`). Each take is
stored as a row (with its workflow's id, creation time and global provenance)
plus one row per step holding the step's mutable state and the id of its
receipt; loading joins them back, so a loaded project equals (``==``) the
saved one.

:class:`ProjectStore` owns the database connections, the writer claim and the
edit lock; the work is done by one module per concept, each given the
project's :class:`~recoil.store.project_db.ProjectDb`: :mod:`.queries` and
:mod:`.reviews` read, :mod:`.writes` writes (the log first), :mod:`.reconcile`
and :mod:`.reattach` bring the store up to the log, and :mod:`.legacy` moves
what older stores held into it.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path

from sqlalchemy import Connection, Engine, func, select
from sqlalchemy.exc import OperationalError

from recoil.errors import ProjectBusyError, StoreError
from recoil.model.receipt import Receipt, Record, ReviewRecord
from recoil.model.review import ReviewNote, ReviewStatus
from recoil.model.take import Project, Take
from recoil.store import legacy, queries, reattach, relocation, reviews, writes
from recoil.store.engine import create_store_engine, project_id, resolve_url, shown_url
from recoil.store.follower import LogFollower
from recoil.store.lock import editing
from recoil.store.migrations import migrate
from recoil.store.project_db import ProjectDb
from recoil.store.queries import SpendKey
from recoil.store.reconcile import index_new_tail, reconcile_log

FOLLOW_MIN_RECORDS = 2000
"""Receipts a run must be expected to write before :meth:`ProjectStore.following` starts a
process (about half a second of another core's time)."""


class ProjectStore:
    """One project's rows in a SQLite file or a (shared) PostgreSQL database."""

    def __init__(self, engine: Engine, *, project_dir: Path, project_id: str) -> None:
        """Use :meth:`open`; this only wires an engine already migrated."""
        self.notes: list[str] = []
        """Things opening the store did that a person should hear of (a copy made separate)."""
        self._db = ProjectDb(engine=engine, project_dir=project_dir, project_id=project_id)
        self._claim: Connection | None = None

    @classmethod
    def open(
        cls, project_dir: Path, *, url: str | None = None, reconcile: bool = True
    ) -> ProjectStore:
        """Open (creating or upgrading as needed) the store of ``project_dir``, then reconcile.

        ``url`` None falls back to ``RECOIL_DATABASE_URL``, then to
        ``project_dir/recoil.db`` (SQLite). ``reconcile=False`` skips the
        reconcile (for a process that only indexes the log).
        """
        project_dir = Path(project_dir)
        resolved = resolve_url(project_dir, url)
        if resolved.startswith("sqlite"):
            project_dir.mkdir(parents=True, exist_ok=True)
        engine = create_store_engine(resolved)
        try:
            migrate(engine)
            store = cls(engine, project_dir=project_dir, project_id=project_id(project_dir))
            # Under the edit lock: rebuilding rows from the log must not interleave with
            # a run saving its takes (see recoil.store.lock).
            with editing(project_dir, command="recoil (opening the store)"):
                if (note := relocation.register(store._db)) is not None:
                    store.notes.append(note)
                legacy.adopt_legacy(store._db)
                if reconcile:
                    reconcile_log(store._db)
        except OperationalError as exc:
            engine.dispose()
            if resolved.startswith("sqlite") and not os.access(project_dir, os.W_OK):
                raise StoreError(
                    f"cannot write the project folder {project_dir}: permission denied; "
                    "make it writable by you (the store, receipts and takes live there)"
                ) from exc
            raise StoreError(
                f"cannot open the project store at {shown_url(resolved)}: {exc.orig}; "
                "check that the database is reachable and the URL is right"
            ) from exc
        except BaseException:
            engine.dispose()
            raise
        return store

    def close(self) -> None:
        """Release the database connections (and with them a writer claim)."""
        if self._claim is not None:
            self._claim.close()
            self._claim = None
        self._db.engine.dispose()

    def claim_writer(self, command: str) -> None:
        """Claim the project for one writer in the database, until :meth:`close`.

        On PostgreSQL this is a session advisory lock keyed by the project id,
        held on a connection of its own; the server drops it when that
        connection ends, a crashed holder's included. It guards two machines
        that share one database (the folder lock guards one disk). On SQLite
        the database lives in the folder, and the folder lock is enough.
        """
        if self._db.engine.dialect.name != "postgresql" or self._claim is not None:
            return
        key = int.from_bytes(
            hashlib.sha256(self.project_id.encode()).digest()[:8], "big", signed=True
        )
        conn = self._db.engine.connect()
        taken = conn.execute(select(func.pg_try_advisory_lock(key))).scalar_one()
        conn.commit()
        if not taken:
            conn.close()
            raise ProjectBusyError(
                f"project {self.project_dir} is busy: another process holds it in the database "
                f"{self.url} (`{command}` cannot start); wait for it to finish "
                "(or stop it), then run again"
            )
        self._claim = conn

    def __enter__(self) -> ProjectStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def project_dir(self) -> Path:
        """The project folder, which holds the receipt log."""
        return self._db.project_dir

    @property
    def project_id(self) -> str:
        """The project's id; a copied folder gets a new one when its store opens."""
        return self._db.project_id

    @property
    def url(self) -> str:
        """The database URL, password hidden."""
        return self._db.engine.url.render_as_string(hide_password=True)

    # -- the project tree ------------------------------------------------------

    def load_project(self) -> Project | None:
        """The saved project tree; ``None`` when no project was saved yet."""
        return queries.load_project(self._db)

    def save_project(self, project: Project) -> None:
        """Upsert the whole tree in one transaction; rows absent from ``project`` are kept.

        A take the log has no ``take`` record of yet gets one first (durably), so
        the store can always be rebuilt from the log.
        """
        writes.save_project(self._db, project)

    def save_take(self, scene_id: str, beat_id: str, take: Take) -> None:
        """Upsert one take, its steps and their receipts in one transaction.

        The beat must already be in the store (:meth:`save_project` puts it there).
        A take new to the log gets its ``take`` record first.
        """
        writes.save_take(self._db, scene_id, beat_id, take)

    def set_primary(self, beat_id: str, take_id: str | None) -> None:
        """Record ``take_id`` (a take of the beat, or ``None``) as the beat's primary."""
        writes.set_primary(self._db, beat_id, take_id)

    # -- reviews -------------------------------------------------------------------

    def set_review(
        self,
        take_id: str,
        status: ReviewStatus | None,
        note: ReviewNote | None = None,
        *,
        author: str = "recoil",
    ) -> ReviewRecord:
        """Record a review decision (``status``) and/or a note on a take; returns the record.

        The record goes to the receipt log first (durably), then into the store.
        ``author`` names who decided when there is no note (a note names its own).
        """
        return reviews.set_review(self._db, take_id, status, note, author=author)

    def review(self, take_id: str) -> tuple[ReviewStatus, list[ReviewNote]]:
        """A take's review status and notes (oldest first)."""
        return reviews.review(self._db, take_id)

    def reviews(self) -> dict[str, tuple[ReviewStatus, list[ReviewNote]]]:
        """Every stored take's review status and notes; ``pending`` when never reviewed."""
        return reviews.reviews(self._db)

    def approvals(self) -> dict[str, str]:
        """beat_id -> the take a person approved last, among takes still approved."""
        return reviews.approvals(self._db)

    # -- verified files ------------------------------------------------------------

    def verified_files(self) -> dict[str, tuple[int, int]]:
        """sha256 -> (bytes, mtime_ns) of artifact files last hashed intact at that size and
        modification time; while both stay the same the file need not be hashed again."""
        return queries.verified_files(self._db)

    def mark_verified(self, files: Iterable[tuple[str, int, int]]) -> None:
        """Remember ``(sha256, bytes, mtime_ns)`` of files just hashed intact."""
        writes.mark_verified(self._db, files)

    # -- the log and its index -------------------------------------------------------

    def record(self, records: Sequence[Record]) -> None:
        """Append records to the project's receipt log (durably, in one write), then index
        them: what only the store held would be lost with it."""
        writes.record(self._db, records)

    def index_receipt(self, receipt: Receipt) -> None:
        """Index one receipt; indexing the same receipt again does nothing."""
        writes.index_records(self._db, [receipt])

    def index_records(self, records: Iterable[Record]) -> int:
        """Index log records of any kind; returns how many were new to the store."""
        return writes.index_records(self._db, records)

    def receipts(self, *, run_id: str | None = None) -> list[Receipt]:
        """Indexed receipts in log order, optionally only those of one run."""
        return queries.receipts(self._db, run_id=run_id)

    def spend(self, by: SpendKey) -> list[tuple[str, int, float, str]]:
        """``(key, dispatches, total cost, currency)`` per key, sorted by key then currency.

        ``scene`` comes from the receipt's provenance and ``run`` from its run
        id; receipts without one are counted under ``"-"``. Mixed currencies
        give one row each.
        """
        return queries.spend(self._db, by)

    def eval_scores(self) -> dict[str, dict[str, float]]:
        """receipt_id -> its scores merged with later ``eval`` records (later wins).

        Only receipts with at least one score appear.
        """
        return queries.eval_scores(self._db)

    # -- reconcile -----------------------------------------------------------------

    def reconcile(self) -> int:
        """Index what the receipt log holds that the store lacks; returns how many records.

        Reads only the log's new tail (see :mod:`recoil.store.log_tail`), then
        calls :meth:`reattach`; all under the project's edit lock.
        """
        with editing(self.project_dir, command="recoil (reconciling the store)"):
            return reconcile_log(self._db)

    def index_log(self) -> int:
        """Index the log's new tail, and nothing else; returns how many records."""
        return index_new_tail(self._db)

    def following(self, records: int) -> AbstractContextManager[object]:
        """While the block runs, index the log from a second process (:mod:`.follower`).

        Only worth a process start for a run expected to write ``records`` >=
        :data:`FOLLOW_MIN_RECORDS` receipts, and only with a core to spare;
        otherwise a no-op. Leaving the block stops the follower; call
        :meth:`reconcile` after it for the last lines.
        """
        if records < FOLLOW_MIN_RECORDS or (os.cpu_count() or 1) < 2:
            return nullcontext()
        url = self._db.engine.url.render_as_string(hide_password=False)
        return LogFollower(self.project_dir, url)

    def reattach(self) -> int:
        """Attach indexed receipts to stored steps that lack them; returns how many steps.

        A receipt belongs to the step named by its provenance (``take_id`` +
        ``workflow_step_id``). Where a crash kept a step from being saved with
        its latest receipt, that receipt is attached: a succeeded one makes
        the step ``succeeded``; a failed one makes it ``failed``, or leaves it
        ``pending`` when the error is retryable, so a resumed run tries again.
        Succeeded steps are never touched, and take statuses are left to the
        run that resumes them. Runs on every :meth:`reconcile`; call it after
        saving a re-planned project to pick up receipts of takes the store
        did not know yet.
        """
        return reattach.reattach(self._db)

    def purge(self) -> None:
        """Delete every row of this project from the database (the log and files stay).

        The next :meth:`reconcile` rebuilds it from the receipt log: receipts,
        reviews, and the takes the log planned (their steps re-attached to their
        receipts); planning the project from its shot list fills in the rest.
        """
        writes.purge(self._db)
