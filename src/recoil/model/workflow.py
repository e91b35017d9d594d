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
WORKFLOW_SCHEMA = 1


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

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict."""
        return {
            "step_id": self.step_id,
            "modality": self.modality,
            "payload": copy.deepcopy(self.payload),
            "depends_on": list(self.depends_on),
            "status": self.status.value,
            "receipt": self.receipt.to_dict() if self.receipt is not None else None,
            "error": self.error,
            "started_us": self.started_us,
            "finished_us": self.finished_us,
            "attempts": self.attempts,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> WorkflowStep:
        """Inverse of :meth:`to_dict`."""
        receipt = data.get("receipt")
        return cls(
            step_id=data["step_id"],
            modality=data["modality"],
            payload=copy.deepcopy(dict(data.get("payload", {}))),
            depends_on=list(data.get("depends_on", [])),
            status=StepStatus(data.get("status", "pending")),
            receipt=Receipt.from_dict(receipt) if receipt else None,
            error=data.get("error"),
            started_us=data.get("started_us"),
            finished_us=data.get("finished_us"),
            attempts=int(data.get("attempts", 0)),
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

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict with kind and schema tags."""
        return {
            "kind": "Workflow",
            "schema": WORKFLOW_SCHEMA,
            "workflow_id": self.workflow_id,
            "created_at": self.created_at,
            "global_provenance": copy.deepcopy(self.global_provenance),
            "steps": [s.to_dict() for s in self.steps],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Workflow:
        """Inverse of :meth:`to_dict`."""
        return cls(
            workflow_id=data["workflow_id"],
            created_at=data["created_at"],
            global_provenance=copy.deepcopy(dict(data.get("global_provenance", {}))),
            steps=[WorkflowStep.from_dict(s) for s in data["steps"]],
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
