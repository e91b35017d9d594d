"""The run's graph: a node per step, what each waits on, and the failure cascade.

The steps of every unit become nodes in run order: units in the order given,
steps in list order; or, when a unit has a priority, by priority first, then
by the steps that still follow each in its unit (so a take's first step goes
before another's last, and the end of a run is short steps). A node counts
its dependencies that have not succeeded yet and knows its dependents. A
graph is built from steps that may have run before: a step cut short
(``running``) is pending again, a finished step is done already, and a
pending step whose dependency failed or was skipped in an earlier run is
skipped at once. A gated step (``Unit.gates``) counts its closed gate as one
more dependency, met when the gate opens. A failed step skips every pending
step downstream of it (cascade). Each unit counts its steps still to finish,
so its take is finished as its last step is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from recoil.dispatch import Prepared
from recoil.execution.units import RunReport, Unit
from recoil.model.context import DispatchContext
from recoil.model.take import Take, TakeStatus
from recoil.model.workflow import StepStatus, WorkflowStep

__all__ = ["Graph", "Node"]


@dataclass(slots=True, eq=False)
class Node:
    """One step of a run and what the scheduler tracks of it."""

    unit: int
    order: int
    """Position in the run (the unit's priority, its index, then the step's); lower
    starts first."""
    step: WorkflowStep
    waiting: int = 0
    dependents: list[Node] = field(default_factory=list)
    context: DispatchContext | None = None
    prepared: Prepared | None = None
    attempts: int = 0
    """Attempts in this run (``step.attempts`` counts every run)."""
    reserved: float = 0.0
    """Budget held by this step's call in flight."""
    calling: bool = False
    """Whether the step's provider call holds one of its provider's slots."""
    provider: str = ""
    """The provider its prepared dispatch goes to (set when it is queued)."""
    logging: bool = False
    """Whether its receipt is queued for the log and not yet on disk."""
    held: bool = False
    """Whether it holds a global slot (from its start until its step is done)."""


class Graph:
    """The nodes of one run's units, and how many steps of each unit are left to finish."""

    def __init__(self, units: Sequence[Unit], report: RunReport) -> None:
        self.units = list(units)
        self.report = report
        self.remaining: list[int] = []
        """Per unit: its steps that were pending when the run began and are not done yet."""
        self.closed: dict[tuple[int, str], Node] = {}
        """(unit, step id) -> the pending step behind that closed gate."""
        self.index = {id(unit): u for u, unit in enumerate(self.units)}
        self.nodes = self._build()

    def _build(self) -> list[Node]:
        nodes: list[Node] = []
        for u, unit in enumerate(self.units):
            by_id: dict[str, Node] = {}
            pending = 0
            for step in unit.workflow.steps:
                if step.status is StepStatus.RUNNING:
                    step.status = StepStatus.PENDING  # cut short by a crash or a stop
                node = Node(u, len(nodes), step)
                by_id[step.step_id] = node
                nodes.append(node)
                if step.status is not StepStatus.PENDING:
                    continue
                pending += 1
                for dep in step.depends_on:
                    parent = by_id[dep]
                    status = parent.step.status
                    if status in (StepStatus.FAILED, StepStatus.SKIPPED):
                        # A dependency that ended badly in an earlier run: cascade now.
                        self.skip(node, dep)
                        pending -= 1
                        break
                    if status is not StepStatus.SUCCEEDED:
                        node.waiting += 1
                        parent.dependents.append(node)
                if step.step_id in unit.gates and step.status is StepStatus.PENDING:
                    node.waiting += 1
                    self.closed[u, step.step_id] = node
            self.remaining.append(pending)
        if any(unit.priority for unit in self.units):
            depth = _depths(self.units)
            ranked = sorted(
                nodes, key=lambda n: (-self.units[n.unit].priority, -depth[id(n.step)], n.order)
            )
            for rank, node in enumerate(ranked):
                node.order = rank
            nodes = ranked
        return nodes

    def startable(self) -> list[Node]:
        """Pending steps whose dependencies have all succeeded, in run order."""
        return [n for n in self.nodes if n.waiting == 0 and n.step.status is StepStatus.PENDING]

    def empty_units(self) -> list[int]:
        """Units with no step left to run (every one finished in an earlier run)."""
        return [u for u, remaining in enumerate(self.remaining) if remaining == 0]

    def succeeded(self, node: Node) -> list[Node]:
        """The dependents that ``node``'s success leaves waiting on nothing, in order."""
        ready = []
        for child in node.dependents:
            child.waiting -= 1
            if child.waiting == 0 and child.step.status is StepStatus.PENDING:
                ready.append(child)
        return ready

    def open(self, unit: Unit, step_id: str) -> Node | None:
        """Open ``unit``'s gate of ``step_id``; returns its node if that leaves it ready.

        Opening a gate that is not closed (opened before, or its step not pending) does
        nothing.
        """
        node = self.closed.pop((self.index[id(unit)], step_id), None)
        if node is None:
            return None
        node.waiting -= 1
        return node if node.waiting == 0 and node.step.status is StepStatus.PENDING else None

    def done(self, node: Node) -> Take | None:
        """Count ``node``'s step finished; returns its unit's take if that finished the take."""
        u = node.unit
        self.remaining[u] -= 1
        return self.finish(u) if self.remaining[u] == 0 else None

    def fail(self, node: Node) -> Take | None:
        """Count the failed ``node`` done and skip every pending step downstream of it.

        Returns its unit's take if that finished the take (dependents are all of
        the same unit, so at most one take finishes).
        """
        finished = self.done(node)
        stack = [node]
        while stack:
            parent = stack.pop()
            for child in parent.dependents:
                if child.step.status is StepStatus.PENDING:
                    self.skip(child, parent.step.step_id)
                    finished = self.done(child) or finished
                    stack.append(child)
        return finished

    def skip(self, node: Node, cause: str) -> None:
        """Skip ``node``'s step because its dependency ``cause`` did not succeed."""
        node.step.status = StepStatus.SKIPPED
        node.step.error = f"skipped: dependency {cause!r} did not succeed"
        self.report.skipped += 1

    def finish(self, u: int) -> Take | None:
        """Set unit ``u``'s take's status from its steps, if it is running; returns that take."""
        take = self.units[u].take
        if take is None or take.status is not TakeStatus.RUNNING:
            return None
        take.finish()
        return take

    def close(self) -> int:
        """Put takes cut short back to pending; returns how many steps were not run.

        A take cut short keeps its finished steps, so executing it again resumes it.
        """
        for u, unit in enumerate(self.units):
            if unit.take is not None and self.remaining[u] > 0:
                unit.take.status = TakeStatus.PENDING
        return sum(
            step.status in (StepStatus.PENDING, StepStatus.RUNNING)
            for unit in self.units
            for step in unit.workflow.steps
        )


def _depths(units: Sequence[Unit]) -> dict[int, int]:
    """id(step) -> the most steps from it to the end of its unit, itself included."""
    depth: dict[int, int] = {}
    for unit in units:
        steps = unit.workflow.steps
        below: dict[str, int] = {}
        # Dependencies come before their dependents in a workflow: one pass backwards.
        for step in reversed(steps):
            own = 1 + below.get(step.step_id, 0)
            depth[id(step)] = own
            for dep in step.depends_on:
                below[dep] = max(below.get(dep, 0), own)
    return depth
