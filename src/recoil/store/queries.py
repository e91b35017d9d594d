"""Reading the store: the project tree, receipts, spend, scores and verified files.

Each function reads in one transaction (one snapshot), so what it returns is
consistent even while a run writes. Review queries are in :mod:`.reviews`.
"""

from __future__ import annotations

from typing import Literal

from sqlalchemy import Connection, func, select

from recoil.errors import StoreError
from recoil.model.receipt import Receipt
from recoil.model.take import Beat, Project, Scene, Take
from recoil.model.workflow import WorkflowStep
from recoil.records import codec
from recoil.store import schema, table_rows
from recoil.store.project_db import ProjectDb
from recoil.store.schema import loads

SpendKey = Literal["provider", "modality", "scene", "run"]
_SPEND_COLUMNS = {
    "provider": schema.receipts.c.provider,
    "modality": schema.receipts.c.modality,
    "scene": schema.receipts.c.scene_id,
    "run": schema.receipts.c.run_id,
}


def load_project(db: ProjectDb) -> Project | None:
    """The saved project tree; ``None`` when no project was saved yet."""
    pid = db.project_id
    with db.read() as conn:
        row = conn.execute(
            select(schema.projects).where(schema.projects.c.project_id == pid)
        ).one_or_none()
        if row is None or row.saved_at is None:
            return None
        beats = _beats_by_scene(conn, pid, _takes_by_beat(conn, pid))
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


def _takes_by_beat(conn: Connection, pid: str) -> dict[str, list[Take]]:
    receipts = _step_receipts(conn, pid)
    steps: dict[str, list[WorkflowStep]] = {}
    for s in conn.execute(table_rows.ordered(schema.steps, pid, "position")):
        steps.setdefault(s.take_id, []).append(table_rows.step_from_row(s, receipts))
    takes: dict[str, list[Take]] = {}
    for t in conn.execute(table_rows.ordered(schema.takes, pid, "take_index")):
        takes.setdefault(t.beat_id, []).append(table_rows.take_from_row(t, steps[t.take_id]))
    return takes


def _beats_by_scene(
    conn: Connection, pid: str, takes: dict[str, list[Take]]
) -> dict[str, list[Beat]]:
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
    return beats


def _step_receipts(conn: Connection, pid: str) -> dict[str, Receipt]:
    s, r = schema.steps, schema.receipts
    query = select(r.c.receipt_id, r.c.body).where(
        r.c.project_id == pid,
        r.c.receipt_id.in_(
            select(s.c.receipt_id).where(s.c.project_id == pid, s.c.receipt_id.is_not(None))
        ),
    )
    return {rid: codec.decode_as(Receipt, loads(body)) for rid, body in conn.execute(query)}


def receipts(db: ProjectDb, *, run_id: str | None = None) -> list[Receipt]:
    """Indexed receipts in log order, optionally only those of one run."""
    r = schema.receipts
    query = select(r.c.body).where(r.c.project_id == db.project_id).order_by(r.c.seq)
    if run_id is not None:
        query = query.where(r.c.run_id == run_id)
    with db.read() as conn:
        return [codec.decode_as(Receipt, loads(body)) for body in conn.execute(query).scalars()]


def spend(db: ProjectDb, by: SpendKey) -> list[tuple[str, int, float, str]]:
    """``(key, dispatches, total cost, currency)`` per key, sorted by key then currency."""
    if by not in _SPEND_COLUMNS:
        raise StoreError(f"cannot group spend by {by!r}; use one of {', '.join(_SPEND_COLUMNS)}")
    r = schema.receipts
    key = func.coalesce(_SPEND_COLUMNS[by], "-").label("key")
    query = (
        select(key, func.count(), func.sum(r.c.cost), r.c.currency)
        .where(r.c.project_id == db.project_id)
        .group_by(key, r.c.currency)
        .order_by(key, r.c.currency)
    )
    with db.read() as conn:
        return [(k, int(n), float(total or 0.0), cur) for k, n, total, cur in conn.execute(query)]


def eval_scores(db: ProjectDb) -> dict[str, dict[str, float]]:
    """receipt_id -> its scores merged with later ``eval`` records (later wins)."""
    r, e = schema.receipts, schema.evals
    pid = db.project_id
    merged: dict[str, dict[str, float]] = {}
    with db.read() as conn:
        own = select(r.c.receipt_id, r.c.scores).where(r.c.project_id == pid, r.c.scores != "{}")
        for receipt_id, scores in conn.execute(own.order_by(r.c.seq)):
            merged[receipt_id] = dict(loads(scores))
        later = select(e.c.receipt_id, e.c.scores).where(e.c.project_id == pid)
        for receipt_id, scores in conn.execute(later.order_by(e.c.seq)):
            merged.setdefault(receipt_id, {}).update(loads(scores))
    return merged


def verified_files(db: ProjectDb) -> dict[str, tuple[int, int]]:
    """sha256 -> (bytes, mtime_ns) of artifact files last hashed intact."""
    v = schema.verified
    with db.read() as conn:
        found = conn.execute(
            select(v.c.sha256, v.c.bytes, v.c.mtime_ns).where(v.c.project_id == db.project_id)
        )
        return {row.sha256: (row.bytes, row.mtime_ns) for row in found}
