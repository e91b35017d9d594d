"""Take, Beat, Scene and Project (SPEC 6)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from recoil.errors import NotFoundError, SelectionError, StateError, ValidationError
from recoil.model.context import DispatchContext
from recoil.model.receipt import EvalRecord
from recoil.model.take import Beat, PrimaryStrategy, Project, Scene, Take, TakeStatus
from recoil.model.workflow import StepStatus, Workflow, WorkflowStep
from recoil.providers.fake import FakeProvider
from recoil.providers.registry import Registry
from recoil.records import codec
from recoil.records.cache import LogIndex
from recoil.records.log import ReceiptLog, read_records
from tests.strategies import beats, projects, scenes, takes

FAIL = {"fake_fail": "permanent"}
PROPERTY = settings(max_examples=25, suppress_health_check=[HealthCheck.too_slow])
NESTED_PROPERTY = settings(max_examples=12, suppress_health_check=[HealthCheck.too_slow])


def step(step_id: str, *deps: str, **payload: Any) -> WorkflowStep:
    return WorkflowStep(
        step_id=step_id,
        modality="keyframe",
        payload={"prompt": f"shot {step_id}", **payload},
        depends_on=list(deps),
    )


def workflow(*steps: WorkflowStep) -> Workflow:
    return Workflow(steps=list(steps) or [step("kf")])


def scored(score: float) -> Workflow:
    return workflow(step("kf", fake_scores={"quality": score}))


def test_enums() -> None:
    """SPEC 6: TakeStatus and PrimaryStrategy values."""
    assert [s.value for s in TakeStatus] == ["pending", "running", "succeeded", "failed", "partial"]
    assert [s.value for s in PrimaryStrategy] == ["first_success", "manual", "score"]


# -- Take ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("steps", "expected"),
    [
        ([step("a"), step("b", "a")], TakeStatus.SUCCEEDED),
        ([step("a", **FAIL)], TakeStatus.FAILED),
        ([step("a", **FAIL), step("b", "a")], TakeStatus.FAILED),
        ([step("a"), step("b", **FAIL)], TakeStatus.PARTIAL),
        ([step("a"), step("b", **FAIL), step("c", "b")], TakeStatus.PARTIAL),
    ],
)
def test_execute_compresses_step_statuses(
    context: DispatchContext, registry: Registry, steps: list[WorkflowStep], expected: TakeStatus
) -> None:
    """SPEC 6: all steps succeeded -> succeeded; none -> failed; otherwise partial."""
    take = Beat(beat_id="b1").new_take(workflow(*steps))
    assert take.status is TakeStatus.PENDING
    assert take.execute(context=context, registry=registry) is take
    assert take.status is expected


def test_take_is_running_meanwhile_and_hooks_wrap_it(
    context: DispatchContext, registry: Registry
) -> None:
    """SPEC 6: a take is `running` while its workflow runs; pre_take/post_take wrap the steps."""
    events: list[str] = []

    def pre_take(t: Take) -> None:
        events.append(f"pre_take:{t.status}")

    def pre_step(s: WorkflowStep) -> None:
        events.append(f"pre:{s.step_id}:{take.status}")

    def post_step(s: WorkflowStep) -> None:
        events.append(f"post:{s.step_id}")

    def post_take(t: Take) -> None:
        assert all(s.status is StepStatus.SUCCEEDED for s in t.workflow.steps)
        events.append(f"post_take:{t.status}")

    take = Beat(beat_id="b1").new_take(workflow(step("a"), step("b", "a")))
    take.execute(
        context=context,
        registry=registry,
        pre_take=pre_take,
        pre_step=pre_step,
        post_step=post_step,
        post_take=post_take,
    )
    assert events == [
        "pre_take:running",
        "pre:a:running",
        "post:a",
        "pre:b:running",
        "post:b",
        "post_take:succeeded",
    ]


@pytest.mark.parametrize("payload", [{}, FAIL])
def test_a_take_runs_once(
    context: DispatchContext, registry: Registry, fake: FakeProvider, payload: dict[str, Any]
) -> None:
    """SPEC 6: a take runs once; executing a finished take raises."""
    take = Beat(beat_id="b1").new_take(workflow(step("a", **payload)))
    take.execute(context=context, registry=registry)
    before = codec.encode(take)
    with pytest.raises(StateError, match="new take"):
        take.execute(context=context, registry=registry)
    assert fake.submits == 1
    assert codec.encode(take) == before


def test_take_identity_wins_in_provenance(project_dir: Path, registry: Registry) -> None:
    """SPEC 5/6: a take stamps take_id, beat_id and scene_id on its receipts; identity wins over
    the caller's provenance."""
    ctx = DispatchContext(
        project=project_dir,
        default_provider="fake",
        provenance={"take_id": "spoof", "beat_id": "spoof", "user": "ana"},
    )
    beat = Beat(beat_id="s1-b2", beat_metadata={"scene_id": "s1"})
    take = beat.new_take(workflow(step("a")))
    take.execute(context=ctx, registry=registry)
    [receipt] = take.receipts()
    assert receipt.provenance == {
        "user": "ana",
        "take_id": take.take_id,
        "beat_id": "s1-b2",
        "scene_id": "s1",
        "workflow_id": take.workflow.workflow_id,
        "workflow_step_id": "a",
    }


def test_take_index_must_not_be_negative() -> None:
    """SPEC 6: take_index counts from 0."""
    with pytest.raises(ValidationError, match="take_index"):
        Take(take_id="t", take_index=-1, workflow=workflow())


def test_take_score_is_a_weighted_mean(context: DispatchContext, registry: Registry) -> None:
    """SPEC 10: a take's aggregate score is a weighted mean of its steps' scores."""
    take = Beat(beat_id="b").new_take(
        workflow(
            step("a", fake_scores={"sharp": 1.0, "noise": 0.0}),
            step("b", fake_scores={"sharp": 0.5}),
        )
    )
    assert take.score() is None
    take.execute(context=context, registry=registry)
    assert take.score() == pytest.approx(0.5)
    assert take.score({"sharp": 1.0, "noise": 0.0}) == pytest.approx(0.75)
    assert take.score({"sharp": 3.0}) == pytest.approx((3 * 1.0 + 0.0 + 3 * 0.5) / 7)


# -- Beat ---------------------------------------------------------------------------------------


def test_new_take_appends_with_index_and_default_id() -> None:
    """SPEC 6: new_take appends a take with take_index = len(takes) and an id derived from the
    beat id and index; metadata is the caller's plus the beat (and scene) ids."""
    beat = Beat(beat_id="s1-b1", beat_metadata={"scene_id": "s1"})
    first = beat.new_take(workflow(), take_metadata={"note": "wide"})
    second = beat.new_take(workflow())
    third = beat.new_take(workflow(), take_id="custom")
    assert [t.take_index for t in beat.takes] == [0, 1, 2]
    assert beat.takes == [first, second, third]
    assert (first.take_id, second.take_id, third.take_id) == ("s1-b1-t01", "s1-b1-t02", "custom")
    assert first.take_metadata == {"note": "wide", "beat_id": "s1-b1", "scene_id": "s1"}
    assert all(t.status is TakeStatus.PENDING for t in beat.takes)


def test_new_take_refuses_duplicates_and_never_mutates_existing_takes(
    context: DispatchContext, registry: Registry
) -> None:
    """SPEC 6: a duplicate take id, or a workflow id already used by another take, raises;
    existing takes are never mutated: a retake is a new take."""
    beat = Beat(beat_id="b1")
    original = workflow(step("a"))
    first = beat.new_take(original, take_id="t1")
    first.execute(context=context, registry=registry)
    before = [codec.encode(t) for t in beat.takes]
    with pytest.raises(ValidationError, match="already has a take 't1'"):
        beat.new_take(workflow(), take_id="t1")
    with pytest.raises(ValidationError, match=original.workflow_id):
        beat.new_take(original)
    assert [codec.encode(t) for t in beat.takes] == before
    retake = beat.new_take(original.fresh())
    assert retake.take_index == 1
    assert retake.status is TakeStatus.PENDING
    assert [codec.encode(t) for t in beat.takes[:1]] == before


def test_each_take_gets_its_own_seed(context: DispatchContext, registry: Registry) -> None:
    """SPEC 6: each take's seed derives from the beat's base seed and the take index, so a
    retake is a different sample; a payload-pinned seed wins."""
    beat = Beat(beat_id="b1", base_seed=1234)
    base = workflow(step("free"), step("pinned", seed=77))
    first = beat.new_take(base)
    second = beat.new_take(base.fresh())
    assert first.seed is not None and second.seed is not None
    assert first.seed != second.seed
    twin = Beat(beat_id="b1", base_seed=1234)
    assert [twin.take_seed(i) for i in (0, 1)] == [first.seed, second.seed]
    assert Beat(beat_id="b1", base_seed=99).take_seed(0) != first.seed
    assert Beat(beat_id="b1").take_seed(0) == Beat(beat_id="b1").take_seed(0)
    for take in (first, second):
        take.execute(context=context, registry=registry)
        free = take.workflow.step("free").receipt
        pinned = take.workflow.step("pinned").receipt
        assert free is not None and pinned is not None
        assert free.seed == take.seed
        assert pinned.seed == 77
    assert first.workflow.step("free").receipt != second.workflow.step("free").receipt


def with_statuses(*statuses: TakeStatus, primary: str | None = None) -> Beat:
    beat = Beat(beat_id="b")
    for status in statuses:
        beat.new_take(workflow()).status = status
    beat.primary_take_id = primary
    return beat


def test_first_success() -> None:
    """SPEC 6: first_success picks the first succeeded take by index, never a partial or failed
    one, and None when there is none."""
    beat = with_statuses(
        TakeStatus.FAILED, TakeStatus.PARTIAL, TakeStatus.SUCCEEDED, TakeStatus.SUCCEEDED
    )
    chosen = beat.select_primary()
    assert chosen is beat.takes[2]
    assert beat.primary_take_id == "b-t03"
    assert beat.primary_take is chosen
    none = with_statuses(TakeStatus.FAILED, TakeStatus.PARTIAL, TakeStatus.PENDING, primary="b-t01")
    assert none.select_primary("first_success") is None
    assert none.primary_take_id is None
    assert none.primary_take is None


def test_manual_keeps_the_callers_choice() -> None:
    """SPEC 6: manual keeps the caller-set primary_take_id, which must name a take of the beat."""
    beat = with_statuses(TakeStatus.SUCCEEDED, TakeStatus.PARTIAL)
    beat.primary_take_id = "b-t02"
    assert beat.select_primary(PrimaryStrategy.MANUAL) is beat.takes[1]
    assert beat.primary_take_id == "b-t02"
    beat.primary_take_id = "elsewhere-t01"
    with pytest.raises(NotFoundError, match="elsewhere-t01"):
        beat.select_primary("manual")
    with pytest.raises(NotFoundError, match="b-t01, b-t02"):
        _ = beat.primary_take


def test_an_unknown_take_or_beat_is_bad_input_with_a_hint() -> None:
    """A take or beat id that does not exist is a NotFoundError (exit 2), with did-you-mean."""
    beat = with_statuses(TakeStatus.SUCCEEDED, TakeStatus.PARTIAL)
    with pytest.raises(NotFoundError) as take_info:
        beat.take("b-t2")
    assert str(take_info.value) == (
        "beat 'b' has no take 'b-t2' (did you mean 'b-t02'?); takes: b-t01, b-t02"
    )
    project = Project(name="pilot", scenes=[Scene(scene_id="s1", beats=[beat])])
    with pytest.raises(NotFoundError) as beat_info:
        project.beat("c")
    assert str(beat_info.value) == "project 'pilot' has no beat 'c'; beats: b"
    with pytest.raises(NotFoundError) as close_info:
        project.beat("bb")
    assert str(close_info.value) == "project 'pilot' has no beat 'bb' (did you mean 'b'?)"
    assert take_info.value.exit_code == beat_info.value.exit_code == 2


def test_score_strategy(context: DispatchContext, registry: Registry) -> None:
    """SPEC 6: score picks the succeeded take with the highest aggregate eval score (ties to the
    lower index); partial and failed takes are never chosen, however well they score."""
    beat = Beat(beat_id="b")
    plan = [
        workflow(step("kf", fake_scores={"quality": 0.99}), step("bad", **FAIL)),  # partial
        scored(0.5),
        scored(0.8),
        workflow(step("kf", fake_scores={"quality": 1.0}, **FAIL)),  # failed
        scored(0.8),
    ]
    for wf in plan:
        beat.new_take(wf).execute(context=context, registry=registry)
    assert [t.status for t in beat.takes] == [
        TakeStatus.PARTIAL,
        TakeStatus.SUCCEEDED,
        TakeStatus.SUCCEEDED,
        TakeStatus.FAILED,
        TakeStatus.SUCCEEDED,
    ]
    assert beat.select_primary("score") is beat.takes[2]
    assert beat.primary_take is beat.takes[2]


def test_score_merges_later_eval_records(context: DispatchContext, registry: Registry) -> None:
    """SPEC 6/3: score uses receipts' scores merged with later `eval` records from the log."""
    beat = Beat(beat_id="b")
    for score in (0.5, 0.8):
        beat.new_take(scored(score)).execute(context=context, registry=registry)
    [low] = beat.takes[0].receipts()
    with ReceiptLog(context.receipts_file) as log:
        log.append(codec.encode(EvalRecord(receipt_id=low.receipt_id, scores={"quality": 0.95})))
    index = LogIndex.build(read_records(context.receipts_file))
    assert beat.select_primary("score") is beat.takes[1]
    assert beat.select_primary("score", scores=index.scores) is beat.takes[0]


def test_score_without_scores_is_an_error(context: DispatchContext, registry: Registry) -> None:
    """SPEC 6: score raises a clear error when no succeeded take has scores."""
    beat = Beat(beat_id="b")
    beat.new_take(workflow()).execute(context=context, registry=registry)
    beat.new_take(workflow(step("kf", fake_scores={"quality": 1.0}), step("x", **FAIL))).execute(
        context=context, registry=registry
    )
    with pytest.raises(SelectionError, match="no succeeded take has eval scores"):
        beat.select_primary(PrimaryStrategy.SCORE)
    assert beat.primary_take_id is None


# -- round trips --------------------------------------------------------------------------------


def assert_round_trip(value: Take | Beat | Scene | Project) -> None:
    cls = type(value)
    data = codec.encode(value)
    assert data["kind"] == cls.__name__.lower()
    assert "schema" in data
    assert codec.decode_as(cls, data) == value
    assert codec.decode_as(cls, json.loads(json.dumps(data))) == value


def test_round_trips_of_executed_objects(context: DispatchContext, registry: Registry) -> None:
    """SPEC 6: Take, Beat, Scene and Project round-trip through the codec."""
    beat = Beat(beat_id="s1-b1", beat_metadata={"scene_id": "s1"}, base_seed=5)
    beat.new_take(workflow(step("a"), step("b", **FAIL))).execute(
        context=context, registry=registry
    )
    beat.new_take(scored(0.4)).execute(context=context, registry=registry)
    beat.new_take(workflow())
    beat.select_primary()
    scene = Scene(scene_id="s1", beats=[beat, Beat(beat_id="s1-b2")], scene_metadata={"n": 1})
    project = Project(name="pilot", scenes=[scene], settings={"fps": 24})
    values: list[Take | Beat | Scene | Project] = [*beat.takes, beat, scene, project]
    for value in values:
        assert_round_trip(value)
    assert project.beats() == [beat, scene.beats[1]]
    assert project.beat("s1-b2") is scene.beats[1]
    with pytest.raises(NotFoundError):
        project.beat("nope")


@PROPERTY
@given(takes())
def test_take_round_trip_property(take: Take) -> None:
    """SPEC 6: codec.decode(codec.encode(t)) == t for any take, also through JSON."""
    assert_round_trip(take)


@PROPERTY
@given(beats())
def test_beat_round_trip_property(beat: Beat) -> None:
    """SPEC 6: codec.decode(codec.encode(b)) == b for any beat, also through JSON."""
    assert_round_trip(beat)


@NESTED_PROPERTY
@given(scenes)
def test_scene_round_trip_property(scene: Scene) -> None:
    """SPEC 6: codec.decode(codec.encode(s)) == s for any scene, also through JSON."""
    assert_round_trip(scene)


@NESTED_PROPERTY
@given(projects)
def test_project_round_trip_property(project: Project) -> None:
    """SPEC 6: codec.decode(codec.encode(p)) == p for any project, also through JSON."""
    assert_round_trip(project)
