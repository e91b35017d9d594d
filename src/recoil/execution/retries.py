"""Retries: a step that failed transiently is queued again once its delay has passed.

The delay is :meth:`RetryPolicy.delay`, never shorter than the provider's
``Retry-After``, which also pauses that provider: it asked every caller to
wait, not just this request. Each attempt is its own receipt; a step out of
attempts, or failed for good, fails (the scheduler cascades it).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from recoil.errors import DispatchError
from recoil.execution.graph import Node
from recoil.execution.policy import ProviderGates, RetryPolicy

__all__ = ["Retries"]


class Retries:
    """The retries of one run that wait out their delay."""

    def __init__(
        self, policy: RetryPolicy, gates: ProviderGates, requeue: Callable[[Node], None]
    ) -> None:
        self.policy = policy
        self._gates = gates
        self._requeue = requeue
        self._timers: set[asyncio.TimerHandle] = set()

    @property
    def waiting(self) -> bool:
        """Whether a retry is waiting out its delay."""
        return bool(self._timers)

    def allowed(self, node: Node, exc: DispatchError) -> bool:
        """Whether the failure is transient and the step has attempts left."""
        return exc.retryable and node.attempts < self.policy.max_attempts

    def schedule(self, node: Node, exc: DispatchError) -> None:
        """Queue the step again after its delay; pause its provider for a ``Retry-After``."""
        loop = asyncio.get_running_loop()
        error = exc.receipt.error
        retry_after = error.retry_after_s if error is not None else None
        if retry_after:
            self._gates.pause(node.provider, loop.time() + retry_after)
        handle: asyncio.TimerHandle

        def requeue() -> None:
            self._timers.discard(handle)
            self._requeue(node)

        handle = loop.call_later(self.policy.delay(node.attempts, retry_after), requeue)
        self._timers.add(handle)

    def close(self) -> None:
        """The run is over: retries still waiting are dropped (their steps stay pending)."""
        for handle in self._timers:
            handle.cancel()
        self._timers.clear()
