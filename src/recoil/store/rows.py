"""Rows of the store's tables: built from the model, read back into it, and written.

Everything here is a plain function of its arguments; :mod:`recoil.store.store`
decides when to call them and in which transaction.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Select, Table, select
from sqlalchemy.dialects import postgresql, sqlite

from recoil.errors import DispatchError, StoreError
from recoil.model.take import Beat, Scene, Take, TakeStatus
from recoil.model.workflow import StepStatus, Workflow, WorkflowStep
from recoil.records.log import encode_line
from recoil.records.receipt import EvalRecord, Receipt, Submitted
from recoil.store.schema import dumps, loads


def insert(conn: Connection, table: Table) -> postgresql.Insert | sqlite.Insert:
    """An INSERT for ``table`` in the connection's dialect (for its ON CONFLICT clauses)."""
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def upsert(conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert ``rows``, updating every non-key column of those whose primary key exists."""
    if not rows:
        return
    keys = [c.name for c in table.primary_key]
    stmt = insert(conn, table)
    update = {c.name: stmt.excluded[c.name] for c in table.columns if c.name not in keys}
    conn.execute(stmt.on_conflict_do_update(index_elements=keys, set_=update), list(rows))


def insert_new(
    conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]], keys: Sequence[str]
) -> int:
    """Insert the rows whose ``keys`` (a unique constraint) are new; returns how many were."""
    if not rows:
        return 0
    stmt = insert(conn, table).on_conflict_do_nothing(index_elements=list(keys))
    return len(conn.execute(stmt.returning(table.c.seq), list(rows)).all())


def ordered(table: Table, pid: str, position: str) -> Select[Any]:
    """A project's rows of ``table`` by ``position``, ties broken by the last key column."""
    key = table.primary_key.columns.values()[-1]
    return select(table).where(table.c.project_id == pid).order_by(table.c[position], key)


def scene_row(pid: str, scene: Scene, position: int) -> dict[str, Any]:
    return {
        "project_id": pid,
        "scene_id": scene.scene_id,
        "position": position,
        "metadata": dumps(scene.scene_metadata),
        "created_at": scene.created_at,
    }


def beat_row(pid: str, scene_id: str, beat: Beat, position: int) -> dict[str, Any]:
    return {
        "project_id": pid,
        "beat_id": beat.beat_id,
        "scene_id": scene_id,
        "position": position,
        "primary_take_id": beat.primary_take_id,
        "base_seed": beat.base_seed,
        "metadata": dumps(beat.beat_metadata),
        "created_at": beat.created_at,
    }


def take_row(pid: str, beat_id: str, take: Take) -> dict[str, Any]:
    workflow = take.workflow
    return {
        "project_id": pid,
        "take_id": take.take_id,
        "beat_id": beat_id,
        "take_index": take.take_index,
        "status": take.status.value,
        "seed": take.seed,
        "workflow_id": workflow.workflow_id,
        "workflow": dumps(
            {"created_at": workflow.created_at, "global_provenance": workflow.global_provenance}
        ),
        "created_at": take.created_at,
        "metadata": dumps(take.take_metadata),
    }


def take_from_row(row: Any, steps: list[WorkflowStep]) -> Take:
    workflow = loads(row.workflow)
    return Take(
        take_id=row.take_id,
        take_index=row.take_index,
        workflow=Workflow(
            steps=steps,
            workflow_id=row.workflow_id,
            global_provenance=workflow["global_provenance"],
            created_at=workflow["created_at"],
        ),
        status=TakeStatus(row.status),
        created_at=row.created_at,
        take_metadata=loads(row.metadata),
        seed=row.seed,
    )


def step_rows(pid: str, take: Take) -> list[dict[str, Any]]:
    return [
        {
            "project_id": pid,
            "take_id": take.take_id,
            "step_id": step.step_id,
            "position": position,
            "modality": step.modality,
            "payload": dumps(step.payload),
            "depends_on": dumps(step.depends_on),
            "status": step.status.value,
            "receipt_id": step.receipt.receipt_id if step.receipt is not None else None,
            "error": step.error,
            "started_us": step.started_us,
            "finished_us": step.finished_us,
            "attempts": step.attempts,
        }
        for position, step in enumerate(take.workflow.steps)
    ]


def step_from_row(row: Any, receipts: Mapping[str, Receipt]) -> WorkflowStep:
    if row.receipt_id is not None and row.receipt_id not in receipts:
        raise StoreError(
            f"step {row.take_id}/{row.step_id} names receipt {row.receipt_id!r}, which the "
            "store does not hold; reopen the project so the receipt log is reconciled"
        )
    return WorkflowStep(
        step_id=row.step_id,
        modality=row.modality,
        payload=loads(row.payload),
        depends_on=loads(row.depends_on),
        status=StepStatus(row.status),
        receipt=receipts[row.receipt_id] if row.receipt_id is not None else None,
        error=row.error,
        started_us=row.started_us,
        finished_us=row.finished_us,
        attempts=row.attempts,
    )


def attached(receipt: Receipt, started_us: int | None, attempts: int) -> dict[str, Any]:
    """A step row's new values once ``receipt`` (its latest) is attached to it."""
    values: dict[str, Any] = {
        "receipt_id": receipt.receipt_id,
        "started_us": started_us if started_us is not None else receipt.started_us,
        "finished_us": receipt.finished_us,
        "attempts": max(attempts, receipt.attempt),
        "error": None,
    }
    if receipt.succeeded:
        values["status"] = StepStatus.SUCCEEDED.value
    elif receipt.error is not None and receipt.error.retryable:
        values["status"] = StepStatus.PENDING.value
    else:
        values["status"] = StepStatus.FAILED.value
        values["error"] = str(DispatchError(receipt))
    return values


def str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def receipt_row(pid: str, receipt: Receipt) -> dict[str, Any]:
    provenance = receipt.provenance
    return {
        "project_id": pid,
        "receipt_id": receipt.receipt_id,
        "modality": receipt.modality,
        "provider": receipt.provider,
        "model": receipt.model,
        "status": receipt.status.value,
        "request_sha256": receipt.request_sha256,
        "cached": receipt.cached,
        "cost": receipt.cost.amount,
        "currency": receipt.cost.currency,
        "run_id": receipt.run_id,
        "scene_id": str_or_none(provenance.get("scene_id")),
        "take_id": str_or_none(provenance.get("take_id")),
        "step_id": str_or_none(provenance.get("workflow_step_id")),
        "started_us": receipt.started_us,
        "finished_us": receipt.finished_us,
        "scores": dumps(dict(receipt.eval_scores)),
        "body": dumps(receipt.to_dict()),
    }


def submitted_row(pid: str, record: Submitted) -> dict[str, Any]:
    return {
        "project_id": pid,
        "receipt_id": record.receipt_id,
        "request_sha256": record.request_sha256,
        "job_id": record.job_id,
        "provider": record.provider,
        "run_id": record.run_id,
        "body": dumps(record.to_dict()),
    }


def eval_row(pid: str, record: EvalRecord) -> dict[str, Any]:
    return {
        "project_id": pid,
        "eval_key": hashlib.sha256(encode_line(record.to_dict())).hexdigest(),
        "receipt_id": record.receipt_id,
        "scorer": record.scorer,
        "created_us": record.created_us,
        "scores": dumps(dict(record.scores)),
    }
