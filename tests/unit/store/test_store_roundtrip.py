"""The project tree goes into the store and comes back equal."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recoil.errors import NotFoundError, StoreError
from recoil.model.cost import Cost
from recoil.model.receipt import Artifact, Receipt, ReceiptError, ReceiptStatus
from recoil.model.take import Beat, Project, Scene, Take, TakeStatus
from recoil.model.workflow import StepStatus, Workflow, WorkflowStep
from recoil.store import ProjectStore

OpenStore = Callable[..., ProjectStore]
MakeReceipt = Callable[..., Receipt]

# PostgreSQL text cannot hold NUL; everything else is fair game.
TEXT = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=12)
IDS = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), min_size=1, max_size=8)
INTS = st.integers(min_value=-(2**53), max_value=2**53)
FINITE = st.floats(allow_nan=False, allow_infinity=False)
JSON: st.SearchStrategy[Any] = st.recursive(
    st.none() | st.booleans() | INTS | FINITE | TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=6,
)
DICTS = st.dictionaries(TEXT, JSON, max_size=3)
TIMES = st.integers(min_value=0, max_value=2**62)


@st.composite
def receipts(draw: st.DrawFn, receipt_id: str) -> Receipt:
    started = draw(TIMES)
    failed = draw(st.booleans())
    return Receipt(
        receipt_id=receipt_id,
        modality=draw(IDS),
        provider=draw(IDS),
        model=draw(TEXT),
        status=ReceiptStatus.FAILED if failed else ReceiptStatus.SUCCEEDED,
        request_sha256=draw(TEXT),
        prompt=draw(TEXT),
        prompt_sha256=draw(TEXT),
        seed=draw(st.none() | INTS),
        started_us=started,
        finished_us=started + draw(st.integers(min_value=0, max_value=10**9)),
        request=draw(DICTS),
        inputs=draw(st.dictionaries(TEXT, TEXT, max_size=2)),
        artifacts={
            name: Artifact(name=name, path=f"a/{name}", sha256="f" * 64, mime="image/png", bytes=3)
            for name in draw(st.lists(IDS, max_size=2, unique=True))
        },
        cost=Cost(amount=draw(st.floats(min_value=0, max_value=1e6)), currency=draw(IDS)),
        provenance=draw(DICTS),
        cached=draw(st.booleans()),
        error=ReceiptError(type="E", message=draw(TEXT), retryable=draw(st.booleans()))
        if failed
        else None,
        # Finite only: the receipt log (JSON) has no spelling for inf or nan.
        eval_scores=draw(st.dictionaries(IDS, FINITE, max_size=2)),
        run_id=draw(st.none() | IDS),
    )


@st.composite
def takes(draw: st.DrawFn, beat: Beat, index: int, take_id: str) -> Take:
    step_ids = draw(st.lists(IDS, min_size=1, max_size=3, unique=True))
    steps = []
    for position, step_id in enumerate(step_ids):
        with_receipt = draw(st.booleans())
        steps.append(
            WorkflowStep(
                step_id=step_id,
                modality=draw(IDS),
                payload=draw(DICTS),
                depends_on=draw(st.lists(st.sampled_from(step_ids[:position]), unique=True))
                if position
                else [],
                status=draw(st.sampled_from(StepStatus)),
                receipt=draw(receipts(f"{take_id}/{step_id}")) if with_receipt else None,
                error=draw(st.none() | TEXT),
                started_us=draw(st.none() | TIMES),
                finished_us=draw(st.none() | TIMES),
                attempts=draw(st.integers(min_value=0, max_value=9)),
            )
        )
    return Take(
        take_id=take_id,
        take_index=index,
        workflow=Workflow(
            steps=steps,
            workflow_id=draw(IDS),
            global_provenance=draw(DICTS),
            created_at=draw(TEXT),
        ),
        status=draw(st.sampled_from(TakeStatus)),
        created_at=draw(TEXT),
        take_metadata=draw(DICTS),
        seed=draw(st.none() | INTS),
    )


@st.composite
def projects(draw: st.DrawFn) -> Project:
    scenes = []
    for s, scene_id in enumerate(draw(st.lists(IDS, max_size=3, unique=True))):
        scene = Scene(
            scene_id=f"s{s}:{scene_id}", scene_metadata=draw(DICTS), created_at=draw(TEXT)
        )
        for b, beat_id in enumerate(draw(st.lists(IDS, max_size=3, unique=True))):
            beat = Beat(
                beat_id=f"s{s}b{b}:{beat_id}",
                beat_metadata=draw(DICTS),
                created_at=draw(TEXT),
                base_seed=draw(st.none() | INTS),
            )
            for index in range(draw(st.integers(min_value=0, max_value=2))):
                beat.takes.append(draw(takes(beat, index, f"{beat.beat_id}-t{index}")))
            with_primary = draw(st.booleans())
            if beat.takes and with_primary:
                beat.primary_take_id = draw(st.sampled_from(beat.takes)).take_id
            scene.beats.append(beat)
        scenes.append(scene)
    return Project(name=draw(TEXT), scenes=scenes, settings=draw(DICTS), created_at=draw(TEXT))


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(project=projects())
def test_any_project_round_trips(db_url: str | None, project: Project) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store = ProjectStore.open(Path(tmp), url=db_url)
        try:
            store.save_project(project)
            assert store.load_project() == project
            store.save_project(project)  # saving again changes nothing
            assert store.load_project() == project
        finally:
            store.purge()
            store.close()


def test_an_unsaved_project_loads_as_none(open_store: OpenStore) -> None:
    assert open_store().load_project() is None


def test_the_tree_survives_closing_and_reopening(
    open_store: OpenStore, film: Project, project_dir: Path
) -> None:
    with open_store() as store:
        store.save_project(film)
    assert open_store(project_dir).load_project() == film


def test_saving_again_updates_and_keeps_order(open_store: OpenStore, film: Project) -> None:
    store = open_store()
    store.save_project(film)
    scene = film.scenes[0]
    scene.beats.reverse()  # reordering beats is kept
    beat = scene.beats[0]
    beat.new_take(beat.takes[0].workflow.fresh())
    beat.primary_take_id = beat.takes[1].take_id
    film.settings["fps"] = 25
    store.save_project(film)
    assert store.load_project() == film


def test_save_take_records_one_take_and_its_receipts(
    open_store: OpenStore, film: Project, make_receipt: MakeReceipt
) -> None:
    store = open_store()
    store.save_project(film)
    scene = film.scenes[0]
    beat = scene.beats[0]
    take = beat.takes[1]
    step = take.workflow.steps[0]
    step.status = StepStatus.SUCCEEDED
    step.receipt = make_receipt(provenance={"take_id": take.take_id})
    step.started_us, step.finished_us, step.attempts = 10, 20, 1
    take.status = TakeStatus.RUNNING
    store.save_take(scene.scene_id, beat.beat_id, take)
    assert store.load_project() == film
    assert [r.receipt_id for r in store.receipts()] == [step.receipt.receipt_id]


def test_save_take_of_an_unsaved_beat_says_what_to_do(open_store: OpenStore, film: Project) -> None:
    store = open_store()
    take = film.scenes[0].beats[0].takes[0]
    with pytest.raises(StoreError, match="save_project"):
        store.save_take("sc0", "sc0-b0", take)


def test_set_primary(open_store: OpenStore, film: Project) -> None:
    store = open_store()
    store.save_project(film)
    beat = film.scenes[0].beats[0]
    store.set_primary(beat.beat_id, beat.takes[1].take_id)
    loaded = store.load_project()
    assert loaded is not None
    assert loaded.beat(beat.beat_id).primary_take_id == beat.takes[1].take_id
    store.set_primary(beat.beat_id, None)
    loaded = store.load_project()
    assert loaded is not None
    assert loaded.beat(beat.beat_id).primary_take_id is None
    with pytest.raises(NotFoundError, match="no take"):
        store.set_primary(beat.beat_id, film.scenes[1].beats[0].takes[0].take_id)
    with pytest.raises(NotFoundError, match="no beat"):
        store.set_primary("nope", None)


def test_two_projects_in_one_database_stay_apart(
    db_url: str | None, open_store: OpenStore, film: Project, tmp_path: Path
) -> None:
    url = db_url or f"sqlite:///{tmp_path / 'shared.db'}"
    first = open_store(tmp_path / "one", url=url)
    second = open_store(tmp_path / "two", url=url)
    assert first.project_id != second.project_id
    first.save_project(film)
    other = Project(name="other", scenes=[Scene(scene_id="sc0")])
    second.save_project(other)
    assert first.load_project() == film
    assert second.load_project() == other
