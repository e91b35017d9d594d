"""Workflows: validation, data flow, running, hooks, provenance, round trips (SPEC 5)."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from recoil.errors import DispatchError, ValidationError, WorkflowValidationError
from recoil.model.context import DispatchContext
from recoil.model.workflow import StepStatus, Workflow, WorkflowStep
from recoil.providers.fake import FakeProvider
from recoil.providers.registry import Registry
from recoil.records import codec
from tests.strategies import workflows

FAIL = {"fake_fail": "permanent"}


def step(step_id: str, *deps: str, modality: str = "keyframe", **payload: Any) -> WorkflowStep:
    return WorkflowStep(
        step_id=step_id,
        modality=modality,
        payload={"prompt": f"shot {step_id}", **payload},
        depends_on=list(deps),
    )


def ref(step_id: str, output: str | None = "image") -> dict[str, Any]:
    return {"$step": step_id} if output is None else {"$step": step_id, "output": output}


# -- validation ---------------------------------------------------------------------------------


def test_statuses() -> None:
    """SPEC 5: StepStatus is one of pending, running, succeeded, failed, skipped."""
    assert [s.value for s in StepStatus] == ["pending", "running", "succeeded", "failed", "skipped"]
    fresh = step("a")
    assert (fresh.status, fresh.receipt, fresh.error, fresh.attempts) == (
        StepStatus.PENDING,
        None,
        None,
        0,
    )
    assert (fresh.started_us, fresh.finished_us) == (None, None)


def test_empty_workflow_is_invalid() -> None:
    """SPEC 5: an empty workflow is a validation error."""
    with pytest.raises(WorkflowValidationError, match="at least one step"):
        Workflow(steps=[])


@pytest.mark.parametrize(
    ("steps", "bad", "reason"),
    [
        ([step("a"), step("b"), step("a")], "a", "duplicate step id"),
        ([step("a"), step("b", "zz")], "b", "missing step 'zz'"),
        ([step("a", "a")], "a", "itself"),
        ([step("b", "a"), step("a")], "b", "listed later"),
        ([step("a", "b"), step("b", "a")], "a", "cycle: a -> b -> a"),
        ([step("a", "c"), step("b", "a"), step("c", "b")], "a", "cycle"),
        ([step("a"), step("b", image=ref("a"))], "b", "references step 'a'"),
        ([step("a"), step("b", refs=[{"x": ref("a")}])], "b", "not in depends_on"),
        ([step("")], "", "non-empty"),
    ],
)
def test_invalid_workflows_name_the_step(steps: list[WorkflowStep], bad: str, reason: str) -> None:
    """SPEC 5: duplicate ids, missing deps, self deps, later-listed deps, cycles and $step
    references outside depends_on raise WorkflowValidationError naming the step."""
    with pytest.raises(WorkflowValidationError, match=reason) as info:
        Workflow(steps=steps)
    assert info.value.step_id == bad
    assert f"step {bad!r}" in str(info.value)
    assert isinstance(info.value, ValidationError)


def test_valid_workflow_and_lookups() -> None:
    """SPEC 5: steps listed in a valid execution order validate; references are found."""
    wf = Workflow(steps=[step("kf"), step("vid", "kf", modality="video", image=ref("kf"))])
    assert wf.step("vid").modality == "video"
    assert list(wf.step("vid").references()) == [("kf", "image")]
    with pytest.raises(KeyError):
        wf.step("nope")
    assert wf.workflow_id.startswith("wf_")
    assert wf.created_at.endswith("+00:00")


# -- running ------------------------------------------------------------------------------------


def test_run_succeeds_with_receipts_and_microsecond_timestamps(
    context: DispatchContext, registry: Registry
) -> None:
    """SPEC 5: a run sets receipt, status, started_us and finished_us (epoch microseconds)."""
    wf = Workflow(steps=[step("a"), step("b", "a")])
    before = int(time.time() * 1e6)
    assert wf.run(context, registry=registry) is wf
    after = int(time.time() * 1e6)
    for s in wf.steps:
        assert s.status is StepStatus.SUCCEEDED
        assert s.receipt is not None and s.receipt.succeeded
        assert s.error is None
        assert s.attempts == 1
        assert isinstance(s.started_us, int) and isinstance(s.finished_us, int)
        assert before <= s.started_us <= s.finished_us <= after
    assert wf.steps[0].finished_us <= wf.steps[1].started_us  # type: ignore[operator]


def test_step_references_resolve_to_artifact_paths(
    context: DispatchContext, registry: Registry
) -> None:
    """SPEC 5: a `$step` reference is resolved to that step's artifact before dispatch."""
    wf = Workflow(
        steps=[
            step("kf"),
            step("vid", "kf", modality="video", image=ref("kf"), duration_s=0.25, fps=8),
            WorkflowStep(
                step_id="up",
                modality="upscale",
                payload={"video": ref("vid", None)},
                depends_on=["vid"],
            ),
        ]
    )
    wf.run(context, registry=registry)
    kf, vid, up = (wf.step(i).receipt for i in ("kf", "vid", "up"))
    assert kf is not None and vid is not None and up is not None
    assert vid.request["image"] == kf.artifacts["image"].path
    assert vid.inputs == {"image": kf.artifacts["image"].sha256}
    assert up.request["video"] == vid.artifacts["video"].path
    assert wf.step("vid").payload["image"] == ref("kf")  # the workflow keeps the reference


def test_reference_to_a_missing_output_fails_the_step(
    context: DispatchContext, registry: Registry
) -> None:
    """SPEC 5: a reference to an output the dependency did not produce fails that step."""
    wf = Workflow(steps=[step("kf"), step("vid", "kf", modality="video", image=ref("kf", "mask"))])
    wf.run(context, registry=registry)
    assert wf.step("vid").status is StepStatus.FAILED
    assert "'mask'" in (wf.step("vid").error or "")


def test_failed_dependency_cascades_skips(
    context: DispatchContext, registry: Registry, fake: FakeProvider
) -> None:
    """SPEC 5: a step with a failed dependency is skipped, naming the dependency; a step after
    a skipped one is skipped naming that one; others still run."""
    wf = Workflow(
        steps=[
            step("a", **FAIL),
            step("b", "a"),
            step("c", "b"),
            step("d"),
            step("e", "d", "b"),
        ]
    )
    wf.run(context, registry=registry, concurrency=1)
    status = {s.step_id: s.status for s in wf.steps}
    assert status == {
        "a": StepStatus.FAILED,
        "b": StepStatus.SKIPPED,
        "c": StepStatus.SKIPPED,
        "d": StepStatus.SUCCEEDED,
        "e": StepStatus.SKIPPED,
    }
    assert "'a'" in (wf.step("b").error or "")
    assert "'b'" in (wf.step("c").error or "")
    assert "'b'" in (wf.step("e").error or "")
    assert wf.step("b").receipt is None
    assert fake.submits == 2


def test_hooks_order_and_state(context: DispatchContext, registry: Registry) -> None:
    """SPEC 5: pre_step before a step starts; post_step after success with receipt, status and
    finished_us set; on_failure(step, exc) after failure with status, error and finished_us."""
    events: list[tuple[str, str]] = []

    def pre(s: WorkflowStep) -> None:
        assert s.status is StepStatus.PENDING and s.started_us is None
        events.append(("pre", s.step_id))

    def post(s: WorkflowStep) -> None:
        assert s.status is StepStatus.SUCCEEDED
        assert s.receipt is not None and s.finished_us is not None and s.started_us is not None
        events.append(("post", s.step_id))

    def failed(s: WorkflowStep, exc: BaseException) -> None:
        assert s.status is StepStatus.FAILED
        assert s.error and s.finished_us is not None
        assert isinstance(exc, DispatchError)
        events.append(("fail", s.step_id))

    wf = Workflow(steps=[step("a"), step("b", **FAIL), step("c", "b"), step("d")])
    wf.run(
        context, pre_step=pre, post_step=post, on_failure=failed, registry=registry, concurrency=1
    )
    assert events == [
        ("pre", "a"),
        ("post", "a"),
        ("pre", "b"),
        ("fail", "b"),
        ("pre", "d"),
        ("post", "d"),
    ]


class HookError(Exception):
    """Raised by a hook in these tests."""


@pytest.mark.parametrize("where", ["pre_step", "post_step", "on_failure"])
def test_raising_hook_stops_the_run(
    context: DispatchContext, registry: Registry, fake: FakeProvider, where: str
) -> None:
    """SPEC 5: an exception raised by a hook stops the run and propagates to the caller; steps
    not started stay pending."""
    target = "b"

    def hook(s: WorkflowStep, *_: object) -> None:
        if s.step_id == target:
            raise HookError(s.step_id)

    wf = Workflow(
        steps=[
            step("a"),
            step("b", **(FAIL if where == "on_failure" else {})),
            step("c"),
            step("d"),
        ]
    )
    with pytest.raises(HookError, match="b"):
        wf.run(context, registry=registry, concurrency=1, **{where: hook})
    assert wf.step("a").status is StepStatus.SUCCEEDED
    assert wf.step("c").status is StepStatus.PENDING
    assert wf.step("d").status is StepStatus.PENDING
    assert wf.step("c").started_us is None
    expected_b = {
        "pre_step": StepStatus.PENDING,
        "post_step": StepStatus.SUCCEEDED,
        "on_failure": StepStatus.FAILED,
    }[where]
    assert wf.step("b").status is expected_b
    assert fake.submits == (1 if where == "pre_step" else 2)


def test_concurrency_one_runs_in_list_order(context: DispatchContext, registry: Registry) -> None:
    """SPEC 5: with concurrency 1 the order is the list order."""
    order = ["d", "b", "e", "a", "c"]
    started: list[str] = []
    wf = Workflow(steps=[step(i) for i in order])
    wf.run(context, registry=registry, concurrency=1, pre_step=lambda s: started.append(s.step_id))
    assert started == order
    stamps = [s.started_us for s in wf.steps]
    assert stamps == sorted(stamps)  # type: ignore[type-var]


@pytest.mark.parametrize("concurrency", [2, 4])
def test_ready_steps_run_concurrently(
    context: DispatchContext, registry: Registry, concurrency: int
) -> None:
    """SPEC 5: steps whose dependencies have all succeeded may run concurrently, up to the limit;
    hooks are still called one at a time, on the caller's thread."""
    running = peak = 0
    threads: set[int] = set()

    def pre(_: WorkflowStep) -> None:
        nonlocal running, peak
        threads.add(threading.get_ident())
        running += 1
        peak = max(peak, running)

    def post(_: WorkflowStep) -> None:
        nonlocal running
        threads.add(threading.get_ident())
        running -= 1

    wf = Workflow(steps=[step(f"s{i}", fake_latency_s=0.05) for i in range(5)])
    wf.run(context, registry=registry, concurrency=concurrency, pre_step=pre, post_step=post)
    assert peak == concurrency
    assert threads == {threading.get_ident()}
    assert all(s.status is StepStatus.SUCCEEDED for s in wf.steps)


def test_provenance_merge_order_identity_wins(project_dir: Path, registry: Registry) -> None:
    """SPEC 5: provenance merges global_provenance < context.provenance < identity keys; identity
    always wins, even over a caller's workflow_id."""
    ctx = DispatchContext(
        project=project_dir,
        default_provider="fake",
        provenance={
            "b": "context",
            "c": "context",
            "workflow_id": "spoof",
            "workflow_step_id": "x",
        },
    )
    wf = Workflow(
        workflow_id="wf-real",
        steps=[step("shot")],
        global_provenance={"a": "global", "b": "global", "workflow_id": "spoof-too"},
    )
    wf.run(ctx, registry=registry)
    receipt = wf.step("shot").receipt
    assert receipt is not None
    assert receipt.provenance == {
        "a": "global",
        "b": "context",
        "c": "context",
        "workflow_id": "wf-real",
        "workflow_step_id": "shot",
    }


def test_per_step_context_is_validated_again(
    context: DispatchContext, registry: Registry, fake: FakeProvider
) -> None:
    """SPEC 5: the per-step context is derived with dataclasses.replace, so it is validated again
    (a global provenance that is not JSON-safe fails the step before any provider call)."""
    wf = Workflow(steps=[step("a")], global_provenance={"when": {1, 2}})
    wf.run(context, registry=registry)
    assert wf.step("a").status is StepStatus.FAILED
    assert "JSON-safe" in (wf.step("a").error or "")
    assert fake.submits == 0


# -- persistence --------------------------------------------------------------------------------


def round_trips(wf: Workflow) -> None:
    data = codec.encode(wf)
    assert data["kind"] == "workflow"
    assert "schema" in data
    assert codec.decode_as(Workflow, data) == wf
    assert codec.decode_as(Workflow, json.loads(json.dumps(data))) == wf


def test_round_trip_unexecuted_and_executed(context: DispatchContext, registry: Registry) -> None:
    """SPEC 5: the codec round-trips any workflow, executed or not, receipts included."""
    wf = Workflow(
        steps=[step("a"), step("b", **FAIL), step("c", "b"), step("d", "a", image=ref("a"))],
        global_provenance={"show": "pilot"},
    )
    round_trips(wf)
    wf.run(context, registry=registry)
    assert wf.step("a").receipt is not None
    round_trips(wf)


@settings(max_examples=40, suppress_health_check=[HealthCheck.too_slow])
@given(workflows())
def test_round_trip_property(wf: Workflow) -> None:
    """SPEC 5: codec.decode(codec.encode(w)) == w for any workflow, also through JSON text."""
    round_trips(wf)


def test_decode_validates() -> None:
    """SPEC 5: a workflow read back is validated like a new one."""
    data = codec.encode(Workflow(steps=[step("a"), step("b", "a")]))
    data["steps"].reverse()
    with pytest.raises(WorkflowValidationError, match="listed later"):
        codec.decode_as(Workflow, data)


def test_fresh_resets_every_step(context: DispatchContext, registry: Registry) -> None:
    """SPEC 5: fresh(workflow_id) returns a copy with every step pending and no receipts."""
    wf = Workflow(
        steps=[step("a"), step("b", "a", image=ref("a"), nested={"k": [1]})],
        global_provenance={"g": {"x": 1}},
    )
    wf.run(context, registry=registry)
    before = codec.encode(wf)
    new = wf.fresh("wf-take-2")
    assert new.workflow_id == "wf-take-2"
    for s, old in zip(new.steps, wf.steps, strict=True):
        assert (s.step_id, s.modality, s.payload, s.depends_on) == (
            old.step_id,
            old.modality,
            old.payload,
            old.depends_on,
        )
        assert s.status is StepStatus.PENDING
        assert (s.receipt, s.error, s.started_us, s.finished_us, s.attempts) == (
            None,
            None,
            None,
            None,
            0,
        )
    assert new.global_provenance == wf.global_provenance
    new.step("b").payload["nested"]["k"].append(2)
    new.global_provenance["g"]["x"] = 2
    assert codec.encode(wf) == before  # a deep copy: the executed workflow is untouched
    assert wf.fresh().workflow_id not in (wf.workflow_id, new.workflow_id)
