"""The synchronous entry points: one run on a fresh event loop and dispatcher.

``Workflow.run`` and ``Take.execute`` are thin wrappers over
:func:`run_workflow` and :func:`run_takes`; both go through :func:`run_units`,
the async core, with the caller's hooks as one :class:`Hooks` value.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from recoil.dispatch import Dispatcher
from recoil.execution.policy import Limits, RetryPolicy
from recoil.execution.scheduler import Scheduler
from recoil.execution.units import RunReport, Unit
from recoil.model.context import DispatchContext
from recoil.model.hooks import Hooks
from recoil.model.take import Take, TakeStatus
from recoil.model.workflow import Workflow
from recoil.providers.registry import Registry

__all__ = ["run_takes", "run_units", "run_workflow"]


async def run_units(
    units: Sequence[Unit],
    context: DispatchContext,
    *,
    hooks: Hooks | None = None,
    limits: Limits | None = None,
    retry: RetryPolicy | None = None,
    registry: Registry | None = None,
) -> RunReport:
    """Run units under one dispatcher opened on ``context``."""
    async with Dispatcher(context, registry=registry) as dispatcher:
        scheduler = Scheduler(dispatcher, limits=limits, retry=retry, hooks=hooks)
        return await scheduler.run(units)


def run_workflow(
    workflow: Workflow,
    context: DispatchContext,
    *,
    hooks: Hooks | None = None,
    concurrency: int = 4,
    registry: Registry | None = None,
) -> RunReport:
    """Run one workflow to completion (the sync entry behind ``Workflow.run``)."""
    unit = Unit(workflow=workflow, context=context)
    limits = Limits(concurrency=concurrency)
    return asyncio.run(run_units([unit], context, hooks=hooks, limits=limits, registry=registry))


def run_takes(
    takes: Sequence[Take],
    context: DispatchContext,
    *,
    hooks: Hooks | None = None,
    concurrency: int = 4,
    registry: Registry | None = None,
) -> RunReport:
    """Run takes together (the sync entry behind ``Take.execute``)."""
    for take in takes:
        if take.status is not TakeStatus.PENDING:
            take.start()  # raises: a take runs once
    units = [Unit(workflow=t.workflow, context=context, take=t) for t in takes]
    limits = Limits(concurrency=concurrency)
    return asyncio.run(run_units(units, context, hooks=hooks, limits=limits, registry=registry))
