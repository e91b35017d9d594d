"""Deadlines: one timer cancels every call that runs past its deadline, and only those."""

from __future__ import annotations

import asyncio

import pytest

from recoil.dispatch.deadlines import Deadlines


async def call(deadlines: Deadlines, seconds: float, work_s: float) -> str:
    """A call under a deadline: 'done', 'timeout' or 'cancelled' (from outside)."""
    task = asyncio.current_task()
    assert task is not None
    cancelling = deadlines.enter(task, seconds)
    try:
        await asyncio.sleep(work_s)
    except asyncio.CancelledError as exc:
        if deadlines.leave(task, cancelling, exc):
            return "timeout"
        raise
    deadlines.leave(task, cancelling, None)
    return "done"


def test_only_calls_past_their_deadline_are_cancelled() -> None:
    async def scenario() -> list[str]:
        deadlines = Deadlines()
        # Later calls with earlier deadlines must re-arm the one timer.
        specs = [(0.5, 0.01), (0.2, 5.0), (0.05, 5.0), (5.0, 0.1), (0.3, 0.0)]
        loop = asyncio.get_running_loop()
        start = loop.time()
        results = await asyncio.gather(*(call(deadlines, s, w) for s, w in specs))
        assert loop.time() - start < 1.0
        deadlines.close()
        return results

    assert asyncio.run(scenario()) == ["done", "timeout", "timeout", "done", "done"]


def test_an_outside_cancellation_stays_a_cancellation() -> None:
    async def scenario() -> None:
        deadlines = Deadlines()
        task = asyncio.create_task(call(deadlines, 10.0, 10.0))
        await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        deadlines.close()

    asyncio.run(scenario())


def test_many_calls_share_the_timer_and_finish_cleanly() -> None:
    async def scenario() -> None:
        deadlines = Deadlines()
        results = await asyncio.gather(*(call(deadlines, 5.0, 0.0) for _ in range(1000)))
        assert set(results) == {"done"}
        # Calls that left early are forgotten: nothing is left to cancel.
        assert not deadlines._due
        late = await asyncio.gather(*(call(deadlines, 0.02, 1.0) for _ in range(50)))
        assert set(late) == {"timeout"}
        deadlines.close()

    asyncio.run(scenario())


def test_deadlines_follow_the_running_loop() -> None:
    """A dispatcher used under two asyncio.run calls arms its timer on each loop."""
    deadlines = Deadlines()
    assert asyncio.run(call(deadlines, 0.05, 1.0)) == "timeout"
    assert asyncio.run(call(deadlines, 0.05, 1.0)) == "timeout"
