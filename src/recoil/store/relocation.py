"""Where a project's folder is: a moved folder keeps its rows, a copy gets its own.

The store records each project's folder. Opened from another place while the
recorded folder is gone (or holds another project), the project moved, and its
rows follow it. Opened from another place while the recorded folder still
holds the same project id, the folder is a copy: it becomes a project of its
own with a new id, its rows rebuilt from its own log, so two copies never
share rows in a shared database.
"""

from __future__ import annotations

import logging
from pathlib import Path

from sqlalchemy import select

from recoil.store import schema, table_rows
from recoil.store.engine import PROJECT_ID_FILE, renew_project_id
from recoil.store.project_db import ProjectDb

log = logging.getLogger(__name__)


def register(db: ProjectDb) -> str | None:
    """Record where the project is; returns a note for a person when it was a copy.

    A copy gets a new ``db.project_id`` (and id file) before its rows are made.
    """
    p = schema.projects
    here = str(db.project_dir.resolve())
    with db.read() as conn:
        there = conn.execute(
            select(p.c.project_dir).where(p.c.project_id == db.project_id)
        ).scalar_one_or_none()
    note = None
    if there is not None and there != here and _holds_project(Path(there), db.project_id):
        original = db.project_id
        db.project_id = renew_project_id(db.project_dir)
        note = (
            f"{here} is a copy of {there}: it is now a project of its own "
            f"(id {db.project_id}), its store rebuilt from its receipt log"
        )
        log.warning("%s is a copy of project %s at %s", here, original, there)
        there = None
    with db.write() as conn:
        if there is None:
            conn.execute(
                table_rows.insert(conn, p).on_conflict_do_nothing(index_elements=["project_id"]),
                [{"project_id": db.project_id, "project_dir": here}],
            )
        elif there != here:  # moved: the rows follow the folder
            conn.execute(p.update().where(p.c.project_id == db.project_id).values(project_dir=here))
    return note


def _holds_project(folder: Path, pid: str) -> bool:
    """True when ``folder`` is a project folder whose id is ``pid``."""
    try:
        return (folder / PROJECT_ID_FILE).read_text(encoding="utf-8").strip() == pid
    except OSError:
        return False
