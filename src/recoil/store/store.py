"""The project store: the production's scenes, beats, takes, reviews and receipts.

The receipt log (``PROJECT/receipts.jsonl``) is the source of truth for what
was dispatched; the store indexes it for queries (spend, cache lookups, eval
scores) and holds what the log cannot: the project tree, each take's workflow
state and the reviews. :meth:`ProjectStore.reconcile` runs on every open and
indexes whatever the log holds that the store lacks, so a crash between the
log append and the store write loses nothing.

Each take is stored as a row (with its workflow's id, creation time and
global provenance) plus one row per step holding the step's mutable state
and the id of its receipt; loading joins them back, so a loaded project equals
(``==``) the saved one.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import Connection, Engine, and_, func, select
from sqlalchemy.exc import IntegrityError, OperationalError

from recoil.errors import NotFoundError, StoreError
from recoil.model.ids import utc_now_iso
from recoil.model.review import ReviewNote, ReviewStatus
from recoil.model.take import Beat, Project, Scene, Take
from recoil.model.workflow import StepStatus, WorkflowStep
from recoil.records.receipt import Receipt, Record, Submitted
from recoil.store import rows, schema
from recoil.store.engine import (
    WRITE_OPTION,
    create_store_engine,
    project_id,
    resolve_url,
    shown_url,
)
from recoil.store.follower import LogFollower
from recoil.store.lines import add_chunk
from recoil.store.migrations import migrate
from recoil.store.schema import dumps, loads
from recoil.store.tail import LogMark, LogTail

log = logging.getLogger(__name__)

RECEIPTS_FILE = "receipts.jsonl"
CHUNK_BYTES = 1 << 20
"""Bytes of the receipt log indexed per transaction while reconciling."""
FOLLOW_MIN_RECORDS = 2000
"""Receipts a run must be expected to write before :meth:`ProjectStore.following` starts a
process (about half a second of another core's time)."""

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
        self._engine = engine
        self._writer = engine.execution_options(**{WRITE_OPTION: True})

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
            store._register()
            if reconcile:
                store.reconcile()
        except OperationalError as exc:
            engine.dispose()
            raise StoreError(
                f"cannot open the project store at {shown_url(resolved)}: {exc.orig}; "
                "check that the database is reachable and the URL is right"
            ) from exc
        except BaseException:
            engine.dispose()
            raise
        return store

    def close(self) -> None:
        """Release the database connections."""
        self._engine.dispose()

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
            for s in conn.execute(rows.ordered(schema.steps, pid, "position")):
                steps.setdefault(s.take_id, []).append(rows.step_from_row(s, receipts))
            takes: dict[str, list[Take]] = {}
            for t in conn.execute(rows.ordered(schema.takes, pid, "take_index")):
                takes.setdefault(t.beat_id, []).append(rows.take_from_row(t, steps[t.take_id]))
            beats: dict[str, list[Beat]] = {}
            for b in conn.execute(rows.ordered(schema.beats, pid, "position")):
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
                for s in conn.execute(rows.ordered(schema.scenes, pid, "position"))
            ]
        return Project(
            name=row.name,
            scenes=scenes,
            settings=loads(row.settings),
            created_at=row.created_at,
        )

    def save_project(self, project: Project) -> None:
        """Upsert the whole tree in one transaction; rows absent from ``project`` are kept."""
        pid = self.project_id
        scene_rows: list[dict[str, Any]] = []
        beat_rows: list[dict[str, Any]] = []
        take_rows: list[dict[str, Any]] = []
        step_rows: list[dict[str, Any]] = []
        receipts: list[Record] = []
        for position, scene in enumerate(project.scenes):
            scene_rows.append(rows.scene_row(pid, scene, position))
            for beat_position, beat in enumerate(scene.beats):
                beat_rows.append(rows.beat_row(pid, scene.scene_id, beat, beat_position))
                for take in beat.takes:
                    take_rows.append(rows.take_row(pid, beat.beat_id, take))
                    step_rows.extend(rows.step_rows(pid, take))
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
            rows.upsert(conn, schema.projects, [project_row])
            rows.upsert(conn, schema.scenes, scene_rows)
            rows.upsert(conn, schema.beats, beat_rows)
            rows.upsert(conn, schema.takes, take_rows)
            rows.upsert(conn, schema.steps, step_rows)
            self._index(conn, receipts)

    def save_take(self, scene_id: str, beat_id: str, take: Take) -> None:
        """Upsert one take, its steps and their receipts in one transaction.

        The beat must already be in the store (:meth:`save_project` puts it there).
        """
        pid = self.project_id
        try:
            with self._write() as conn:
                rows.upsert(conn, schema.takes, [rows.take_row(pid, beat_id, take)])
                rows.upsert(conn, schema.steps, rows.step_rows(pid, take))
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
        self, take_id: str, status: ReviewStatus, note: ReviewNote | None = None
    ) -> None:
        """Set a take's review status and add ``note`` to its notes, in one transaction."""
        status = ReviewStatus(status)
        pid = self.project_id
        with self._write() as conn:
            self._require_take(conn, take_id)
            review = {"status": status.value, "updated_at": utc_now_iso()}
            rows.upsert(conn, schema.reviews, [{"project_id": pid, "take_id": take_id, **review}])
            if note is not None:
                conn.execute(
                    schema.notes.insert().values(project_id=pid, take_id=take_id, **note.to_dict())
                )

    def review(self, take_id: str) -> tuple[ReviewStatus, list[ReviewNote]]:
        """A take's review status and notes (oldest first)."""
        with self._reader() as conn:
            self._require_take(conn, take_id)
            found = self._reviews(conn, take_id)
        return found.get(take_id, (ReviewStatus.PENDING, []))

    def reviews(self) -> dict[str, tuple[ReviewStatus, list[ReviewNote]]]:
        """Every stored take's review status and notes; ``pending`` when never reviewed."""
        with self._reader() as conn:
            return self._reviews(conn, None)

    def _reviews(
        self, conn: Connection, take_id: str | None
    ) -> dict[str, tuple[ReviewStatus, list[ReviewNote]]]:
        takes, reviews, notes = schema.takes, schema.reviews, schema.notes
        query = (
            select(takes.c.take_id, reviews.c.status)
            .outerjoin(
                reviews,
                and_(
                    reviews.c.project_id == takes.c.project_id, reviews.c.take_id == takes.c.take_id
                ),
            )
            .where(takes.c.project_id == self.project_id)
        )
        note_query = select(notes).where(notes.c.project_id == self.project_id).order_by(notes.c.id)
        if take_id is not None:
            query = query.where(takes.c.take_id == take_id)
            note_query = note_query.where(notes.c.take_id == take_id)
        result: dict[str, tuple[ReviewStatus, list[ReviewNote]]] = {
            row.take_id: (ReviewStatus(row.status or ReviewStatus.PENDING), [])
            for row in conn.execute(query)
        }
        for row in conn.execute(note_query):
            result[row.take_id][1].append(
                ReviewNote(
                    author=row.author, text=row.text, created_at=row.created_at, frame=row.frame
                )
            )
        return result

    def _require_take(self, conn: Connection, take_id: str) -> None:
        takes = schema.takes
        found = conn.execute(
            select(takes.c.take_id).where(
                takes.c.project_id == self.project_id, takes.c.take_id == take_id
            )
        ).first()
        if found is None:
            raise NotFoundError(f"no take {take_id!r} in the project store; run `recoil status`")

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

        Reads only the log's new tail (see :mod:`recoil.store.tail`), then
        calls :meth:`reattach`.
        """
        count = self.index_log()
        self.reattach()
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
            batch = rows.LogRows()
            add_chunk(batch, self.project_id, chunk)
            committed = tail.mark_at(chunk.end)
            count += self._commit(batch, committed)
        if committed == mark and tail.mark_at(tail.start) != mark:
            # Nothing to index, but the log no longer continues the marked one.
            self._commit(rows.LogRows(), tail.mark_at(tail.start))
        return count

    def _commit(self, batch: rows.LogRows, mark: LogMark) -> int:
        with self._write() as conn:
            count = batch.insert(conn)
            values = [
                {"project_id": self.project_id, "key": k, "value": v}
                for k, v in mark.to_meta().items()
            ]
            rows.upsert(conn, schema.meta, values)
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
                    .values(**rows.attached(receipt, row.started_us, row.attempts))
                )
                log.info(
                    "step %s/%s re-attached to receipt %s",
                    row.take_id,
                    row.step_id,
                    receipt.receipt_id,
                )
        return len(stale)

    # -- plumbing --------------------------------------------------------------

    def _register(self) -> None:
        p = schema.projects
        row = {"project_id": self.project_id, "project_dir": str(self.project_dir.resolve())}
        with self._write() as conn:
            conn.execute(
                rows.insert(conn, p).on_conflict_do_nothing(index_elements=["project_id"]), [row]
            )

    def purge(self) -> None:
        """Delete every row of this project from the database (the log and files stay).

        Opening the project again re-indexes its receipt log; the tree, take
        states and reviews are gone.
        """
        with self._write() as conn:
            for table in reversed(schema.PROJECT_TABLES):
                conn.execute(table.delete().where(table.c.project_id == self.project_id))

    def _index(self, conn: Connection, records: Iterable[Record]) -> int:
        batch = rows.LogRows()
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
