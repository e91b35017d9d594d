"""Step references: a payload's ``{"$step": ...}`` values resolved to artifact paths.

A reference resolves to where the artifact's file is now, found by its hash in
the run's artifact store (``locate``), not to the path its receipt recorded.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from recoil.errors import RecoilError
from recoil.model.receipt import Artifact
from recoil.model.workflow import STEP_REF, Workflow

Locate = Callable[[Artifact], Path]


class DependencyOutputError(RecoilError):
    """A step references an output its dependency did not produce."""


def resolve_refs(payload: Mapping[str, Any], workflow: Workflow, locate: Locate) -> dict[str, Any]:
    """A copy of ``payload`` with every ``{"$step": ...}`` replaced by that step's artifact path.

    Dicts and lists are copied as they are walked, so the step's own payload is
    never shared with the dispatch.
    """
    return {
        k: v if type(v) in _ATOMS else _resolve(v, workflow, locate)  # most values are plain
        for k, v in payload.items()
    }


_ATOMS = frozenset({str, int, float, bool, type(None)})


def _resolve(value: Any, workflow: Workflow, locate: Locate) -> Any:
    # A module-level function: a nested recursive one would be a reference cycle per call.
    if isinstance(value, Mapping):
        if STEP_REF in value:
            artifact = step_output(workflow, str(value[STEP_REF]), value.get("output"))
            return str(locate(artifact))
        return {k: _resolve(v, workflow, locate) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve(v, workflow, locate) for v in value]
    return value


def step_output(workflow: Workflow, step_id: str, output: str | None) -> Artifact:
    """Step ``step_id``'s output ``output`` (its first output when ``None``)."""
    receipt = workflow.step(step_id).receipt
    if receipt is None or not receipt.artifacts:
        raise DependencyOutputError(f"step {step_id!r} has no output to pass on")
    if output is None:
        return next(iter(receipt.artifacts.values()))
    artifact = receipt.artifacts.get(output)
    if artifact is None:
        names = ", ".join(receipt.artifacts)
        raise DependencyOutputError(f"step {step_id!r} has no output {output!r}; it has: {names}")
    return artifact
