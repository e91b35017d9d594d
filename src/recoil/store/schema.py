"""The project store's tables (SQLAlchemy Core), in their current shape.

Several projects may share one PostgreSQL database, so every row carries the
``project_id`` of the project it belongs to and every key starts with it.
Table names start with ``recoil_`` so the store can live beside other
applications' tables.

JSON values are kept as TEXT written by :func:`dumps`, so both backends store
exactly the same bytes and floats round-trip unchanged.

The database-wide schema version lives in ``recoil_schema`` (one row); it is
what :mod:`recoil.store.migrations` reads and advances. Per-project values
(such as how much of the receipt log is indexed) live in ``recoil_meta``.
"""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

# SQLite only auto-increments an INTEGER PRIMARY KEY (the rowid alias), not BIGINT.
Serial = BigInteger().with_variant(Integer(), "sqlite")


def dumps(value: Any) -> str:
    """A value as the JSON text stored in a JSON column."""
    return orjson.dumps(value).decode()


def loads(text: str | None) -> Any:
    """Inverse of :func:`dumps`; ``None`` stays ``None``."""
    return None if text is None else orjson.loads(text)


schema_version = Table(
    "recoil_schema",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("version", Integer, nullable=False),
)

meta = Table(
    "recoil_meta",
    metadata,
    Column("project_id", String, nullable=False),
    Column("key", String, nullable=False),
    Column("value", Text, nullable=False),
    PrimaryKeyConstraint("project_id", "key"),
)

projects = Table(
    "recoil_projects",
    metadata,
    Column("project_id", String, primary_key=True),
    Column("project_dir", Text, nullable=False),
    Column("name", Text),
    Column("settings", Text),
    Column("created_at", String),
    # Null until the project tree is first saved.
    Column("saved_at", String),
)

scenes = Table(
    "recoil_scenes",
    metadata,
    Column("project_id", String, nullable=False),
    Column("scene_id", String, nullable=False),
    Column("position", Integer, nullable=False),
    Column("metadata", Text, nullable=False),
    Column("created_at", String, nullable=False),
    PrimaryKeyConstraint("project_id", "scene_id"),
)

beats = Table(
    "recoil_beats",
    metadata,
    Column("project_id", String, nullable=False),
    Column("beat_id", String, nullable=False),
    Column("scene_id", String, nullable=False),
    Column("position", Integer, nullable=False),
    Column("primary_take_id", String),
    Column("base_seed", BigInteger),
    Column("metadata", Text, nullable=False),
    Column("created_at", String, nullable=False),
    PrimaryKeyConstraint("project_id", "beat_id"),
    ForeignKeyConstraint(["project_id", "scene_id"], [scenes.c.project_id, scenes.c.scene_id]),
)

takes = Table(
    "recoil_takes",
    metadata,
    Column("project_id", String, nullable=False),
    Column("take_id", String, nullable=False),
    Column("beat_id", String, nullable=False),
    Column("take_index", Integer, nullable=False),
    Column("status", String, nullable=False),
    Column("seed", BigInteger),
    Column("workflow_id", String, nullable=False),
    # The workflow without its steps: created_at, global_provenance.
    Column("workflow", Text, nullable=False),
    Column("created_at", String, nullable=False),
    Column("metadata", Text, nullable=False),
    PrimaryKeyConstraint("project_id", "take_id"),
    ForeignKeyConstraint(["project_id", "beat_id"], [beats.c.project_id, beats.c.beat_id]),
    Index("ix_recoil_takes_beat", "project_id", "beat_id"),
)

steps = Table(
    "recoil_steps",
    metadata,
    Column("project_id", String, nullable=False),
    Column("take_id", String, nullable=False),
    Column("step_id", String, nullable=False),
    Column("position", Integer, nullable=False),
    Column("modality", String, nullable=False),
    Column("payload", Text, nullable=False),
    Column("depends_on", Text, nullable=False),
    Column("status", String, nullable=False),
    Column("receipt_id", String),
    Column("error", Text),
    Column("started_us", BigInteger),
    Column("finished_us", BigInteger),
    Column("attempts", Integer, nullable=False),
    PrimaryKeyConstraint("project_id", "take_id", "step_id"),
    ForeignKeyConstraint(["project_id", "take_id"], [takes.c.project_id, takes.c.take_id]),
)

receipts = Table(
    "recoil_receipts",
    metadata,
    # Indexing order, which is log order: receipts are indexed as they are appended.
    Column("seq", Serial, primary_key=True, autoincrement=True),
    Column("project_id", String, nullable=False),
    Column("receipt_id", String, nullable=False),
    Column("modality", String, nullable=False),
    Column("provider", String, nullable=False),
    Column("model", String, nullable=False),
    Column("status", String, nullable=False),
    Column("request_sha256", String, nullable=False),
    Column("cached", Boolean, nullable=False),
    Column("cost", Float, nullable=False),
    Column("currency", String, nullable=False),
    Column("run_id", String),
    Column("scene_id", String),
    Column("take_id", String),
    # The provenance's ``workflow_step_id``: with ``take_id``, the step it belongs to.
    Column("step_id", String),
    Column("started_us", BigInteger, nullable=False),
    Column("finished_us", BigInteger, nullable=False),
    Column("scores", Text, nullable=False),
    # The whole receipt as its log line holds it.
    Column("body", Text, nullable=False),
    UniqueConstraint("project_id", "receipt_id", name="uq_recoil_receipts_id"),
    Index("ix_recoil_receipts_request", "project_id", "request_sha256"),
    Index("ix_recoil_receipts_step", "project_id", "take_id", "step_id"),
)

RECEIPTS_BY_RUN = Index("ix_recoil_receipts_run", receipts.c.project_id, receipts.c.run_id)
"""Added in schema version 2, for ``receipts(run_id=...)`` and spend by run."""

submitted = Table(
    "recoil_submitted",
    metadata,
    Column("seq", Serial, primary_key=True, autoincrement=True),
    Column("project_id", String, nullable=False),
    Column("receipt_id", String, nullable=False),
    Column("request_sha256", String, nullable=False),
    Column("job_id", String, nullable=False),
    Column("provider", String, nullable=False),
    Column("run_id", String),
    Column("body", Text, nullable=False),
    UniqueConstraint("project_id", "receipt_id", name="uq_recoil_submitted_id"),
)

evals = Table(
    "recoil_evals",
    metadata,
    Column("seq", Serial, primary_key=True, autoincrement=True),
    Column("project_id", String, nullable=False),
    # sha256 of the record's canonical line: eval records carry no id of their own.
    Column("eval_key", String, nullable=False),
    Column("receipt_id", String, nullable=False),
    Column("scorer", String, nullable=False),
    Column("created_us", BigInteger, nullable=False),
    Column("scores", Text, nullable=False),
    UniqueConstraint("project_id", "eval_key", name="uq_recoil_evals_key"),
    Index("ix_recoil_evals_receipt", "project_id", "receipt_id"),
)

take_records = Table(
    "recoil_take_records",
    metadata,
    # Log order, as for receipts: the order in which takes were planned.
    Column("seq", Serial, primary_key=True, autoincrement=True),
    Column("project_id", String, nullable=False),
    Column("take_id", String, nullable=False),
    Column("beat_id", String, nullable=False),
    Column("scene_id", String, nullable=False),
    # The take as it was planned (``codec.encode(take)``), from its ``take`` record.
    Column("body", Text, nullable=False),
    UniqueConstraint("project_id", "take_id", name="uq_recoil_take_records_id"),
)

review_records = Table(
    "recoil_review_records",
    metadata,
    Column("seq", Serial, primary_key=True, autoincrement=True),
    Column("project_id", String, nullable=False),
    Column("record_id", String, nullable=False),
    Column("take_id", String, nullable=False),
    Column("beat_id", String, nullable=False),
    # The take's new review status; null for a note alone.
    Column("status", String),
    Column("author", Text),
    Column("text", Text),
    Column("frame", Integer),
    Column("created_at", String),
    UniqueConstraint("project_id", "record_id", name="uq_recoil_review_records_id"),
    Index("ix_recoil_review_records_take", "project_id", "take_id"),
)

verified = Table(
    "recoil_verified",
    metadata,
    # An artifact file whose bytes were last hashed intact at this size and mtime:
    # while both are unchanged it is not hashed again (as rsync and git do).
    Column("project_id", String, nullable=False),
    Column("sha256", String, nullable=False),
    Column("bytes", BigInteger, nullable=False),
    Column("mtime_ns", BigInteger, nullable=False),
    PrimaryKeyConstraint("project_id", "sha256"),
)

PROJECT_TABLES = (
    meta,
    projects,
    scenes,
    beats,
    takes,
    steps,
    receipts,
    submitted,
    evals,
    take_records,
    review_records,
    verified,
)
"""Every table whose rows belong to one project, parents before children."""


legacy = MetaData()
"""Tables of schema versions 1 and 2 that are no longer written: review decisions lived only
in the store. Opening a project moves their rows into the receipt log as ``review`` records
(the source of truth) and deletes them; fresh databases never have these tables."""

legacy_reviews = Table(
    "recoil_reviews",
    legacy,
    Column("project_id", String, nullable=False),
    Column("take_id", String, nullable=False),
    Column("status", String, nullable=False),
    Column("updated_at", String, nullable=False),
    PrimaryKeyConstraint("project_id", "take_id"),
)

legacy_notes = Table(
    "recoil_notes",
    legacy,
    Column("id", Serial, primary_key=True, autoincrement=True),
    Column("project_id", String, nullable=False),
    Column("take_id", String, nullable=False),
    Column("author", Text, nullable=False),
    Column("text", Text, nullable=False),
    Column("created_at", String, nullable=False),
    Column("frame", Integer),
)
