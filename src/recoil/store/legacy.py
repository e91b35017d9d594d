"""Moving into the receipt log what only an older store held.

Schema versions 1 and 2 kept review decisions and notes in tables of their
own, and takes were once planned without a ``take`` record; the log must hold
both for the store to be rebuilt from it. Opening the store logs them once,
then drops the old review rows.
"""

from __future__ import annotations

import hashlib

from sqlalchemy import Connection, and_, inspect, select

from recoil.model.receipt import Record, ReviewRecord
from recoil.model.review import ReviewStatus
from recoil.store import queries, schema, writes
from recoil.store.project_db import ProjectDb


def adopt_legacy(db: ProjectDb) -> None:
    """Log the legacy review rows and the unlogged takes, then delete those rows."""
    pid = db.project_id
    with db.read() as conn:
        unlogged = _unlogged_take_ids(conn, pid)
        legacy = inspect(conn).has_table(schema.legacy_reviews.name)
    records = _take_records(db, unlogged) if unlogged else []
    if legacy:
        records += _legacy_reviews(db)
    if records:
        writes.record(db, records)
    if legacy:
        with db.write() as conn:
            for table in (schema.legacy_notes, schema.legacy_reviews):
                conn.execute(table.delete().where(table.c.project_id == pid))


def _unlogged_take_ids(conn: Connection, pid: str) -> set[str]:
    """The stored takes the log has no ``take`` record of."""
    t, tr = schema.takes, schema.take_records
    query = (
        select(t.c.take_id)
        .outerjoin(tr, and_(tr.c.project_id == t.c.project_id, tr.c.take_id == t.c.take_id))
        .where(t.c.project_id == pid, tr.c.take_id.is_(None))
    )
    return set(conn.execute(query).scalars())


def _take_records(db: ProjectDb, take_ids: set[str]) -> list[Record]:
    """The ``take`` records of the stored takes ``take_ids``, in the project's order."""
    project = queries.load_project(db)
    return [
        writes.take_record(scene.scene_id, beat.beat_id, take)
        for scene in (project.scenes if project is not None else [])
        for beat in scene.beats
        for take in beat.takes
        if take.take_id in take_ids
    ]


def _legacy_reviews(db: ProjectDb) -> list[Record]:
    r, n, t = schema.legacy_reviews, schema.legacy_notes, schema.takes
    pid = db.project_id
    with db.read() as conn:
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


def _legacy_id(pid: str, take_id: str, what: str) -> str:
    """A review record id derived from the legacy row it comes from: moving the rows
    again (a crash before they were deleted) logs records the index already has."""
    digest = hashlib.sha256(f"{pid}/{take_id}/{what}".encode()).hexdigest()[:24]
    return f"rv_legacy_{digest}"
