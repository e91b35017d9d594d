"""Draining a run: calls in flight get a grace period to finish, then are cancelled.

A run drains once nothing more can start, whether it ran out of work or was
stopped (``stop()``, Ctrl-C, or a raising hook). The grace period is the run's
``grace_s`` or a shorter one ``stop()`` asked for; past it, the calls still in
flight are cancelled and their steps stay pending. Receipts already queued for
the log are written whatever happens: their steps are done.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from recoil.dispatch import Dispatcher, Prepared
from recoil.execution.graph import Node

__all__ = ["Drain"]


class Drain:
    """Winds one run down: waits for its calls in flight, cancels them past the grace period."""

    def __init__(
        self,
        dispatcher: Dispatcher,
        tasks: Mapping[asyncio.Task[None], Node],
        preparing: Mapping[asyncio.Future[Prepared], Node],
    ) -> None:
        self.dispatcher = dispatcher
        self._tasks = tasks
        self._preparing = preparing
        self.stop_grace: float | None = None
        """The shortest grace period ``stop()`` asked for."""
        self._draining = False
        self._cancel_timer: asyncio.TimerHandle | None = None

    def stop(self, grace_s: float | None) -> None:
        """``stop()`` asked for ``grace_s`` (or for no limit, ``None``)."""
        if grace_s is None:
            return
        self.stop_grace = grace_s if self.stop_grace is None else min(grace_s, self.stop_grace)
        if self._draining:
            self._cancel_after(grace_s)

    async def drain(self, grace_s: float | None) -> None:
        """Let calls in flight finish within the grace period, then cancel them."""
        self._draining = True
        if grace_s is not None:
            self._cancel_after(grace_s)
        if self.stop_grace is not None:
            self._cancel_after(self.stop_grace)
        while self._tasks:
            await asyncio.wait(set(self._tasks))
        await self.dispatcher.log.flushed()
        if self._preparing:
            await asyncio.wait(set(self._preparing))

    def _cancel_after(self, grace_s: float) -> None:
        """Cancel the calls in flight ``grace_s`` from now (or sooner, if already set)."""
        loop = asyncio.get_running_loop()
        when = loop.time() + grace_s
        if self._cancel_timer is not None:
            if self._cancel_timer.when() <= when:
                return
            self._cancel_timer.cancel()
        self._cancel_timer = loop.call_at(when, self._cancel_in_flight)

    def _cancel_in_flight(self) -> None:
        for task in self._tasks:
            task.cancel()

    async def cancel_all(self) -> None:
        """The run itself was cancelled: cancel every call in flight and wait for them."""
        tasks = set(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)
        await self.dispatcher.log.flushed()

    def close(self) -> None:
        """The run is over: no cancel timer outlives it."""
        if self._cancel_timer is not None:
            self._cancel_timer.cancel()
        self._cancel_timer = None
        self._draining = False
