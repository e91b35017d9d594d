"""Review decisions and notes on takes: recorded in the receipt log, read from its index.

A review is never a row edited in place: each decision or note is a ``review``
record, and a take's status is that of its latest decision.
"""

from __future__ import annotations

from collections.abc import Iterator

from sqlalchemy import Connection, select

from recoil.errors import NotFoundError
from recoil.model.ids import new_id, utc_now_iso
from recoil.model.receipt import ReviewRecord
from recoil.model.review import ReviewNote, ReviewStatus
from recoil.store import schema, writes
from recoil.store.project_db import ProjectDb

Reviews = dict[str, tuple[ReviewStatus, list[ReviewNote]]]


def set_review(
    db: ProjectDb,
    take_id: str,
    status: ReviewStatus | None,
    note: ReviewNote | None,
    *,
    author: str,
) -> ReviewRecord:
    """Log and index a decision and/or a note on a stored take; returns the record."""
    with db.read() as conn:
        beat_id = _beat_of(conn, db.project_id, take_id)
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
    writes.record(db, [record])
    return record


def review(db: ProjectDb, take_id: str) -> tuple[ReviewStatus, list[ReviewNote]]:
    """A stored take's review status and notes (oldest first)."""
    with db.read() as conn:
        _beat_of(conn, db.project_id, take_id)
    return reviews(db).get(take_id, (ReviewStatus.PENDING, []))


def reviews(db: ProjectDb) -> Reviews:
    """Every stored take's review status and notes; ``pending`` when never reviewed."""
    takes = schema.takes
    with db.read() as conn:
        found: Reviews = {
            take_id: (ReviewStatus.PENDING, [])
            for take_id in conn.execute(
                select(takes.c.take_id).where(takes.c.project_id == db.project_id)
            ).scalars()
        }
        for record in _review_records(conn, db.project_id):
            status, notes = found.get(record.take_id, (ReviewStatus.PENDING, []))
            note = record.note
            if note is not None:
                notes.append(note)
            found[record.take_id] = (record.status or status, notes)
    return found


def approvals(db: ProjectDb) -> dict[str, str]:
    """beat_id -> the take a person approved last, among takes still approved."""
    status: dict[str, ReviewStatus] = {}
    approved_at: dict[str, tuple[int, str]] = {}
    with db.read() as conn:
        for n, record in enumerate(_review_records(conn, db.project_id)):
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


def _review_records(conn: Connection, pid: str) -> Iterator[ReviewRecord]:
    r = schema.review_records
    query = select(r).where(r.c.project_id == pid).order_by(r.c.seq)
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


def _beat_of(conn: Connection, pid: str, take_id: str) -> str:
    takes = schema.takes
    found = conn.execute(
        select(takes.c.beat_id).where(takes.c.project_id == pid, takes.c.take_id == take_id)
    ).scalar_one_or_none()
    if found is None:
        raise NotFoundError(f"no take {take_id!r} in the project store; run `recoil status`")
    return str(found)
