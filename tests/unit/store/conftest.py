"""Store fixtures: every store test runs on SQLite, and on PostgreSQL when
``RECOIL_TEST_DATABASE_URL`` names a server.

PostgreSQL tests share the server's tables the way real projects do; each
test works in a fresh project folder, so under its own project id, and its
rows are deleted afterwards.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine

from recoil.model.cost import Cost
from recoil.model.receipt import Receipt, ReceiptError, ReceiptStatus
from recoil.model.take import Beat, Project, Scene
from recoil.model.workflow import Workflow, WorkflowStep
from recoil.store import ProjectStore
from recoil.store.engine import resolve_url

TEST_URL_ENV = "RECOIL_TEST_DATABASE_URL"
SKIP_REASON = f"set {TEST_URL_ENV}=postgresql://... to run the store suite on PostgreSQL"

OpenStore = Callable[..., ProjectStore]
MakeReceipt = Callable[..., Receipt]


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
    ]
)
def db_url(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str | None:
    """``None`` (the project's SQLite file) or the PostgreSQL test server's URL."""
    monkeypatch.delenv("RECOIL_DATABASE_URL", raising=False)
    if request.param == "sqlite":
        return None
    url = os.environ.get(TEST_URL_ENV)
    if not url:
        pytest.skip(SKIP_REASON)
    return url


@pytest.fixture
def open_store(db_url: str | None, project_dir: Path) -> Iterator[OpenStore]:
    """Open a project's store (``project_dir`` unless told) on the test backend.

    Stores opened here are closed after the test, and on PostgreSQL their
    projects' rows are deleted.
    """
    opened: list[ProjectStore] = []

    def open_(path: Path = project_dir, **kwargs: Any) -> ProjectStore:
        store = ProjectStore.open(path, url=kwargs.pop("url", db_url), **kwargs)
        opened.append(store)
        return store

    yield open_
    purged: set[str] = set()
    for store in opened:
        if db_url is not None and store.project_id not in purged:
            store.purge()
            purged.add(store.project_id)
        store.close()


@pytest.fixture
def isolated_url(db_url: str | None, tmp_path: Path) -> Iterator[str]:
    """A database of the test's own: a fresh SQLite file, or a fresh PostgreSQL schema.

    For tests that change the database-wide schema version.
    """
    if db_url is None:
        yield f"sqlite:///{tmp_path / 'isolated.db'}"
        return
    name = f"recoil_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(resolve_url(tmp_path, db_url))
    with admin.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{name}"')
    separator = "&" if "?" in db_url else "?"
    try:
        yield f"{db_url}{separator}options=-csearch_path%3D{name}"
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{name}" CASCADE')
        admin.dispose()


@pytest.fixture
def make_receipt() -> MakeReceipt:
    """Build a receipt; keyword arguments override the defaults."""
    counter = iter(range(1, 1_000_000))

    def make(
        *,
        status: str = "succeeded",
        retryable: bool = False,
        cost: float = 0.0,
        currency: str = "USD",
        provenance: dict[str, Any] | None = None,
        **fields: Any,
    ) -> Receipt:
        n = next(counter)
        failed = status == "failed"
        values: dict[str, Any] = {
            "receipt_id": f"rcpt_{n:06d}",
            "modality": "keyframe",
            "provider": "fake",
            "model": "fake-1",
            "status": ReceiptStatus(status),
            "request_sha256": f"{n:064x}",
            "prompt": f"prompt {n}",
            "prompt_sha256": "0" * 64,
            "seed": n,
            "started_us": 1_000_000 * n,
            "finished_us": 1_000_000 * n + 500,
            "cost": Cost(amount=cost, currency=currency, source="estimated"),
            "provenance": provenance or {},
            "error": (
                ReceiptError(type="ProviderError", message="boom", retryable=retryable)
                if failed
                else None
            ),
        }
        values.update(fields)
        return Receipt(**values)

    return make


@pytest.fixture
def film() -> Project:
    """Two scenes, three beats, two takes each with two-step workflows, nothing run yet."""
    scenes = []
    for s in range(2):
        scene = Scene(scene_id=f"sc{s}", scene_metadata={"title": f"scene {s}"})
        for b in range(2 - s):
            beat = Beat(beat_id=f"sc{s}-b{b}", beat_metadata={"scene_id": scene.scene_id})
            for _ in range(2):
                beat.new_take(
                    Workflow(
                        steps=[
                            WorkflowStep(step_id="keyframe", modality="keyframe", payload={"p": 1}),
                            WorkflowStep(
                                step_id="video",
                                modality="video",
                                payload={"image": {"$step": "keyframe", "output": "image"}},
                                depends_on=["keyframe"],
                            ),
                        ],
                        global_provenance={"shotlist": "s.yaml"},
                    )
                )
            scene.beats.append(beat)
        scenes.append(scene)
    return Project(name="film", scenes=scenes, settings={"fps": 24})
