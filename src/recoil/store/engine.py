"""Where a project's store lives, and the SQLAlchemy engine that reaches it.

The database URL comes from the caller, else ``RECOIL_DATABASE_URL``, else a
SQLite file ``recoil.db`` in the project folder. PostgreSQL URLs
(``postgresql://`` or ``postgres://``) are driven by psycopg 3.

SQLite runs in WAL mode (readers never wait for the writer) with
``synchronous=NORMAL`` (durable at every checkpoint; the receipt log, not the
store, is the source of truth), foreign keys on and a busy timeout. Write
transactions start with ``BEGIN IMMEDIATE`` so two processes writing the same
file queue on the busy timeout instead of failing to upgrade a read lock.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url

from recoil.errors import StoreError
from recoil.model.ids import new_id

DATABASE_URL_ENV = "RECOIL_DATABASE_URL"
SQLITE_NAME = "recoil.db"
PROJECT_ID_FILE = ".recoil-project-id"
BUSY_TIMEOUT_MS = 30_000

WRITE_OPTION = "recoil_write"
"""Execution option marking a write transaction (SQLite: BEGIN IMMEDIATE)."""


def resolve_url(project_dir: Path, url: str | None) -> str:
    """The SQLAlchemy URL of a project's store (see the module docstring)."""
    chosen = url or os.environ.get(DATABASE_URL_ENV) or ""
    if not chosen:
        return f"sqlite:///{project_dir.resolve() / SQLITE_NAME}"
    for prefix in ("postgresql://", "postgres://"):
        if chosen.startswith(prefix):
            return "postgresql+psycopg://" + chosen[len(prefix) :]
    if chosen.startswith(("postgresql+psycopg://", "sqlite://")):
        return chosen
    shown = chosen.split("://", 1)[0]
    raise StoreError(
        f"unsupported database URL scheme {shown!r}; use postgresql://user@host/db "
        f"or sqlite:///path/recoil.db (or unset {DATABASE_URL_ENV} for the project's SQLite file)"
    )


def create_store_engine(url: str) -> Engine:
    """An engine for ``url`` set up as the module docstring describes."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000})
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    return create_engine(url, pool_pre_ping=True)


def shown_url(url: str) -> str:
    """``url`` with any password hidden, for messages."""
    return make_url(url).render_as_string(hide_password=True)


def project_id(project_dir: Path) -> str:
    """The project's stable id, kept in ``PROJECT/.recoil-project-id`` (made on first use).

    Rows in a shared database are keyed by it, so it travels with the folder:
    a project moved elsewhere keeps its rows. Copy a project without this file
    to start a separate one.
    """
    path = project_dir / PROJECT_ID_FILE
    try:
        existing = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        existing = ""
    if existing:
        return existing
    return _write_id(project_dir, replace=False)


def renew_project_id(project_dir: Path) -> str:
    """Give the project folder a new id (a copy of a project becomes a project of its own)."""
    return _write_id(project_dir, replace=True)


def _write_id(project_dir: Path, *, replace: bool) -> str:
    path = project_dir / PROJECT_ID_FILE
    project_dir.mkdir(parents=True, exist_ok=True)
    fresh = new_id("prj")
    temp = path.with_name(f"{PROJECT_ID_FILE}.{fresh}")
    with temp.open("w", encoding="utf-8") as f:
        f.write(fresh + "\n")
        f.flush()
        os.fsync(f.fileno())
    try:
        if replace:
            temp.replace(path)
        else:
            # A hard link appears whole or not at all, and fails if the id exists:
            # when two processes race to create it, exactly one wins.
            os.link(temp, path)
    except FileExistsError:
        fresh = path.read_text(encoding="utf-8").strip()
    finally:
        temp.unlink(missing_ok=True)
    return fresh


def _sqlite_connect(dbapi_conn: Any, _record: Any) -> None:
    # Take transaction control away from pysqlite; _sqlite_begin emits BEGIN itself.
    dbapi_conn.isolation_level = None
    cursor = dbapi_conn.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    finally:
        cursor.close()


def _sqlite_begin(conn: Connection) -> None:
    write = conn.get_execution_options().get(WRITE_OPTION, False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")
