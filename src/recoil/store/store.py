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

A project folder can be moved: the store notices the new place and records
it. A copy of a folder (same project id, the original still in place) becomes
a project of its own with a new id, its store rebuilt from its own log, so two
copies never share rows in a shared database.

Each take is stored as a row (with its workflow's id, creation time and
global provenance) plus one row per step holding the step's mutable state
and the id of its receipt; loading joins them back, so a loaded project equals
(``==``) the saved one.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import Connection, Engine, and_, func, inspect, select
from sqlalchemy.exc import IntegrityError, OperationalError

from recoil.errors import NotFoundError, ProjectBusyError, StoreError
from recoil.model.ids import new_id, utc_now_iso
from recoil.model.receipt import Receipt, Record, ReviewRecord, Submitted, TakeRecord
from recoil.model.review import ReviewNote, ReviewStatus
from recoil.model.take import Beat, Project, Scene, Take, TakeStatus
from recoil.model.workflow import StepStatus, WorkflowStep
from recoil.records.log import ReceiptLog
from recoil.store import schema, table_rows
from recoil.store.engine import (
    PROJECT_ID_FILE,
    WRITE_OPTION,
    create_store_engine,
    project_id,
    renew_project_id,
    resolve_url,
    shown_url,
)
from recoil.store.follower import LogFollower
from recoil.store.lock import editing
from recoil.store.log_index import add_chunk
from recoil.store.log_tail import LogMark, LogTail
from recoil.store.migrations import migrate
from recoil.store.schema import dumps, loads

log = logging.getLogger(__name__)

RECEIPTS_FILE = "receipts.jsonl"
CHUNK_BYTES = 1 << 20
"""Bytes of the receipt log indexed per transaction while reconciling."""
FOLLOW_MIN_RECORDS = 2000
"""Receipts a run must be expected to write before :meth:`ProjectStore.following` starts a
process (about half a second of another core's time)."""

_ENDED = frozenset({StepStatus.SUCCEEDED, StepStatus.FAILED, StepStatus.SKIPPED})

SpendKey = Literal["provider", "modality", "scene", "run"]
_SPEND_COLUMNS = {
    "provider": schema.receipts.c.provider,
    "modality": schema.receipts.c.modality,
    "scene": schema.receipts.c.scene_id,
    "run": schema.receipts.c.run_id,
}


class ProjectStore:
    """One project's rows in a SQLite file or a (shared) PostgreSQL database."""

    def __init__(self, engine: Engine, *, project_dir: Path, project_id: str) -> None:
        """Use :meth:`open`; this only wires an engine already migrated."""
        self.project_dir = project_dir
        self.project_id = project_id
        self.notes: list[str] = []
        """Things opening the store did that a person should hear of (a copy made separate)."""
        self._engine = engine
        self._writer = engine.execution_options(**{WRITE_OPTION: True})
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
                store._register()
                store._adopt_legacy()
                if reconcile:
                    store._reconcile()
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
        self._engine.dispose()

    def claim_writer(self, command: str) -> None:
        """Claim the project for one writer in the database, until :meth:`close`.

        On PostgreSQL this is a session advisory lock keyed by the project id,
        held on a connection of its own; the server drops it when that
        connection ends, a crashed holder's included. It guards two machines
        that share one database (the folder lock guards one disk). On SQLite
        the database lives in the folder, and the folder lock is enough.
        """
        if self._engine.dialect.name != "postgresql" or self._claim is not None:
            return
        key = int.from_bytes(
            hashlib.sha256(self.project_id.encode()).digest()[:8], "big", signed=True
        )
        conn = self._engine.connect()
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
    def url(self) -> str:
        """The database URL, password hidden."""
        return self._engine.url.render_as_string(hide_password=True)

    # -- the project tree ------------------------------------------------------

    def load_project(self) -> Project | None:
        """The saved project tree; ``None`` when no project was saved yet."""
        pid = self.project_id
        with self._reader() as conn:
            row = conn.execute(
                select(schema.projects).where(schema.projects.c.project_id == pid)
            ).one_or_none()
            if row is None or row.saved_at is None:
                return None
            receipts = self._step_receipts(conn)
            steps: dict[str, list[WorkflowStep]] = {}
            for s in conn.execute(table_rows.ordered(schema.steps, pid, "position")):
                steps.setdefault(s.take_id, []).append(table_rows.step_from_row(s, receipts))
            takes: dict[str, list[Take]] = {}
            for t in conn.execute(table_rows.ordered(schema.takes, pid, "take_index")):
                takes.setdefault(t.beat_id, []).append(
                    table_rows.take_from_row(t, steps[t.take_id])
                )
            beats: dict[str, list[Beat]] = {}
            for b in conn.execute(table_rows.ordered(schema.beats, pid, "position")):
                beats.setdefault(b.scene_id, []).append(
                    Beat(
                        beat_id=b.beat_id,
                        takes=takes.get(b.beat_id, []),
                        primary_take_id=b.primary_take_id,
                        beat_metadata=loads(b.metadata),
                        created_at=b.created_at,
                        base_seed=b.base_seed,
                    )
                )
            scenes = [
                Scene(
                    scene_id=s.scene_id,
                    beats=beats.get(s.scene_id, []),
                    scene_metadata=loads(s.metadata),
                    created_at=s.created_at,
                )
                for s in conn.execute(table_rows.ordered(schema.scenes, pid, "position"))
            ]
        return Project(
            name=row.name,
            scenes=scenes,
            settings=loads(row.settings),
            created_at=row.created_at,
        )

    def save_project(self, project: Project) -> None:
        """Upsert the whole tree in one transaction; rows absent from ``project`` are kept.

        A take the log has no ``take`` record of yet gets one first (durably), so
        the store can always be rebuilt from the log.
        """
        self._record_new_takes(
            [
                (scene.scene_id, beat.beat_id, take)
                for scene in project.scenes
                for beat in scene.beats
                for take in beat.takes
            ]
        )
        pid = self.project_id
        scene_rows: list[dict[str, Any]] = []
        beat_rows: list[dict[str, Any]] = []
        take_rows: list[dict[str, Any]] = []
        step_rows: list[dict[str, Any]] = []
        receipts: list[Record] = []
        for position, scene in enumerate(project.scenes):
            scene_rows.append(table_rows.scene_row(pid, scene, position))
            for beat_position, beat in enumerate(scene.beats):
                beat_rows.append(table_rows.beat_row(pid, scene.scene_id, beat, beat_position))
                for take in beat.takes:
                    take_rows.append(table_rows.take_row(pid, beat.beat_id, take))
                    step_rows.extend(table_rows.step_rows(pid, take))
                    receipts.extend(take.receipts())
        with self._write() as conn:
            project_row = {
                "project_id": pid,
                "project_dir": str(self.project_dir.resolve()),
                "name": project.name,
                "settings": dumps(project.settings),
                "created_at": project.created_at,
                "saved_at": utc_now_iso(),
            }
            table_rows.upsert(conn, schema.projects, [project_row])
            table_rows.upsert(conn, schema.scenes, scene_rows)
            table_rows.upsert(conn, schema.beats, beat_rows)
            table_rows.upsert(conn, schema.takes, take_rows)
            table_rows.upsert(conn, schema.steps, step_rows)
            self._index(conn, receipts)

    def save_take(self, scene_id: str, beat_id: str, take: Take) -> None:
        """Upsert one take, its steps and their receipts in one transaction.

        The beat must already be in the store (:meth:`save_project` puts it there).
        A take new to the log gets its ``take`` record first.
        """
        self._record_new_takes([(scene_id, beat_id, take)])
        pid = self.project_id
        try:
            with self._write() as conn:
                table_rows.upsert(conn, schema.takes, [table_rows.take_row(pid, beat_id, take)])
                table_rows.upsert(conn, schema.steps, table_rows.step_rows(pid, take))
                self._index(conn, take.receipts())
        except IntegrityError as exc:
            raise StoreError(
                f"cannot save take {take.take_id!r}: beat {beat_id!r} of scene {scene_id!r} "
                "is not in the store; save the project (save_project) before its takes"
            ) from exc

    def set_primary(self, beat_id: str, take_id: str | None) -> None:
        """Record ``take_id`` (a take of the beat, or ``None``) as the beat's primary."""
        beats, takes = schema.beats, schema.takes
        with self._write() as conn:
            if take_id is not None:
                found = conn.execute(
                    select(takes.c.take_id).where(
                        takes.c.project_id == self.project_id,
                        takes.c.beat_id == beat_id,
                        takes.c.take_id == take_id,
                    )
                ).first()
                if found is None:
                    raise NotFoundError(
                        f"beat {beat_id!r} has no take {take_id!r} in the store; "
                        "choose one of the beat's takes"
                    )
            updated = conn.execute(
                beats.update()
                .where(beats.c.project_id == self.project_id, beats.c.beat_id == beat_id)
                .values(primary_take_id=take_id)
            )
            if updated.rowcount == 0:
                raise NotFoundError(f"no beat {beat_id!r} in the project store")

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
        with self._reader() as conn:
            beat_id = self._beat_of(conn, take_id)
        record = ReviewRecord(
            record_id=new_id("rv"),
            take_id=take_id,
            beat_id=beat_id,
            author=note.author if note is not None else author,
            created_at=note.created_at if note is not None else utc_now_iso(),
            status=ReviewStatus(status) if status is not None else None,
            text=note.text if note is not None else None,
            frame=note.frame if note is not None else None,
        )
        self.record([record])
        return record

    def review(self, take_id: str) -> tuple[ReviewStatus, list[ReviewNote]]:
        """A take's review status and notes (oldest first)."""
        with self._reader() as conn:
            self._beat_of(conn, take_id)
        return self.reviews().get(take_id, (ReviewStatus.PENDING, []))

    def reviews(self) -> dict[str, tuple[ReviewStatus, list[ReviewNote]]]:
        """Every stored take's review status and notes; ``pending`` when never reviewed."""
        takes = schema.takes
        with self._reader() as conn:
            found: dict[str, tuple[ReviewStatus, list[ReviewNote]]] = {
                take_id: (ReviewStatus.PENDING, [])
                for take_id in conn.execute(
                    select(takes.c.take_id).where(takes.c.project_id == self.project_id)
                ).scalars()
            }
            for record in self._review_records(conn):
                status, notes = found.get(record.take_id, (ReviewStatus.PENDING, []))
                note = record.note
                if note is not None:
                    notes.append(note)
                found[record.take_id] = (record.status or status, notes)
        return found

    def approvals(self) -> dict[str, str]:
        """beat_id -> the take a person approved last, among takes still approved."""
        status: dict[str, ReviewStatus] = {}
        approved_at: dict[str, tuple[int, str]] = {}
        with self._reader() as conn:
            for n, record in enumerate(self._review_records(conn)):
                if record.status is None:
                    continue
                status[record.take_id] = record.status
                if record.status is ReviewStatus.APPROVED:
                    approved_at[record.take_id] = (n, record.beat_id)
        latest: dict[str, tuple[int, str]] = {}
        for take_id, (n, beat_id) in approved_at.items():
            if status[take_id] is ReviewStatus.APPROVED and n >= latest.get(beat_id, (-1, ""))[0]:
                latest[beat_id] = (n, take_id)
        return {beat_id: take_id for beat_id, (_, take_id) in latest.items()}

    def _review_records(self, conn: Connection) -> Iterator[ReviewRecord]:
        r = schema.review_records
        query = select(r).where(r.c.project_id == self.project_id).order_by(r.c.seq)
        for row in conn.execute(query):
            yield ReviewRecord(
                record_id=row.record_id,
                take_id=row.take_id,
                beat_id=row.beat_id,
                author=row.author or "",
                created_at=row.created_at or "",
                status=ReviewStatus(row.status) if row.status is not None else None,
                text=row.text,
                frame=row.frame,
            )

    def _beat_of(self, conn: Connection, take_id: str) -> str:
        takes = schema.takes
        found = conn.execute(
            select(takes.c.beat_id).where(
                takes.c.project_id == self.project_id, takes.c.take_id == take_id
            )
        ).scalar_one_or_none()
        if found is None:
            raise NotFoundError(f"no take {take_id!r} in the project store; run `recoil status`")
        return str(found)

    # -- verified files ------------------------------------------------------------

    def verified_files(self) -> dict[str, tuple[int, int]]:
        """sha256 -> (bytes, mtime_ns) of artifact files last hashed intact at that size and
        modification time; while both stay the same the file need not be hashed again."""
        v = schema.verified
        with self._reader() as conn:
            found = conn.execute(
                select(v.c.sha256, v.c.bytes, v.c.mtime_ns).where(v.c.project_id == self.project_id)
            )
            return {row.sha256: (row.bytes, row.mtime_ns) for row in found}

    def mark_verified(self, files: Iterable[tuple[str, int, int]]) -> None:
        """Remember ``(sha256, bytes, mtime_ns)`` of files just hashed intact."""
        values = [
            {"project_id": self.project_id, "sha256": sha, "bytes": size, "mtime_ns": mtime}
            for sha, size, mtime in files
        ]
        if values:
            with self._write() as conn:
                table_rows.upsert(conn, schema.verified, values)

    # -- the log ---------------------------------------------------------------------

    def record(self, records: Sequence[Record]) -> None:
        """Append records to the project's receipt log (durably, in one write), then index
        them: what only the store held would be lost with it."""
        if not records:
            return
        with ReceiptLog(self.project_dir / RECEIPTS_FILE) as log:
            log.append_many([record.to_dict() for record in records])
        self.index_records(records)

    def _record_new_takes(self, takes: Sequence[tuple[str, str, Take]]) -> None:
        if not takes:
            return
        tr = schema.take_records
        with self._reader() as conn:
            known = set(
                conn.execute(
                    select(tr.c.take_id).where(tr.c.project_id == self.project_id)
                ).scalars()
            )
        self.record(
            [
                take_record(scene_id, beat_id, take)
                for scene_id, beat_id, take in takes
                if take.take_id not in known
            ]
        )

    # -- receipts ------------------------------------------------------------------

    def index_receipt(self, receipt: Receipt) -> None:
        """Index one receipt; indexing the same receipt again does nothing."""
        self.index_records([receipt])

    def index_records(self, records: Iterable[Record]) -> int:
        """Index log records of any kind; returns how many were new to the store."""
        with self._write() as conn:
            return self._index(conn, records)

    def receipts(self, *, run_id: str | None = None) -> list[Receipt]:
        """Indexed receipts in log order, optionally only those of one run."""
        r = schema.receipts
        query = select(r.c.body).where(r.c.project_id == self.project_id).order_by(r.c.seq)
        if run_id is not None:
            query = query.where(r.c.run_id == run_id)
        with self._reader() as conn:
            return [Receipt.from_dict(loads(body)) for body in conn.execute(query).scalars()]

    def find_succeeded(self, request_sha256: str) -> Receipt | None:
        """The latest succeeded receipt for a cache key, if any (SPEC section 7)."""
        r = schema.receipts
        query = (
            select(r.c.body)
            .where(
                r.c.project_id == self.project_id,
                r.c.request_sha256 == request_sha256,
                r.c.status == "succeeded",
            )
            .order_by(r.c.seq.desc())
            .limit(1)
        )
        with self._reader() as conn:
            body = conn.execute(query).scalar_one_or_none()
        return None if body is None else Receipt.from_dict(loads(body))

    def open_jobs(self) -> list[Submitted]:
        """Submitted jobs with no final receipt yet, in log order (to poll on resume)."""
        s, r = schema.submitted, schema.receipts
        finished = select(r.c.receipt_id).where(
            r.c.project_id == self.project_id, r.c.receipt_id == s.c.receipt_id
        )
        query = (
            select(s.c.body)
            .where(s.c.project_id == self.project_id, ~finished.exists())
            .order_by(s.c.seq)
        )
        with self._reader() as conn:
            return [Submitted.from_dict(loads(body)) for body in conn.execute(query).scalars()]

    def spend(self, by: SpendKey) -> list[tuple[str, int, float, str]]:
        """``(key, dispatches, total cost, currency)`` per key, sorted by key then currency.

        ``scene`` comes from the receipt's provenance and ``run`` from its run
        id; receipts without one are counted under ``"-"``. Mixed currencies
        give one row each.
        """
        if by not in _SPEND_COLUMNS:
            raise StoreError(
                f"cannot group spend by {by!r}; use one of {', '.join(_SPEND_COLUMNS)}"
            )
        r = schema.receipts
        key = func.coalesce(_SPEND_COLUMNS[by], "-").label("key")
        query = (
            select(key, func.count(), func.sum(r.c.cost), r.c.currency)
            .where(r.c.project_id == self.project_id)
            .group_by(key, r.c.currency)
            .order_by(key, r.c.currency)
        )
        with self._reader() as conn:
            return [
                (k, int(n), float(total or 0.0), cur) for k, n, total, cur in conn.execute(query)
            ]

    def eval_scores(self) -> dict[str, dict[str, float]]:
        """receipt_id -> its scores merged with later ``eval`` records (later wins).

        Only receipts with at least one score appear.
        """
        r, e = schema.receipts, schema.evals
        merged: dict[str, dict[str, float]] = {}
        with self._reader() as conn:
            own = select(r.c.receipt_id, r.c.scores).where(
                r.c.project_id == self.project_id, r.c.scores != "{}"
            )
            for receipt_id, scores in conn.execute(own.order_by(r.c.seq)):
                merged[receipt_id] = dict(loads(scores))
            later = select(e.c.receipt_id, e.c.scores).where(e.c.project_id == self.project_id)
            for receipt_id, scores in conn.execute(later.order_by(e.c.seq)):
                merged.setdefault(receipt_id, {}).update(loads(scores))
        return merged

    # -- reconcile -----------------------------------------------------------------

    def reconcile(self) -> int:
        """Index what the receipt log holds that the store lacks; returns how many records.

        Reads only the log's new tail (see :mod:`recoil.store.log_tail`), then
        calls :meth:`reattach`; all under the project's edit lock.
        """
        with editing(self.project_dir, command="recoil (reconciling the store)"):
            return self._reconcile()

    def _reconcile(self) -> int:
        count = self.index_log()
        restored = self._restore_takes()
        self.reattach()
        if restored:
            self._settle(restored)
        return count

    def index_log(self) -> int:
        """Index the log's new tail, and nothing else; returns how many records."""
        mark = self._mark()
        with LogTail(self.project_dir / RECEIPTS_FILE, mark) as tail:
            if tail.empty and tail.start == mark.offset:
                return 0
            return self._index_tail(tail, mark)

    def following(self, records: int) -> AbstractContextManager[object]:
        """While the block runs, index the log from a second process (:mod:`.follower`).

        Only worth a process start for a run expected to write ``records`` >=
        :data:`FOLLOW_MIN_RECORDS` receipts, and only with a core to spare;
        otherwise a no-op. Leaving the block stops the follower; call
        :meth:`reconcile` after it for the last lines.
        """
        if records < FOLLOW_MIN_RECORDS or (os.cpu_count() or 1) < 2:
            return nullcontext()
        url = self._engine.url.render_as_string(hide_password=False)
        return LogFollower(self.project_dir, url)

    def _index_tail(self, tail: LogTail, mark: LogMark) -> int:
        count = 0
        committed = mark
        for chunk in tail.chunks(CHUNK_BYTES):
            batch = table_rows.LogRows()
            add_chunk(batch, self.project_id, chunk)
            committed = tail.mark_at(chunk.end)
            count += self._commit(batch, committed)
        if committed == mark and tail.mark_at(tail.start) != mark:
            # Nothing to index, but the log no longer continues the marked one.
            self._commit(table_rows.LogRows(), tail.mark_at(tail.start))
        return count

    def _commit(self, batch: table_rows.LogRows, mark: LogMark) -> int:
        with self._write() as conn:
            count = batch.insert(conn)
            values = [
                {"project_id": self.project_id, "key": k, "value": v}
                for k, v in mark.to_meta().items()
            ]
            table_rows.upsert(conn, schema.meta, values)
        return count

    def _mark(self) -> LogMark:
        m = schema.meta
        with self._reader() as conn:
            found = conn.execute(
                select(m.c.key, m.c.value).where(m.c.project_id == self.project_id)
            )
            return LogMark.from_meta({row.key: row.value for row in found})

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
        s, r = schema.steps, schema.receipts
        query = (
            select(
                s.c.take_id,
                s.c.step_id,
                s.c.receipt_id,
                s.c.started_us,
                s.c.attempts,
                r.c.receipt_id.label("latest"),
                r.c.body,
            )
            .join(
                r,
                and_(
                    r.c.project_id == s.c.project_id,
                    r.c.take_id == s.c.take_id,
                    r.c.step_id == s.c.step_id,
                ),
            )
            .where(s.c.project_id == self.project_id, s.c.status != StepStatus.SUCCEEDED.value)
            .order_by(r.c.seq)
        )
        with self._reader() as conn:
            latest = {(row.take_id, row.step_id): row for row in conn.execute(query)}
        stale = [row for row in latest.values() if row.receipt_id != row.latest]
        if not stale:
            return 0
        with self._write() as conn:
            for row in stale:
                receipt = Receipt.from_dict(loads(row.body))
                conn.execute(
                    s.update()
                    .where(
                        s.c.project_id == self.project_id,
                        s.c.take_id == row.take_id,
                        s.c.step_id == row.step_id,
                        # The run may have saved the step meanwhile; never undo a success.
                        s.c.status != StepStatus.SUCCEEDED.value,
                    )
                    .values(**table_rows.attached(receipt, row.started_us, row.attempts))
                )
                log.info(
                    "step %s/%s re-attached to receipt %s",
                    row.take_id,
                    row.step_id,
                    receipt.receipt_id,
                )
        return len(stale)

    # -- rebuilding from the log -----------------------------------------------------

    def _restore_takes(self) -> set[str]:
        """Store the takes the log planned that the store lacks; returns their ids.

        That is every take after the store was deleted, or one whose record a
        crash kept from reaching the store. Scenes and beats are made as the
        records name them; planning the project fills in the rest.
        """
        tr, t = schema.take_records, schema.takes
        query = (
            select(tr.c.scene_id, tr.c.beat_id, tr.c.body)
            .outerjoin(t, and_(t.c.project_id == tr.c.project_id, t.c.take_id == tr.c.take_id))
            .where(tr.c.project_id == self.project_id, t.c.take_id.is_(None))
            .order_by(tr.c.seq)
        )
        with self._reader() as conn:
            missing = conn.execute(query).all()
        if not missing:
            return set()
        project = self.load_project() or Project(name="")
        scenes = {scene.scene_id: scene for scene in project.scenes}
        beats = {beat.beat_id: beat for beat in project.beats()}
        for scene_id, beat_id, body in missing:
            beat = beats.get(beat_id)
            if beat is None:
                scene = scenes.get(scene_id)
                if scene is None:
                    scene = scenes[scene_id] = Scene(scene_id=scene_id)
                    project.scenes.append(scene)
                beat = beats[beat_id] = Beat(beat_id=beat_id, beat_metadata={"scene_id": scene_id})
                scene.beats.append(beat)
            beat.takes.append(Take.from_dict(loads(body)))
            beat.takes.sort(key=lambda take: take.take_index)
        self.save_project(project)
        restored = {Take.from_dict(loads(body)).take_id for _, _, body in missing}
        log.info("rebuilt %d takes of %s from its receipt log", len(restored), self.project_dir)
        return restored

    def _settle(self, take_ids: set[str]) -> None:
        """Give restored takes whose steps all ended (receipts re-attached) their status."""
        project = self.load_project()
        if project is None:
            return
        for scene in project.scenes:
            for beat in scene.beats:
                for take in beat.takes:
                    steps = take.workflow.steps
                    if take.take_id in take_ids and all(s.status in _ENDED for s in steps):
                        take.finish()
                        self.save_take(scene.scene_id, beat.beat_id, take)

    def _adopt_legacy(self) -> None:
        """Move what only an older store held into the log: review decisions and notes
        (schema versions 1 and 2 kept them in tables), and takes planned before takes
        were logged."""
        t, tr = schema.takes, schema.take_records
        pid = self.project_id
        records: list[Record] = []
        with self._reader() as conn:
            unlogged = (
                conn.execute(
                    select(t.c.take_id)
                    .outerjoin(
                        tr, and_(tr.c.project_id == t.c.project_id, tr.c.take_id == t.c.take_id)
                    )
                    .where(t.c.project_id == pid, tr.c.take_id.is_(None))
                )
                .scalars()
                .all()
            )
            legacy = inspect(conn).has_table(schema.legacy_reviews.name)
        if unlogged:
            project = self.load_project()
            for scene in project.scenes if project is not None else []:
                for beat in scene.beats:
                    for take in beat.takes:
                        if take.take_id in unlogged:
                            records.append(take_record(scene.scene_id, beat.beat_id, take))
        if legacy:
            records += self._legacy_reviews()
        if records:
            self.record(records)
        if legacy:
            with self._write() as conn:
                for table in (schema.legacy_notes, schema.legacy_reviews):
                    conn.execute(table.delete().where(table.c.project_id == pid))

    def _legacy_reviews(self) -> list[Record]:
        r, n, t = schema.legacy_reviews, schema.legacy_notes, schema.takes
        pid = self.project_id
        with self._reader() as conn:
            found = conn.execute(select(t.c.take_id, t.c.beat_id).where(t.c.project_id == pid))
            beat_of = {row.take_id: row.beat_id for row in found}
            notes = conn.execute(select(n).where(n.c.project_id == pid).order_by(n.c.id)).all()
            statuses = conn.execute(select(r).where(r.c.project_id == pid)).all()
        records: list[Record] = [
            ReviewRecord(
                record_id=_legacy_id(pid, row.take_id, f"note-{row.id}"),
                take_id=row.take_id,
                beat_id=beat_of.get(row.take_id, ""),
                author=row.author,
                created_at=row.created_at,
                text=row.text,
                frame=row.frame,
            )
            for row in notes
        ]
        records += [
            ReviewRecord(
                record_id=_legacy_id(pid, row.take_id, "status"),
                take_id=row.take_id,
                beat_id=beat_of.get(row.take_id, ""),
                author="recoil (store upgrade)",
                created_at=row.updated_at,
                status=ReviewStatus(row.status),
            )
            for row in sorted(statuses, key=lambda row: row.updated_at)
        ]
        return records

    # -- plumbing --------------------------------------------------------------

    def _register(self) -> None:
        """Record where the project is; a copy of another folder becomes its own project."""
        p = schema.projects
        here = str(self.project_dir.resolve())
        with self._reader() as conn:
            there = conn.execute(
                select(p.c.project_dir).where(p.c.project_id == self.project_id)
            ).scalar_one_or_none()
        if there is not None and there != here and _holds_project(Path(there), self.project_id):
            original = self.project_id
            self.project_id = renew_project_id(self.project_dir)
            self.notes.append(
                f"{here} is a copy of {there}: it is now a project of its own "
                f"(id {self.project_id}), its store rebuilt from its receipt log"
            )
            log.warning("%s is a copy of project %s at %s", here, original, there)
            there = None
        with self._write() as conn:
            if there is None:
                conn.execute(
                    table_rows.insert(conn, p).on_conflict_do_nothing(
                        index_elements=["project_id"]
                    ),
                    [{"project_id": self.project_id, "project_dir": here}],
                )
            elif there != here:  # moved: the rows follow the folder
                conn.execute(
                    p.update().where(p.c.project_id == self.project_id).values(project_dir=here)
                )

    def purge(self) -> None:
        """Delete every row of this project from the database (the log and files stay).

        The next :meth:`reconcile` rebuilds it from the receipt log: receipts,
        reviews, and the takes the log planned (their steps re-attached to their
        receipts); planning the project from its shot list fills in the rest.
        """
        with self._write() as conn:
            for table in reversed(schema.PROJECT_TABLES):
                conn.execute(table.delete().where(table.c.project_id == self.project_id))

    def _index(self, conn: Connection, records: Iterable[Record]) -> int:
        batch = table_rows.LogRows()
        for record in records:
            batch.add(self.project_id, record)
        return batch.insert(conn)

    def _step_receipts(self, conn: Connection) -> dict[str, Receipt]:
        s, r = schema.steps, schema.receipts
        query = select(r.c.receipt_id, r.c.body).where(
            r.c.project_id == self.project_id,
            r.c.receipt_id.in_(
                select(s.c.receipt_id).where(
                    s.c.project_id == self.project_id, s.c.receipt_id.is_not(None)
                )
            ),
        )
        return {rid: Receipt.from_dict(loads(body)) for rid, body in conn.execute(query)}

    @contextmanager
    def _reader(self) -> Iterator[Connection]:
        with self._engine.connect() as conn:
            if conn.dialect.name == "postgresql":
                # One snapshot for every query of a read, like SQLite's read transaction.
                conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                yield conn

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        with self._writer.begin() as conn:
            yield conn


def take_record(scene_id: str, beat_id: str, take: Take) -> TakeRecord:
    """The ``take`` record of a take: as it was planned, every step pending."""
    planned = Take(
        take_id=take.take_id,
        take_index=take.take_index,
        workflow=dataclasses.replace(take.workflow, steps=[s.reset() for s in take.workflow.steps]),
        status=TakeStatus.PENDING,
        created_at=take.created_at,
        take_metadata=take.take_metadata,
        seed=take.seed,
    )
    return TakeRecord(
        take_id=take.take_id, beat_id=beat_id, scene_id=scene_id, take=planned.to_dict()
    )


def _legacy_id(pid: str, take_id: str, what: str) -> str:
    """A review record id derived from the legacy row it comes from: moving the rows
    again (a crash before they were deleted) logs records the index already has."""
    digest = hashlib.sha256(f"{pid}/{take_id}/{what}".encode()).hexdigest()[:24]
    return f"rv_legacy_{digest}"


def _holds_project(folder: Path, pid: str) -> bool:
    """True when ``folder`` is a project folder whose id is ``pid``."""
    try:
        return (folder / PROJECT_ID_FILE).read_text(encoding="utf-8").strip() == pid
    except OSError:
        return False
