"""Rows of the store's tables: built from the model, read back into it, and written.

Everything here is a plain function of its arguments (or a batch of rows that
is inserted together); :mod:`.queries`, :mod:`.writes` and :mod:`.reconcile`
decide when to call them and in which transaction. Rows of the receipt-log
tables are tuples in their columns' order, which both drivers' ``executemany``
take as they are.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Dialect, Select, Table, UniqueConstraint, select

from recoil.errors import DispatchError, StoreError

if TYPE_CHECKING:
    from sqlalchemy.dialects import postgresql, sqlite

from recoil.model.receipt import (
    EvalRecord,
    Receipt,
    Record,
    ReviewRecord,
    Submitted,
    TakeRecord,
)
from recoil.model.take import Beat, Scene, Take, TakeStatus
from recoil.model.workflow import StepStatus, Workflow, WorkflowStep
from recoil.records import codec
from recoil.records.log import encode_line
from recoil.store import schema
from recoil.store.schema import dumps, loads


def insert(conn: Connection, table: Table) -> postgresql.Insert | sqlite.Insert:
    """An INSERT for ``table`` in the connection's dialect (for its ON CONFLICT clauses)."""
    # Imported here: loading the PostgreSQL dialect costs a SQLite project 40 ms a command.
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects import postgresql

        return postgresql.insert(table)
    from sqlalchemy.dialects import sqlite

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
    conn: Connection, table: Table, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]
) -> int:
    """Insert the rows (tuples in ``columns`` order) whose unique key is new; returns how many.

    The table's unique constraint decides what is new. The statement goes to the
    driver's ``executemany`` as plain SQL: both SQLite and PostgreSQL spell
    ``ON CONFLICT DO NOTHING`` the same, and skipping SQLAlchemy's per-row
    parameter processing is what makes indexing a long log fast.
    """
    if not rows:
        return 0
    return conn.exec_driver_sql(_insert_sql(conn.dialect, table, columns), rows).rowcount


def _insert_sql(dialect: Dialect, table: Table, columns: Sequence[str]) -> str:
    # Only identifiers of our own schema, quoted, go into the text; values are bound.
    quote = dialect.identifier_preparer.quote
    (unique,) = (c for c in table.constraints if isinstance(c, UniqueConstraint))
    marks = ", ".join(["?" if dialect.paramstyle == "qmark" else "%s"] * len(columns))
    return (
        f"INSERT INTO {quote(table.name)} ({', '.join(quote(c) for c in columns)}) "  # noqa: S608
        f"VALUES ({marks}) ON CONFLICT ({', '.join(quote(c.name) for c in unique.columns)}) "
        "DO NOTHING"
    )


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


RECEIPT_COLUMNS = (
    "project_id",
    "receipt_id",
    "modality",
    "provider",
    "model",
    "status",
    "request_sha256",
    "cached",
    "cost",
    "currency",
    "run_id",
    "scene_id",
    "take_id",
    "step_id",
    "started_us",
    "finished_us",
    "scores",
    "body",
)
SUBMITTED_COLUMNS = (
    "project_id",
    "receipt_id",
    "request_sha256",
    "job_id",
    "provider",
    "run_id",
    "body",
)
EVAL_COLUMNS = ("project_id", "eval_key", "receipt_id", "scorer", "created_us", "scores")
TAKE_RECORD_COLUMNS = ("project_id", "take_id", "beat_id", "scene_id", "body")
REVIEW_RECORD_COLUMNS = (
    "project_id",
    "record_id",
    "take_id",
    "beat_id",
    "status",
    "author",
    "text",
    "frame",
    "created_at",
)


@dataclass(slots=True)
class LogRows:
    """Rows for the tables that index the receipt log, as tuples in their columns' order."""

    receipts: list[tuple[Any, ...]] = field(default_factory=list)
    submitted: list[tuple[Any, ...]] = field(default_factory=list)
    evals: list[tuple[Any, ...]] = field(default_factory=list)
    takes: list[tuple[Any, ...]] = field(default_factory=list)
    reviews: list[tuple[Any, ...]] = field(default_factory=list)

    def add(self, pid: str, record: Record) -> None:
        """Add the row of one record."""
        if isinstance(record, Receipt):
            self.receipts.append(receipt_row(pid, record))
        elif isinstance(record, Submitted):
            self.submitted.append(submitted_row(pid, record))
        elif isinstance(record, EvalRecord):
            self.evals.append(eval_row(pid, record))
        elif isinstance(record, TakeRecord):
            self.takes.append(
                (pid, record.take_id, record.beat_id, record.scene_id, dumps(dict(record.take)))
            )
        elif isinstance(record, ReviewRecord):
            self.reviews.append(review_row(pid, record))
        # A ``sending`` record only matters to the dispatcher that resumes a run.

    def insert(self, conn: Connection) -> int:
        """Insert the rows the store lacks; returns how many it did."""
        return (
            insert_new(conn, schema.receipts, RECEIPT_COLUMNS, self.receipts)
            + insert_new(conn, schema.submitted, SUBMITTED_COLUMNS, self.submitted)
            + insert_new(conn, schema.evals, EVAL_COLUMNS, self.evals)
            + insert_new(conn, schema.take_records, TAKE_RECORD_COLUMNS, self.takes)
            + insert_new(conn, schema.review_records, REVIEW_RECORD_COLUMNS, self.reviews)
        )


def line_text(record: Record) -> str:
    """A record's log line (without the newline): what a ``body`` column holds."""
    return encode_line(codec.encode(record))[:-1].decode()


def receipt_row(pid: str, receipt: Receipt) -> tuple[Any, ...]:
    provenance = receipt.provenance
    return (
        pid,
        receipt.receipt_id,
        receipt.modality,
        receipt.provider,
        receipt.model,
        receipt.status.value,
        receipt.request_sha256,
        receipt.cached,
        receipt.cost.amount,
        receipt.cost.currency,
        receipt.run_id,
        str_or_none(provenance.get("scene_id")),
        str_or_none(provenance.get("take_id")),
        str_or_none(provenance.get("workflow_step_id")),
        receipt.started_us,
        receipt.finished_us,
        dumps(dict(receipt.eval_scores)),
        line_text(receipt),
    )


def submitted_row(pid: str, record: Submitted) -> tuple[Any, ...]:
    return (
        pid,
        record.receipt_id,
        record.request_sha256,
        record.job_id,
        record.provider,
        record.run_id,
        line_text(record),
    )


def review_row(pid: str, record: ReviewRecord) -> tuple[Any, ...]:
    return (
        pid,
        record.record_id,
        record.take_id,
        record.beat_id,
        record.status.value if record.status is not None else None,
        record.author,
        record.text,
        record.frame,
        record.created_at,
    )


def eval_row(pid: str, record: EvalRecord) -> tuple[Any, ...]:
    return (
        pid,
        hashlib.sha256(encode_line(codec.encode(record))).hexdigest(),
        record.receipt_id,
        record.scorer,
        record.created_us,
        dumps(dict(record.scores)),
    )
