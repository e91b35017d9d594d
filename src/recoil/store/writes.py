"""Writing the store: the log first, then the rows.

What only the store held would be lost with it, so a record goes to the
receipt log (durably) before it is indexed, and a take new to the log gets its
``take`` record before its rows are saved: the store can always be rebuilt
from the log (:mod:`.reconcile`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, select
from sqlalchemy.exc import IntegrityError

from recoil.errors import NotFoundError, StoreError
from recoil.model.ids import utc_now_iso
from recoil.model.receipt import Record, TakeRecord
from recoil.model.take import Project, Take, TakeStatus
from recoil.records import codec
from recoil.records.log import ReceiptLog
from recoil.store import schema, table_rows
from recoil.store.project_db import ProjectDb
from recoil.store.schema import dumps


def record(db: ProjectDb, records: Sequence[Record]) -> None:
    """Append ``records`` to the receipt log (durably, in one write), then index them."""
    if not records:
        return
    with ReceiptLog(db.log_path) as log:
        log.append_many([codec.encode(r) for r in records])
    index_records(db, records)


def index_records(db: ProjectDb, records: Iterable[Record]) -> int:
    """Index log records of any kind; returns how many were new to the store."""
    with db.write() as conn:
        return _index(conn, db.project_id, records)


def save_project(db: ProjectDb, project: Project) -> None:
    """Upsert the whole tree in one transaction, its new takes logged first."""
    _record_new_takes(
        db,
        [
            (scene.scene_id, beat.beat_id, take)
            for scene in project.scenes
            for beat in scene.beats
            for take in beat.takes
        ],
    )
    pid = db.project_id
    rows = _TreeRows.of(pid, project)
    with db.write() as conn:
        project_row = {
            "project_id": pid,
            "project_dir": str(db.project_dir.resolve()),
            "name": project.name,
            "settings": dumps(project.settings),
            "created_at": project.created_at,
            "saved_at": utc_now_iso(),
        }
        table_rows.upsert(conn, schema.projects, [project_row])
        table_rows.upsert(conn, schema.scenes, rows.scenes)
        table_rows.upsert(conn, schema.beats, rows.beats)
        table_rows.upsert(conn, schema.takes, rows.takes)
        table_rows.upsert(conn, schema.steps, rows.steps)
        _index(conn, pid, rows.receipts)


@dataclasses.dataclass(slots=True, kw_only=True)
class _TreeRows:
    """The rows of a project tree, table by table, and the receipts of its steps."""

    scenes: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    beats: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    takes: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    steps: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    receipts: list[Record] = dataclasses.field(default_factory=list)

    @classmethod
    def of(cls, pid: str, project: Project) -> _TreeRows:
        rows = cls()
        for position, scene in enumerate(project.scenes):
            rows.scenes.append(table_rows.scene_row(pid, scene, position))
            for beat_position, beat in enumerate(scene.beats):
                rows.beats.append(table_rows.beat_row(pid, scene.scene_id, beat, beat_position))
                for take in beat.takes:
                    rows.takes.append(table_rows.take_row(pid, beat.beat_id, take))
                    rows.steps.extend(table_rows.step_rows(pid, take))
                    rows.receipts.extend(take.receipts())
        return rows


def save_take(db: ProjectDb, scene_id: str, beat_id: str, take: Take) -> None:
    """Upsert one take of a stored beat, its steps and their receipts in one transaction."""
    _record_new_takes(db, [(scene_id, beat_id, take)])
    pid = db.project_id
    try:
        with db.write() as conn:
            table_rows.upsert(conn, schema.takes, [table_rows.take_row(pid, beat_id, take)])
            table_rows.upsert(conn, schema.steps, table_rows.step_rows(pid, take))
            _index(conn, pid, take.receipts())
    except IntegrityError as exc:
        raise StoreError(
            f"cannot save take {take.take_id!r}: beat {beat_id!r} of scene {scene_id!r} "
            "is not in the store; save the project (save_project) before its takes"
        ) from exc


def set_primary(db: ProjectDb, beat_id: str, take_id: str | None) -> None:
    """Record ``take_id`` (a take of the beat, or ``None``) as the beat's primary."""
    beats, takes = schema.beats, schema.takes
    pid = db.project_id
    with db.write() as conn:
        if take_id is not None:
            found = conn.execute(
                select(takes.c.take_id).where(
                    takes.c.project_id == pid,
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
            .where(beats.c.project_id == pid, beats.c.beat_id == beat_id)
            .values(primary_take_id=take_id)
        )
        if updated.rowcount == 0:
            raise NotFoundError(f"no beat {beat_id!r} in the project store")


def mark_verified(db: ProjectDb, files: Iterable[tuple[str, int, int]]) -> None:
    """Remember ``(sha256, bytes, mtime_ns)`` of files just hashed intact."""
    values = [
        {"project_id": db.project_id, "sha256": sha, "bytes": size, "mtime_ns": mtime}
        for sha, size, mtime in files
    ]
    if values:
        with db.write() as conn:
            table_rows.upsert(conn, schema.verified, values)


def purge(db: ProjectDb) -> None:
    """Delete every row of the project from the database (the log and files stay)."""
    with db.write() as conn:
        for table in reversed(schema.PROJECT_TABLES):
            conn.execute(table.delete().where(table.c.project_id == db.project_id))


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
        take_id=take.take_id, beat_id=beat_id, scene_id=scene_id, take=codec.encode(planned)
    )


def _record_new_takes(db: ProjectDb, takes: Sequence[tuple[str, str, Take]]) -> None:
    if not takes:
        return
    tr = schema.take_records
    with db.read() as conn:
        known = set(
            conn.execute(select(tr.c.take_id).where(tr.c.project_id == db.project_id)).scalars()
        )
    record(
        db,
        [
            take_record(scene_id, beat_id, take)
            for scene_id, beat_id, take in takes
            if take.take_id not in known
        ],
    )


def _index(conn: Connection, pid: str, records: Iterable[Record]) -> int:
    batch = table_rows.LogRows()
    for one in records:
        batch.add(pid, one)
    return batch.insert(conn)
