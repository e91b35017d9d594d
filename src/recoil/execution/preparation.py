"""Preparing a step whose dependencies succeeded: its context, references and dispatch.

A unit's steps dispatch under one derived context: its take's seed and the
identity keys over the caller's provenance (SPEC section 5). Preparing a step
(validation, the cache key) runs on the event loop, except for a step whose
payload names input files: hashing those runs in a worker thread so a large
video never blocks the loop.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
from collections.abc import Callable, Mapping
from typing import Any

from recoil.dispatch import Dispatcher, Prepared
from recoil.execution.graph import Node
from recoil.execution.refs import resolve_refs
from recoil.execution.units import Unit
from recoil.model.context import DispatchContext

__all__ = ["Preparer"]

Then = Callable[[Node, "asyncio.Future[Prepared]"], None]
"""Called on the loop when a step prepared in a worker thread is prepared (or failed)."""


class Preparer:
    """Prepares the steps of one run, on the loop or, when they hash files, in a thread."""

    def __init__(
        self, dispatcher: Dispatcher, input_fields: dict[str, tuple[str, ...]], then: Then
    ) -> None:
        self.dispatcher = dispatcher
        self._input_fields = input_fields
        """Each modality's input-file fields; the scheduler keeps it from run to run."""
        self._then = then
        self._contexts: dict[int, DispatchContext] = {}
        self.pending: dict[asyncio.Future[Prepared], Node] = {}
        """Steps being prepared in worker threads."""

    def prepare(self, node: Node, unit: Unit) -> bool:
        """Prepare ``node`` (a step of ``unit``); False when that goes on in a thread.

        Sets ``node.prepared`` when it returns True; raises what preparing raised.
        """
        step = node.step
        ctx = node.context = self._unit_context(node.unit, unit)
        provenance = {**ctx.provenance, "workflow_step_id": step.step_id}
        payload = resolve_refs(step.payload, unit.workflow, self.dispatcher.artifacts.locate)
        if self._reads_files(step.modality, payload):
            self._prepare_in_thread(node, payload, provenance)
            return False
        node.prepared = self.dispatcher.prepare(step.modality, payload, ctx, provenance=provenance)
        return True

    def _unit_context(self, u: int, unit: Unit) -> DispatchContext:
        """The context a unit's steps dispatch under: its take's seed, its identity."""
        ctx = self._contexts.get(u)
        if ctx is not None:
            return ctx
        ctx = unit.context
        seed = ctx.seed
        identity = {"workflow_id": unit.workflow.workflow_id}
        if unit.take is not None:
            identity.update(unit.take.identity())
            if unit.take.seed is not None:
                seed = unit.take.seed
        provenance = {**unit.workflow.global_provenance, **ctx.provenance, **identity}
        # replace() validates the derived context again (SPEC section 5); once a unit,
        # and each step adds only its own id.
        ctx = self._contexts[u] = dataclasses.replace(ctx, provenance=provenance, seed=seed)
        return ctx

    def _reads_files(self, modality: str, payload: Mapping[str, Any]) -> bool:
        fields = self._input_fields.get(modality)
        if fields is None:
            runner = self.dispatcher.registry.runner(modality)
            fields = self._input_fields[modality] = runner.request_type.input_fields
        return bool(fields) and any(payload.get(name) for name in fields)

    def _prepare_in_thread(
        self, node: Node, payload: dict[str, Any], provenance: dict[str, Any]
    ) -> None:
        assert node.context is not None
        ctx = node.context
        requested = payload.get("provider")
        if requested is None or isinstance(requested, str):
            # Build the provider here, on the loop, so no two threads ever build it.
            self.dispatcher.provider(
                ctx.provider_for(node.step.modality, requested), node.step.modality, ctx
            )
        loop = asyncio.get_running_loop()
        prepare = functools.partial(
            self.dispatcher.prepare, node.step.modality, payload, ctx, provenance=provenance
        )
        future = loop.run_in_executor(None, prepare)
        self.pending[future] = node
        future.add_done_callback(self._prepared)

    def _prepared(self, future: asyncio.Future[Prepared]) -> None:
        self._then(self.pending.pop(future), future)
