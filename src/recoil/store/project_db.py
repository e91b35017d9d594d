"""One project's way into the store's database: its id, its folder and its transactions.

Every part of the store (:mod:`.queries`, :mod:`.writes`, :mod:`.reconcile`, ...)
takes a :class:`ProjectDb` rather than the :class:`~recoil.store.store.ProjectStore`,
so each sees only the rows of its project and none of the store's lifecycle.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Connection, Engine

from recoil.store.engine import WRITE_OPTION

RECEIPTS_FILE = "receipts.jsonl"


@dataclasses.dataclass(slots=True, kw_only=True)
class ProjectDb:
    """A project's rows in the database behind ``engine``.

    ``project_id`` changes once, while the store opens, when the folder turns
    out to be a copy of another project (see :mod:`.relocation`).
    """

    engine: Engine
    project_dir: Path
    project_id: str
    _writer: Engine = dataclasses.field(init=False)

    def __post_init__(self) -> None:
        self._writer = self.engine.execution_options(**{WRITE_OPTION: True})

    @property
    def log_path(self) -> Path:
        """The project's receipt log, the source of truth the rows are rebuilt from."""
        return self.project_dir / RECEIPTS_FILE

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read transaction: every query in it sees one snapshot."""
        with self.engine.connect() as conn:
            if conn.dialect.name == "postgresql":
                # One snapshot for every query of a read, like SQLite's read transaction.
                conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                yield conn

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction, committed when the block ends without an error."""
        with self._writer.begin() as conn:
            yield conn
