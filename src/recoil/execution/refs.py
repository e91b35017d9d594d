"""Step references: a payload's ``{"$step": ...}`` values resolved to artifact paths."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from recoil.errors import RecoilError
from recoil.model.workflow import STEP_REF, Workflow


class DependencyOutputError(RecoilError):
    """A step references an output its dependency did not produce."""


def resolve_refs(payload: Mapping[str, Any], workflow: Workflow) -> dict[str, Any]:
    """A copy of ``payload`` with every ``{"$step": ...}`` replaced by that step's artifact path.

    Dicts and lists are copied as they are walked, so the step's own payload is
    never shared with the dispatch.
    """
    return {
        k: v if type(v) in _ATOMS else _resolve(v, workflow)  # most values are plain
        for k, v in payload.items()
    }


_ATOMS = frozenset({str, int, float, bool, type(None)})


def _resolve(value: Any, workflow: Workflow) -> Any:
    # A module-level function: a nested recursive one would be a reference cycle per call.
    if isinstance(value, Mapping):
        if STEP_REF in value:
            return artifact_path(workflow, str(value[STEP_REF]), value.get("output"))
        return {k: _resolve(v, workflow) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve(v, workflow) for v in value]
    return value


def artifact_path(workflow: Workflow, step_id: str, output: str | None) -> str:
    """The path of step ``step_id``'s output ``output`` (its first output when ``None``)."""
    receipt = workflow.step(step_id).receipt
    if receipt is None or not receipt.artifacts:
        raise DependencyOutputError(f"step {step_id!r} has no output to pass on")
    if output is None:
        return next(iter(receipt.artifacts.values())).path
    artifact = receipt.artifacts.get(output)
    if artifact is None:
        names = ", ".join(receipt.artifacts)
        raise DependencyOutputError(f"step {step_id!r} has no output {output!r}; it has: {names}")
    return artifact.path
