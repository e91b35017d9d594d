"""Bringing the store up to its receipt log, and rebuilding from the log what it lacks.

The log is the source of truth. Reconciling indexes the log's new tail (read
from the mark the last pass left, see :mod:`.log_tail`), restores the takes
the log planned that the store lacks (all of them after the store was
deleted), re-attaches receipts to their steps (:mod:`.reattach`), and gives
restored takes whose steps all ended their final status.
"""

from __future__ import annotations

import logging

from sqlalchemy import and_, select

from recoil.model.take import Beat, Project, Scene, Take
from recoil.model.workflow import StepStatus
from recoil.records import codec
from recoil.store import queries, schema, table_rows, writes
from recoil.store.log_index import add_chunk
from recoil.store.log_tail import LogMark, LogTail
from recoil.store.project_db import ProjectDb
from recoil.store.reattach import reattach
from recoil.store.schema import loads

log = logging.getLogger(__name__)

CHUNK_BYTES = 1 << 20
"""Bytes of the receipt log indexed per transaction while reconciling."""

_ENDED = frozenset({StepStatus.SUCCEEDED, StepStatus.FAILED, StepStatus.SKIPPED})


def reconcile_log(db: ProjectDb) -> int:
    """Index the log's new tail and rebuild from it; returns how many records were new."""
    count = index_new_tail(db)
    restored = _restore_takes(db)
    reattach(db)
    if restored:
        _settle(db, restored)
    return count


def index_new_tail(db: ProjectDb) -> int:
    """Index the log's new tail, and nothing else; returns how many records."""
    mark = _mark(db)
    with LogTail(db.log_path, mark) as tail:
        if tail.empty and tail.start == mark.offset:
            return 0
        return _index_tail(db, tail, mark)


def _index_tail(db: ProjectDb, tail: LogTail, mark: LogMark) -> int:
    count = 0
    committed = mark
    for chunk in tail.chunks(CHUNK_BYTES):
        batch = table_rows.LogRows()
        add_chunk(batch, db.project_id, chunk)
        committed = tail.mark_at(chunk.end)
        count += _commit(db, batch, committed)
    if committed == mark and tail.mark_at(tail.start) != mark:
        # Nothing to index, but the log no longer continues the marked one.
        _commit(db, table_rows.LogRows(), tail.mark_at(tail.start))
    return count


def _commit(db: ProjectDb, batch: table_rows.LogRows, mark: LogMark) -> int:
    """Insert ``batch`` and move the mark past it in one transaction."""
    with db.write() as conn:
        count = batch.insert(conn)
        values = [
            {"project_id": db.project_id, "key": k, "value": v} for k, v in mark.to_meta().items()
        ]
        table_rows.upsert(conn, schema.meta, values)
    return count


def _mark(db: ProjectDb) -> LogMark:
    m = schema.meta
    with db.read() as conn:
        found = conn.execute(select(m.c.key, m.c.value).where(m.c.project_id == db.project_id))
        return LogMark.from_meta({row.key: row.value for row in found})


def _restore_takes(db: ProjectDb) -> set[str]:
    """Store the takes the log planned that the store lacks; returns their ids.

    That is every take after the store was deleted, or one whose record a
    crash kept from reaching the store. Scenes and beats are made as the
    records name them; planning the project fills in the rest.
    """
    tr, t = schema.take_records, schema.takes
    query = (
        select(tr.c.scene_id, tr.c.beat_id, tr.c.body)
        .outerjoin(t, and_(t.c.project_id == tr.c.project_id, t.c.take_id == tr.c.take_id))
        .where(tr.c.project_id == db.project_id, t.c.take_id.is_(None))
        .order_by(tr.c.seq)
    )
    with db.read() as conn:
        missing = conn.execute(query).all()
    if not missing:
        return set()
    project = queries.load_project(db) or Project(name="")
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
        beat.takes.append(codec.decode_as(Take, loads(body)))
        beat.takes.sort(key=lambda take: take.take_index)
    writes.save_project(db, project)
    restored = {codec.decode_as(Take, loads(body)).take_id for _, _, body in missing}
    log.info("rebuilt %d takes of %s from its receipt log", len(restored), db.project_dir)
    return restored


def _settle(db: ProjectDb, take_ids: set[str]) -> None:
    """Give restored takes whose steps all ended (receipts re-attached) their status."""
    project = queries.load_project(db)
    if project is None:
        return
    for scene in project.scenes:
        for beat in scene.beats:
            for take in beat.takes:
                steps = take.workflow.steps
                if take.take_id in take_ids and all(s.status in _ENDED for s in steps):
                    take.finish()
                    writes.save_take(db, scene.scene_id, beat.beat_id, take)
