"""Deadlines for provider calls: one timer for every call in flight.

``asyncio.timeout`` arms and cancels a timer per call; with thousands of
short calls that heap work is a visible share of the dispatch path. Here
entering a deadline is a dict insert and leaving it a dict delete; the one
timer is re-armed only when it fires or a deadline earlier than its own
arrives. A call past its deadline has its task cancelled, and
:meth:`Deadlines.leave` tells that cancellation apart from any other, the
way ``asyncio.timeout`` does (``Task.uncancel``).
"""

from __future__ import annotations

import asyncio


class Deadlines:
    """The deadlines of the calls in flight on one event loop."""

    def __init__(self) -> None:
        self._due: dict[asyncio.Task[object], float] = {}
        self._expired: set[asyncio.Task[object]] = set()
        self._timer: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def enter(self, task: asyncio.Task[object], seconds: float) -> int:
        """Cancel ``task`` if it has not left within ``seconds``; returns what :meth:`leave` needs.

        The returned number is the task's pending cancellations now, so that
        leaving tells a cancellation from outside from the deadline's own.
        """
        loop = task.get_loop()
        due = loop.time() + seconds
        self._due[task] = due
        timer = self._timer
        if timer is None or timer.when() > due or self._loop is not loop:
            if timer is not None:
                timer.cancel()
            self._timer = loop.call_at(due, self._fire, loop)
            self._loop = loop
        return task.cancelling()

    def leave(
        self, task: asyncio.Task[object], cancelling: int, error: BaseException | None
    ) -> bool:
        """Forget ``task``'s deadline; True when ``error`` is the deadline's cancellation.

        Call it as the call ends, with the exception it is ending with (if any).
        When True, the caller should raise ``TimeoutError`` in place of the
        ``CancelledError``; a cancellation from outside stays a cancellation.
        """
        self._due.pop(task, None)
        if task not in self._expired:
            return False
        self._expired.discard(task)
        return task.uncancel() <= cancelling and isinstance(error, asyncio.CancelledError)

    def close(self) -> None:
        """Stop the timer (the calls in flight keep running, without deadlines)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._due.clear()
        self._expired.clear()

    def _fire(self, loop: asyncio.AbstractEventLoop) -> None:
        self._timer = None
        now = loop.time()
        soonest: float | None = None
        for task, due in list(self._due.items()):
            if due <= now:
                del self._due[task]
                self._expired.add(task)
                task.cancel()
            elif soonest is None or due < soonest:
                soonest = due
        if soonest is not None:
            self._timer = loop.call_at(soonest, self._fire, loop)
