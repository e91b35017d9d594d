"""Schema versions of the project store and the migrations between them.

:data:`MIGRATIONS` is an ordered list; migration ``n`` takes a store at
version ``n - 1`` to version ``n``. Migration 1 creates every table in its
current shape (from :mod:`recoil.store.schema`), so a fresh database gets the
latest schema from it; every later migration brings an older store up to that
same shape and must therefore check before it changes (``checkfirst``, ``IF
NOT EXISTS``), since on a fresh database migration 1 already did its work.

A database whose version is newer than :data:`LATEST` was written by a newer
recoil: opening it raises :class:`~recoil.errors.StoreError` instead of
guessing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, inspect, select

from recoil.errors import StoreError
from recoil.store import schema
from recoil.store.engine import WRITE_OPTION

# Any constant works: it only has to be the same in every recoil process.
_PG_LOCK_KEY = 0x7265636F696C  # "recoil"


@dataclass(frozen=True, slots=True, kw_only=True)
class Migration:
    """One step up the schema versions."""

    version: int
    description: str
    apply: Callable[[Connection], None]


def _create_tables(conn: Connection) -> None:
    schema.metadata.create_all(conn, checkfirst=True)


def _index_receipts_by_run(conn: Connection) -> None:
    schema.RECEIPTS_BY_RUN.create(conn, checkfirst=True)


def _index_take_and_review_records(conn: Connection) -> None:
    for table in (schema.take_records, schema.review_records, schema.verified):
        table.create(conn, checkfirst=True)


MIGRATIONS: tuple[Migration, ...] = (
    Migration(version=1, description="create the store's tables", apply=_create_tables),
    Migration(version=2, description="index receipts by run", apply=_index_receipts_by_run),
    Migration(
        version=3,
        description="index take and review records; remember verified artifacts",
        apply=_index_take_and_review_records,
    ),
)
LATEST = MIGRATIONS[-1].version


def stored_version(conn: Connection) -> int:
    """The schema version of the database ``conn`` is on; 0 when it has no store yet."""
    if not inspect(conn).has_table(schema.schema_version.name):
        return 0
    version = conn.execute(
        select(schema.schema_version.c.version).where(schema.schema_version.c.id == 1)
    ).scalar_one_or_none()
    return 0 if version is None else int(version)


def migrate(engine: Engine, *, target: int = LATEST) -> tuple[int, int]:
    """Bring the database up to ``target``; returns ``(version before, version after)``.

    Runs in one transaction, so a failed migration leaves the old version in
    place. On PostgreSQL an advisory lock keeps two processes from migrating
    the same database at once; on SQLite the write transaction (``BEGIN
    IMMEDIATE``) does the same.
    """
    with engine.connect() as conn:
        before = stored_version(conn)
    _check_supported(engine, before)
    if before >= target:
        return before, before
    with engine.execution_options(**{WRITE_OPTION: True}).begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_PG_LOCK_KEY})")
        current = stored_version(conn)  # another process may have migrated meanwhile
        _check_supported(engine, current)
        for migration in MIGRATIONS:
            if current < migration.version <= target:
                migration.apply(conn)
        _stamp(conn, max(current, target))
        return before, max(current, target)


def set_version(conn: Connection, version: int) -> None:
    """Record ``version`` as the database's schema version (for migrations and tests)."""
    _stamp(conn, version)


def _stamp(conn: Connection, version: int) -> None:
    table = schema.schema_version
    updated = conn.execute(table.update().where(table.c.id == 1).values(version=version))
    if updated.rowcount == 0:
        conn.execute(table.insert().values(id=1, version=version))


def _check_supported(engine: Engine, version: int) -> None:
    if version > LATEST:
        where = engine.url.render_as_string(hide_password=True)
        raise StoreError(
            f"the project store at {where} has schema version {version}, but this recoil "
            f"only knows versions up to {LATEST}; upgrade recoil (pip install -U recoil) "
            "to open it"
        )
