"""Attaching indexed receipts to the stored steps a crash kept them from.

A receipt belongs to the step named by its provenance (``take_id`` +
``workflow_step_id``). A run saves a step with its receipt after the receipt
is logged; a crash between the two leaves the step without its latest
receipt, which this finds (by a join of steps and receipts) and attaches.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from sqlalchemy import and_, select

from recoil.model.receipt import Receipt
from recoil.model.workflow import StepStatus
from recoil.records import codec
from recoil.store import schema, table_rows
from recoil.store.project_db import ProjectDb
from recoil.store.schema import loads

log = logging.getLogger(__name__)


def reattach(db: ProjectDb) -> int:
    """Attach each unsucceeded step's latest receipt where it lacks it; returns how many."""
    stale = _stale_steps(db)
    if stale:
        _attach(db, stale)
    return len(stale)


def _stale_steps(db: ProjectDb) -> list[Any]:
    """Steps not succeeded whose latest receipt (in log order) is not the one they hold."""
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
        .where(s.c.project_id == db.project_id, s.c.status != StepStatus.SUCCEEDED.value)
        .order_by(r.c.seq)
    )
    with db.read() as conn:
        latest = {(row.take_id, row.step_id): row for row in conn.execute(query)}
    return [row for row in latest.values() if row.receipt_id != row.latest]


def _attach(db: ProjectDb, stale: Sequence[Any]) -> None:
    s = schema.steps
    with db.write() as conn:
        for row in stale:
            receipt = codec.decode_as(Receipt, loads(row.body))
            conn.execute(
                s.update()
                .where(
                    s.c.project_id == db.project_id,
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
