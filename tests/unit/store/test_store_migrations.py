"""Schema versions, upgrades, and where a store lives."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import inspect

from recoil.errors import StoreError
from recoil.model.take import Project
from recoil.store import SCHEMA_VERSION, ProjectStore, schema
from recoil.store.engine import create_store_engine, resolve_url
from recoil.store.migrations import MIGRATIONS, migrate, set_version, stored_version

OpenStore = Callable[..., ProjectStore]


def version_and_indexes(url: str, tmp_path: Path) -> tuple[int, set[str]]:
    engine = create_store_engine(resolve_url(tmp_path, url))
    try:
        with engine.connect() as conn:
            indexes = {ix["name"] for ix in inspect(conn).get_indexes(schema.receipts.name)}
            return stored_version(conn), {str(name) for name in indexes}
    finally:
        engine.dispose()


def test_migrations_are_numbered_one_by_one() -> None:
    assert [m.version for m in MIGRATIONS] == list(range(1, len(MIGRATIONS) + 1))
    assert MIGRATIONS[-1].version == SCHEMA_VERSION


def test_a_fresh_database_gets_the_latest_schema(
    isolated_url: str, open_store: OpenStore, tmp_path: Path
) -> None:
    open_store(url=isolated_url)
    version, indexes = version_and_indexes(isolated_url, tmp_path)
    assert version == SCHEMA_VERSION
    assert schema.RECEIPTS_BY_RUN.name in indexes


def test_a_version_1_store_is_upgraded_and_keeps_its_rows(
    isolated_url: str, open_store: OpenStore, film: Project, project_dir: Path, tmp_path: Path
) -> None:
    open_store(url=isolated_url).save_project(film)
    # Put the database back in the shape version 1 left it: no index by run.
    engine = create_store_engine(resolve_url(tmp_path, isolated_url))
    with engine.begin() as conn:
        schema.RECEIPTS_BY_RUN.drop(conn)
        set_version(conn, 1)
    engine.dispose()
    version, indexes = version_and_indexes(isolated_url, tmp_path)
    assert version == 1
    assert schema.RECEIPTS_BY_RUN.name not in indexes

    store = open_store(project_dir, url=isolated_url)
    version, indexes = version_and_indexes(isolated_url, tmp_path)
    assert version == SCHEMA_VERSION
    assert schema.RECEIPTS_BY_RUN.name in indexes
    assert store.load_project() == film


def test_migrating_an_up_to_date_database_does_nothing(isolated_url: str, tmp_path: Path) -> None:
    engine = create_store_engine(resolve_url(tmp_path, isolated_url))
    try:
        assert migrate(engine) == (0, SCHEMA_VERSION)
        assert migrate(engine) == (SCHEMA_VERSION, SCHEMA_VERSION)
    finally:
        engine.dispose()


def test_a_store_from_a_newer_recoil_is_refused(
    isolated_url: str, open_store: OpenStore, tmp_path: Path
) -> None:
    open_store(url=isolated_url)
    engine = create_store_engine(resolve_url(tmp_path, isolated_url))
    with engine.begin() as conn:
        set_version(conn, SCHEMA_VERSION + 1)
    engine.dispose()
    with pytest.raises(StoreError, match=r"upgrade recoil"):
        ProjectStore.open(tmp_path / "other", url=isolated_url)


def test_sqlite_is_the_default_in_wal_mode(
    project_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RECOIL_DATABASE_URL", raising=False)
    with ProjectStore.open(project_dir) as store:
        assert (project_dir / "recoil.db").exists()
        assert (project_dir / ".recoil-project-id").read_text().strip() == store.project_id
    engine = create_store_engine(resolve_url(project_dir, None))
    with engine.connect() as conn:
        pragmas = {
            name: conn.exec_driver_sql(f"PRAGMA {name}").scalar()
            for name in ("journal_mode", "synchronous", "foreign_keys", "busy_timeout")
        }
    engine.dispose()
    assert pragmas == {
        "journal_mode": "wal",
        "synchronous": 1,
        "foreign_keys": 1,
        "busy_timeout": 30000,
    }


def test_the_url_comes_from_the_caller_then_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RECOIL_DATABASE_URL", raising=False)
    assert resolve_url(tmp_path, None) == f"sqlite:///{tmp_path.resolve() / 'recoil.db'}"
    monkeypatch.setenv("RECOIL_DATABASE_URL", "postgres://u@h/db")
    assert resolve_url(tmp_path, None) == "postgresql+psycopg://u@h/db"
    assert (
        resolve_url(tmp_path, "postgresql://u:pw@h:5432/db")
        == "postgresql+psycopg://u:pw@h:5432/db"
    )
    assert resolve_url(tmp_path, "sqlite:///x.db") == "sqlite:///x.db"
    with pytest.raises(StoreError, match="unsupported database URL scheme 'mysql'"):
        resolve_url(tmp_path, "mysql://u:secret@h/db")


def test_an_unreachable_server_is_a_store_error_without_the_password(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="cannot open the project store") as caught:
        ProjectStore.open(tmp_path, url="postgresql://u:hunter2@127.0.0.1:1/db?connect_timeout=2")
    assert "hunter2" not in str(caught.value)
