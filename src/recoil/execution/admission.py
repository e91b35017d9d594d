"""Admission: which prepared step starts next, under the provider gates and the budget.

Prepared steps wait in one queue per provider, in run order. A step may start
when its provider's gate is open (a slot of that provider free, its
requests-per-minute window allows it and no ``Retry-After`` pause holds it);
among those the earliest listed wins, so with concurrency 1 steps start in
list order. When every waiting provider is paused or rate-limited, a timer
wakes the run as the first one opens.

With a budget, a step whose estimate would take the spend plus the estimates
of calls in flight over it is not started: while calls are in flight it is
parked (they may cost less than reserved) and queued again as each ends;
otherwise it stays pending and the report lists it.
"""

from __future__ import annotations

import asyncio
import heapq
import math
from collections.abc import Iterable

from recoil.dispatch import Dispatcher
from recoil.execution.graph import Node
from recoil.execution.policy import Limits, ProviderGates
from recoil.execution.units import RunReport

__all__ = ["Admission"]


class Admission:
    """The queues of prepared steps of one run, and whether each may start now."""

    def __init__(
        self,
        limits: Limits,
        gates: ProviderGates,
        dispatcher: Dispatcher,
        report: RunReport,
        wake: asyncio.Event,
    ) -> None:
        self.gates = gates
        self.dispatcher = dispatcher
        self.report = report
        self._in_order = limits.concurrency == 1
        self._wake = wake
        self._ready: dict[str, list[tuple[int, Node]]] = {}
        self.waiting = 0
        """Steps queued: prepared, waiting to start."""
        self.reserved = 0.0
        """The estimates of the calls in flight under a budget."""
        self._parked: list[Node] = []
        self._wakeup: asyncio.TimerHandle | None = None

    def queue(self, node: Node) -> None:
        """Queue a prepared step to start once its provider and the budget allow."""
        assert node.prepared is not None
        node.provider = provider = node.prepared.provider_name
        heapq.heappush(self._ready.setdefault(provider, []), (node.order, node))
        self.waiting += 1
        self._wake.set()

    def has_ready(self) -> bool:
        """Whether any step is queued."""
        return any(self._ready.values())

    def first_ready(self) -> float:
        """The lowest order among queued steps (infinity if none)."""
        return min((heap[0][0] for heap in self._ready.values() if heap), default=math.inf)

    def pick(self, now: float, preparing: Iterable[Node]) -> Node | None:
        """The earliest-listed queued step that may start now, or ``None``.

        ``preparing`` are the steps still being prepared in threads: with
        concurrency 1 none starts before an earlier one of those, to keep list order.
        """
        while True:
            best = self._best(now)
            if best is None:
                return None
            order, provider = best
            if self._in_order and any(n.order < order for n in preparing):
                return None
            node = heapq.heappop(self._ready[provider])[1]
            self.waiting -= 1
            if self._admit(node):
                return node

    def _best(self, now: float) -> tuple[int, str] | None:
        """The order and provider of the first step whose gate is open (arms the wake-up)."""
        best: tuple[int, str] | None = None
        soonest: float | None = None
        for provider, heap in self._ready.items():
            if not heap or (best is not None and heap[0][0] >= best[0]):
                continue
            wait = self.gates.wait_s(provider, now)
            if wait is None:
                continue
            if wait > 0:
                soonest = wait if soonest is None else min(soonest, wait)
                continue
            best = (heap[0][0], provider)
        if best is None and soonest is not None:
            self._wake_in(soonest)
        return best

    def _wake_in(self, delay: float) -> None:
        loop = asyncio.get_running_loop()
        when = loop.time() + delay
        if self._wakeup is not None:
            if self._wakeup.when() <= when:
                return
            self._wakeup.cancel()
        self._wakeup = loop.call_at(when, self._on_wakeup)

    def _on_wakeup(self) -> None:
        self._wakeup = None
        self._wake.set()

    def _admit(self, node: Node) -> bool:
        """Whether the budget allows the step; else park it or leave it pending."""
        assert node.prepared is not None and node.context is not None
        budget = node.context.budget
        estimate = node.prepared.estimate.amount
        if budget is None or estimate <= 0:
            return True
        index = self.dispatcher.index
        key = node.prepared.request_sha256
        if (node.context.use_cache and key in index.succeeded) or key in index.open_jobs:
            return True  # a cache hit or a resumed job costs nothing new
        spent = self.dispatcher.spent
        if spent + self.reserved + estimate <= budget + 1e-9:
            return True
        if self.reserved > 0:
            self._parked.append(node)  # calls in flight may cost less than reserved
        else:
            self.budget_stop(
                node,
                f"{node.step.modality} via {node.provider} would cost about {estimate:.4f}; "
                f"spent {spent:.4f} of budget {budget:.4f}",
            )
        return False

    def budget_stop(self, node: Node, reason: str) -> None:
        """Report ``node``'s step as not started because of the budget."""
        self.report.budget_stops.append(f"{node.step.step_id}: {reason}")

    def started(self, node: Node, now: float) -> None:
        """The step's call starts: it takes a slot of its provider and reserves its estimate."""
        node.calling = True
        self.gates.started(node.provider, now)
        if node.context is not None and node.context.budget is not None:
            node.reserved = node.prepared.estimate.amount if node.prepared else 0.0
            self.reserved += node.reserved

    def call_ended(self, node: Node) -> bool:
        """The step's call ended: its provider slot is free. False if it was already."""
        if not node.calling:
            return False
        node.calling = False
        self.gates.finished(node.provider)
        return True

    def release(self, node: Node) -> None:
        """The step is done: its reserved estimate is free, so parked steps may fit now."""
        if not node.reserved:
            return
        self.reserved = max(0.0, self.reserved - node.reserved)
        node.reserved = 0.0
        if self._parked:
            parked, self._parked = self._parked, []
            for other in parked:
                self.queue(other)

    def close(self) -> None:
        """The run is over: no more wake-ups; steps still parked are reported."""
        if self._wakeup is not None:
            self._wakeup.cancel()
            self._wakeup = None
        for node in self._parked:
            self.budget_stop(node, "the budget is spent")
        self._parked = []
