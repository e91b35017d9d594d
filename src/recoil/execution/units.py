"""What a run takes (its units of work) and what it gives back (its report)."""

from __future__ import annotations

from dataclasses import dataclass, field

from recoil.model.context import DispatchContext
from recoil.model.take import Take
from recoil.model.workflow import Workflow


@dataclass(slots=True, kw_only=True)
class Unit:
    """One workflow to run, with its context and (optionally) its take."""

    workflow: Workflow
    context: DispatchContext
    take: Take | None = None
    priority: int = 0
    """How much of the run waits on this unit (e.g. its steps and those of other
    units that start from its outputs). When any unit has one, ready steps start
    by priority, then by the steps still to follow them in their unit, then in
    run order; so long paths through the run start early. Without, in run order."""
    gates: frozenset[str] = frozenset()
    """Steps that also wait for something outside the run: each is ready once its
    dependencies have succeeded and ``Scheduler.open`` has opened its gate. A gate
    still closed when nothing else is under way stays closed: its step (and what
    depends on it) is left pending, for a later run."""


@dataclass(slots=True, kw_only=True)
class RunReport:
    """What a run did and what it left undone."""

    succeeded: int = 0
    failed: int = 0
    skipped: int = 0
    cached: int = 0
    left: int = 0
    """Steps not run: stopped, over budget, or waiting on such a step."""
    attempts: int = 0
    spent: float = 0.0
    budget_stops: list[str] = field(default_factory=list)
    """One line per step not started because of the budget."""
    interrupted: bool = False
    elapsed_s: float = 0.0

    def summary(self) -> str:
        """One line for people."""
        parts = [f"{self.succeeded} succeeded ({self.cached} cached)"]
        parts += [f"{self.failed} failed", f"{self.skipped} skipped"]
        if self.left:
            parts.append(f"{self.left} not run")
        parts.append(f"spent {self.spent:.4f}")
        text = ", ".join(parts) + f" in {self.elapsed_s:.1f} s"
        if self.interrupted:
            text = "interrupted: " + text + "; run again to resume"
        if self.budget_stops:
            text += (
                f"; budget reached, {len(self.budget_stops)} dispatches not started "
                "(raise the budget and run again to continue)"
            )
        return text
