"""The hooks a run calls: around each step and take, and on a step's failure (SPEC sections 5, 6).

Hooks are synchronous and called one at a time; an exception raised by a hook
stops the run and propagates to the caller. ``Workflow.run`` and
``Take.execute`` take them as keyword arguments and hand them on as one
:class:`Hooks` value.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from recoil.model.take import Take
    from recoil.model.workflow import WorkflowStep

__all__ = ["FailureHook", "Hooks", "StepHook", "TakeHook"]

StepHook = Callable[["WorkflowStep"], None]
FailureHook = Callable[["WorkflowStep", BaseException], None]
TakeHook = Callable[["Take"], None]


@dataclass(slots=True, kw_only=True)
class Hooks:
    """Synchronous hooks, called one at a time; a raising hook stops the run."""

    pre_step: StepHook | None = None
    post_step: StepHook | None = None
    on_failure: FailureHook | None = None
    pre_take: TakeHook | None = None
    post_take: TakeHook | None = None
