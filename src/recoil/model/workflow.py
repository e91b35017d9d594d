"""Workflow: a DAG of dispatch steps, listed in a valid execution order (SPEC section 5)."""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from recoil.errors import WorkflowValidationError
from recoil.model.hooks import FailureHook, Hooks, StepHook
from recoil.model.ids import new_id, utc_now_iso
from recoil.model.receipt import Receipt

if TYPE_CHECKING:
    from recoil.model.context import DispatchContext
    from recoil.providers.registry import Registry

STEP_REF = "$step"


class StepStatus(StrEnum):
    """Where a step stands."""

    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"


@dataclass(slots=True, kw_only=True)
class WorkflowStep:
    """One dispatch of a workflow.

    ``payload`` values may reference an earlier step's output with
    ``{"$step": "<step_id>", "output": "<artifact name>"}``; the executor
    replaces the reference with that artifact's path before dispatch.
    """

    step_id: str
    modality: str
    payload: dict[str, Any] = field(default_factory=dict)
    depends_on: list[str] = field(default_factory=list)
    status: StepStatus = StepStatus.PENDING
    receipt: Receipt | None = None
    error: str | None = None
    started_us: int | None = None
    finished_us: int | None = None
    attempts: int = 0

    def references(self) -> Iterator[tuple[str, str | None]]:
        """Every ``(step_id, output)`` this step's payload references."""
        yield from _find_refs(self.payload)

    def reset(self) -> WorkflowStep:
        """A pending copy of this step, with no receipt or timings."""
        return WorkflowStep(
            step_id=self.step_id,
            modality=self.modality,
            payload=copy.deepcopy(self.payload),
            depends_on=list(self.depends_on),
        )


@dataclass(slots=True, kw_only=True)
class Workflow:
    """An ordered DAG of steps; validated on construction."""

    steps: list[WorkflowStep]
    workflow_id: str = field(default_factory=lambda: new_id("wf"))
    global_provenance: dict[str, Any] = field(default_factory=dict)
    created_at: str = field(default_factory=utc_now_iso)

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise :class:`WorkflowValidationError` naming the first bad step."""
        if not self.steps:
            raise WorkflowValidationError(None, "a workflow needs at least one step")
        seen: set[str] = set()
        all_ids = {s.step_id for s in self.steps}
        for step in self.steps:
            if not step.step_id:
                raise WorkflowValidationError(step.step_id, "step ids must be non-empty")
            if step.step_id in seen:
                raise WorkflowValidationError(step.step_id, "duplicate step id")
            for dep in step.depends_on:
                if dep == step.step_id:
                    raise WorkflowValidationError(step.step_id, "a step cannot depend on itself")
                if dep not in all_ids:
                    raise WorkflowValidationError(step.step_id, f"depends on missing step {dep!r}")
                if dep not in seen:
                    cycle = self._cycle_through(step.step_id, dep)
                    if cycle:
                        raise WorkflowValidationError(
                            step.step_id, f"dependency cycle: {' -> '.join(cycle)}"
                        )
                    raise WorkflowValidationError(
                        step.step_id,
                        f"depends on {dep!r}, which is listed later; list steps in execution order",
                    )
            for ref, _ in step.references():
                if ref not in step.depends_on:
                    raise WorkflowValidationError(
                        step.step_id,
                        f"payload references step {ref!r}, which is not in depends_on",
                    )
            seen.add(step.step_id)

    def _cycle_through(self, start: str, dep: str) -> list[str]:
        """A dependency path ``start -> dep -> ... -> start``, or ``[]``."""
        deps = {s.step_id: s.depends_on for s in self.steps}
        stack: list[tuple[str, list[str]]] = [(dep, [start, dep])]
        visited: set[str] = set()
        while stack:
            node, path = stack.pop()
            if node == start:
                return path
            if node in visited:
                continue
            visited.add(node)
            stack.extend((d, [*path, d]) for d in deps.get(node, []))
        return []

    def step(self, step_id: str) -> WorkflowStep:
        """The step with this id."""
        for step in self.steps:
            if step.step_id == step_id:
                return step
        raise KeyError(step_id)

    def run(
        self,
        context: DispatchContext,
        *,
        pre_step: StepHook | None = None,
        post_step: StepHook | None = None,
        on_failure: FailureHook | None = None,
        concurrency: int = 4,
        registry: Registry | None = None,
    ) -> Workflow:
        """Run every step through the scheduler (SPEC section 5); returns ``self``.

        A raising hook stops the run and propagates; steps not started stay
        pending.
        """
        # Up a layer, lazily: the scheduler this thin sync wrapper runs on sits above model.
        from recoil.execution.sync import run_workflow

        hooks = Hooks(pre_step=pre_step, post_step=post_step, on_failure=on_failure)
        run_workflow(self, context, hooks=hooks, concurrency=concurrency, registry=registry)
        return self

    def fresh(self, workflow_id: str | None = None) -> Workflow:
        """A copy with every step reset to pending (no receipts), for a new take."""
        return Workflow(
            workflow_id=workflow_id or new_id("wf"),
            steps=[s.reset() for s in self.steps],
            global_provenance=copy.deepcopy(self.global_provenance),
        )


def _find_refs(value: Any) -> Iterator[tuple[str, str | None]]:
    if isinstance(value, Mapping):
        if STEP_REF in value:
            yield str(value[STEP_REF]), value.get("output")
            return
        for item in value.values():
            yield from _find_refs(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _find_refs(item)
