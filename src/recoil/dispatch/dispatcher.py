"""The Dispatcher: one receipt log and artifact store, and every dispatch into them.

A dispatch reads top to bottom in :meth:`Dispatcher._outcome`: a cache hit
ends it; otherwise a crashed run's job is resumed (or the budget checked), the
provider called, its outputs stored, and the receipt built. Its receipt is
appended by :meth:`Dispatcher.send` (or queued by :meth:`Dispatcher.send_then`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from recoil.dispatch.call import Call, Journal, call_provider
from recoil.dispatch.deadlines import Deadlines
from recoil.dispatch.prepare import (
    PLANNED_INPUT,
    Prepared,
    Route,
    completed,
    hash_inputs,
    planned,
    prepared,
)
from recoil.dispatch.receipts import build_receipt, cache_hit, failed, succeeded
from recoil.dispatch.storage import store_outputs, write_sidecars
from recoil.errors import (
    BudgetExceededError,
    ConfigError,
    DispatchError,
    PayloadError,
    ProviderError,
    StateError,
    StoreError,
)
from recoil.model.context import DispatchContext
from recoil.model.cost import Cost
from recoil.model.ids import new_id, now_us
from recoil.model.provider_config import ProviderConfig
from recoil.model.receipt import Artifact, Receipt
from recoil.providers.base import Job, JobState, Provider, learn_identity
from recoil.providers.registry import Registry, default_registry
from recoil.records.artifacts import ArtifactStore
from recoil.records.cache import LogIndex
from recoil.records.codec import encode
from recoil.records.log import ReceiptLog, read_records
from recoil.records.redact import redact_text

ReceiptListener = Callable[[Receipt], None]


class Dispatcher:
    """Dispatches into one receipt log and artifact store.

    Open it once per run (``async with Dispatcher(context) as d``); every
    context passed to :meth:`dispatch` must write to the same log.
    """

    def __init__(self, context: DispatchContext, *, registry: Registry | None = None) -> None:
        self.context = context
        self.registry = registry if registry is not None else default_registry()
        self.log = ReceiptLog(context.receipts_file)
        self.artifacts = ArtifactStore(context.artifacts_dir.absolute())
        self.artifacts.sweep()  # temp files of a run that was killed mid-write
        self.index = LogIndex.build(read_records(context.receipts_file))
        self.spent = 0.0
        self.listeners: list[ReceiptListener] = []
        self._providers: dict[str, Provider] = {}
        self._routes: dict[tuple[str, str], Route] = {}
        """(provider, modality) -> the route, once the registry has allowed the pair."""
        self._journal = Journal(self.log, self.index)
        self._deadlines = Deadlines()

    async def __aenter__(self) -> Dispatcher:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close providers and the receipt log (once every queued receipt is on disk)."""
        await self.log.flushed()
        self._deadlines.close()
        providers, self._providers = self._providers, {}
        self._routes.clear()
        for provider in providers.values():
            await provider.aclose()
        self.log.close()

    def provider(self, name: str, modality: str, context: DispatchContext) -> Provider:
        """The open instance of provider ``name`` (built on first use)."""
        factory = self.registry.provider(name, modality)
        instance = self._providers.get(name)
        if instance is None:
            config = context.provider_config.get(name)
            instance = factory(config if config is not None else ProviderConfig())
            _check_protocol(name, instance)
            self._providers[name] = instance
        return instance

    def prepare(
        self,
        modality: str,
        payload: Mapping[str, Any],
        context: DispatchContext,
        *,
        provenance: Mapping[str, Any] | None = None,
    ) -> Prepared:
        """Validate a dispatch without calling the provider.

        ``provenance`` (JSON-safe, string keys) is what its receipts record; by
        default the context's. Raises ``UnknownModalityError``, ``PayloadError``
        or ``UnknownProviderError``; nothing is written.
        """
        runner = self.registry.runner(modality)
        payload = completed(payload, runner.request_type.input_fields, context)
        try:
            request = runner.build(payload)
            route = self._route(context.provider_for(modality, request.provider), modality, context)
            route.provider.validate(request)
            inputs = hash_inputs(modality, request) if request.input_fields else {}
        except PayloadError as exc:
            # A reason quotes the bad value, which may be a key pasted into the wrong field.
            raise PayloadError(exc.modality, exc.field, redact_text(exc.reason)) from None
        return prepared(
            route,
            request,
            inputs,
            provenance=context.provenance if provenance is None else provenance,
            project=self.log.path.parent,
        )

    async def prepare_known(
        self, modality: str, payload: Mapping[str, Any], context: DispatchContext
    ) -> Prepared:
        """:meth:`prepare`, once the provider has what its identity of the request needs
        (a hosted model's schema, fetched once): a model's first call is keyed as every
        later one. A run's preflight fetches those for every step, so its steps use
        :meth:`prepare`."""
        prepared = self.prepare(modality, payload, context)
        if await learn_identity(prepared.provider, prepared.request):
            prepared = self.prepare(modality, payload, context)
        return prepared

    def plan(self, modality: str, payload: Mapping[str, Any], context: DispatchContext) -> Cost:
        """Check a step of a plan before the steps it depends on have run; its estimated cost.

        As :meth:`prepare` checks a dispatch, except that an input field given
        by an earlier step's output holds a placeholder (see
        :func:`~recoil.dispatch.prepare.planned`), so a provider refuses now
        what it would refuse once that file exists; input files already
        named must exist (they are not hashed). Raises what :meth:`prepare`
        raises; nothing is written.
        """
        runner = self.registry.runner(modality)
        fields = runner.request_type.input_fields
        payload = planned(completed(payload, fields, context), fields)
        try:
            request = runner.build(payload)
            route = self._route(context.provider_for(modality, request.provider), modality, context)
            route.provider.validate(request)
            for label, path in request.inputs().items():
                if not path.startswith(PLANNED_INPUT) and not Path(path).is_file():
                    raise PayloadError(modality, label, f"input file not found: {path}")
        except PayloadError as exc:
            raise PayloadError(exc.modality, exc.field, redact_text(exc.reason)) from None
        return route.provider.estimate_cost(request)

    def _route(self, provider_name: str, modality: str, context: DispatchContext) -> Route:
        route = self._routes.get((provider_name, modality))
        if route is None:
            provider = self.provider(provider_name, modality, context)
            route = self._routes[provider_name, modality] = Route(
                modality=modality, provider_name=provider_name, provider=provider
            )
        return route

    def cached(self, prepared: Prepared) -> Receipt | None:
        """The succeeded receipt of an identical request whose artifacts are intact."""
        hit = self.index.succeeded.get(prepared.request_sha256)
        if hit is None:
            return None
        for artifact in hit.artifacts.values():
            if not self.artifacts.intact(artifact.sha256, Path(artifact.path).suffix[1:]):
                return None
        return hit

    async def dispatch(
        self,
        modality: str,
        payload: Mapping[str, Any],
        context: DispatchContext | None = None,
        *,
        attempt: int = 1,
    ) -> Receipt:
        """Run one dispatch and return its receipt (SPEC section 2).

        Raises ``DispatchError`` (carrying the failed receipt, already on disk)
        when the provider fails, ``BudgetExceededError`` (nothing written) when
        the estimate would take the spend over the context's budget.
        """
        ctx = context if context is not None else self.context
        if ctx.receipts_file != self.log.path:
            raise StateError(
                f"this dispatcher writes {self.log.path}; open another for {ctx.receipts_file}"
            )
        return await self.send(
            await self.prepare_known(modality, payload, ctx), ctx, attempt=attempt
        )

    async def send(
        self,
        prepared: Prepared,
        context: DispatchContext,
        *,
        attempt: int = 1,
        on_call_done: Callable[[], bool] | None = None,
    ) -> Receipt:
        """Run a prepared dispatch (see :meth:`dispatch`).

        ``on_call_done`` is called once the provider has answered with success,
        before outputs are stored and the receipt written: the scheduler gives
        the provider's slot to the next call then, and returns True if it
        started one. It is not called on failure.
        """
        receipt = await self._outcome(prepared, context, attempt, on_call_done)
        await self.log.append_async(encode(receipt))
        self._logged(receipt)
        return receipt

    async def send_then(
        self,
        prepared: Prepared,
        context: DispatchContext,
        *,
        attempt: int,
        on_call_done: Callable[[], bool] | None,
        on_durable: Callable[[Receipt, StoreError | None], None],
    ) -> Receipt:
        """Like :meth:`send`, but return once the receipt is queued for the log.

        ``on_durable(receipt, None)`` is called on the event loop once the
        receipt is on disk (``on_durable(receipt, error)`` if the write failed);
        until then the receipt is not in :attr:`index`. A failed dispatch still
        raises ``DispatchError`` with its receipt already on disk. This is the
        scheduler's path: thousands of steps learn of their receipts from one
        group commit without a future and a task wakeup each.
        """
        receipt = await self._outcome(prepared, context, attempt, on_call_done)

        def durable(error: StoreError | None) -> None:
            if error is None:
                self._logged(receipt)
            on_durable(receipt, error)

        self.log.append_then(encode(receipt), durable)
        return receipt

    async def _outcome(
        self,
        prepared: Prepared,
        context: DispatchContext,
        attempt: int,
        on_call_done: Callable[[], bool] | None,
    ) -> Receipt:
        """The succeeded (or cache hit) receipt of a dispatch, not yet logged.

        A failure is logged here, durably, and raised as ``DispatchError``.
        """
        call = Call(
            prepared=prepared,
            context=context,
            receipt_id=new_id("r"),
            attempt=attempt,
            started_us=now_us(),
            on_call_done=on_call_done,
        )
        hit = await self._cache_hit(call)
        if hit is not None:
            return hit
        self._resume_or_budget(call)
        try:
            state = await self._call_provider(call)
            await self._hand_over_slot(call)
            artifacts = await self._stored(call, state)
        except ProviderError as exc:
            raise await self._failure(call, exc) from None
        receipt = build_receipt(call, succeeded(call, state, artifacts))
        if artifacts:
            await asyncio.to_thread(write_sidecars, self.artifacts, receipt)
        return receipt

    async def _cache_hit(self, call: Call) -> Receipt | None:
        """The receipt reusing an identical dispatch's, if the context allows and one is intact."""
        if not call.context.use_cache or call.prepared.request_sha256 not in self.index.succeeded:
            return None
        # Checking a hit re-hashes its files: off the event loop.
        hit = await asyncio.to_thread(self.cached, call.prepared)
        if hit is None:
            return None
        return build_receipt(call, cache_hit(hit, self.index.scores(hit)))

    def _resume_or_budget(self, call: Call) -> None:
        """Take over a crashed run's job of this request, or check a new call fits the budget."""
        key = call.prepared.request_sha256
        open_job = self.index.open_jobs.get(key)
        if open_job is not None:
            # A crashed run's job: poll it again instead of paying for it twice.
            call.receipt_id = open_job.receipt_id
            call.job = Job(job_id=open_job.job_id, handle=open_job.handle)
            return
        call.unsure = self.index.unsure.get(key)
        if call.context.budget is not None:
            self._check_budget(call.prepared, call.context.budget)

    def _check_budget(self, prepared: Prepared, budget: float) -> None:
        if self.spent + prepared.estimate.amount > budget + 1e-9:
            raise BudgetExceededError(
                f"{prepared.modality} via {prepared.provider_name} would cost about "
                f"{prepared.estimate.amount:.4f} {prepared.estimate.currency}; "
                f"spent {self.spent:.4f} of budget {budget:.4f}"
            )

    async def _call_provider(self, call: Call) -> JobState:
        return await call_provider(call, self._journal, self._deadlines)

    @staticmethod
    async def _hand_over_slot(call: Call) -> None:
        """Tell the scheduler the provider answered; let a call it started reach its provider."""
        if call.on_call_done is not None and call.on_call_done():
            # A call started in this slot: let it reach its provider before this
            # one's outputs and receipt take the loop (keeps slots busy).
            await asyncio.sleep(0)

    async def _stored(self, call: Call, state: JobState) -> dict[str, Artifact]:
        """The artifacts of the provider's outputs, stored; no outputs only if none are needed."""
        prepared = call.prepared
        if state.outputs:
            # Probing, embedding, signing, hashing and writing files is heavy: off the loop.
            return await asyncio.to_thread(
                store_outputs,
                self.artifacts,
                self.log.path.parent,
                prepared,
                state.outputs,
                context=call.context,
            )
        if prepared.request.outputs_required:
            raise ProviderError(
                "the provider reported success but returned no output",
                retryable=False,
                error_type="invalid_output",
            )
        return {}

    async def _failure(self, call: Call, exc: ProviderError) -> DispatchError:
        """The error of a failed call, its receipt on disk."""
        receipt = build_receipt(call, failed(call, exc))
        await self.log.append_async(encode(receipt))
        self._logged(receipt)
        return DispatchError(receipt)

    def _logged(self, receipt: Receipt) -> None:
        """Account for a receipt now on disk: index, spend, listeners."""
        self.index.add(receipt)
        self.spent += receipt.cost.amount
        for listener in self.listeners:
            listener(receipt)


_PROTOCOL = tuple(name for name in vars(Provider) if not name.startswith("_"))
"""The members the provider protocol declares."""


def _check_protocol(name: str, provider: object) -> None:
    """A provider that lacks part of the protocol is a configuration error, before any call."""
    missing = [member for member in _PROTOCOL if not hasattr(provider, member)]
    if missing:
        raise ConfigError(
            f"provider {name!r} ({type(provider).__module__}.{type(provider).__qualname__}) "
            f"does not implement the provider protocol: it lacks {', '.join(missing)} "
            "(see recoil.providers.base.Provider)"
        )


async def dispatch_async(
    modality: str,
    payload: Mapping[str, Any],
    *,
    context: DispatchContext,
    registry: Registry | None = None,
) -> Receipt:
    """Run one generation and return its receipt (the async entry point)."""
    async with Dispatcher(context, registry=registry) as dispatcher:
        return await dispatcher.dispatch(modality, payload, context)


def dispatch(
    modality: str,
    payload: Mapping[str, Any],
    *,
    context: DispatchContext,
    registry: Registry | None = None,
) -> Receipt:
    """Run one generation and return its receipt (a thin sync wrapper)."""
    return asyncio.run(dispatch_async(modality, payload, context=context, registry=registry))
