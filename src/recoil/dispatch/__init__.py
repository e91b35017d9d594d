"""The dispatcher: the one place that calls a provider.

It validates the payload, picks the provider, looks up the cache, records a
``sending`` record before a remote submit and a ``submitted`` record before
waiting, polls with backoff under a timeout, checks and stores the outputs
(provenance embedded first, then hashed and stored content-addressed, a
sidecar beside each), and appends exactly one receipt per dispatch, durable
before it returns. Retries belong to the scheduler: one dispatch is one
attempt. A crashed run's work is picked up, never paid for twice: a job with a
``submitted`` record is polled again, and a ``sending`` record with nothing
after it is looked up at the provider (``Provider.find``) before anything is
sent.

:func:`dispatch_async` and :func:`dispatch` are the public entry points for
one-off calls; the scheduler keeps one :class:`Dispatcher` open for a run.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recoil.dispatch.deadlines import Deadlines
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
from recoil.model.cost import FREE, Cost
from recoil.model.ids import new_id, now_us, utc_now_iso
from recoil.model.provider_config import ProviderConfig
from recoil.model.receipt import (
    Artifact,
    Receipt,
    ReceiptError,
    ReceiptStatus,
    Sending,
    Submitted,
)
from recoil.model.requests import Request
from recoil.providers.base import Job, JobState, JobStatus, Output, Provider
from recoil.providers.registry import Registry, default_registry
from recoil.records.artifacts import ArtifactStore, recorded_path, sha256_file
from recoil.records.cache import LogIndex, request_sha256
from recoil.records.log import ReceiptLog, read_records
from recoil.records.provenance import build_sidecar, sidecar_path, write_sidecar
from recoil.records.redact import redact, redact_text, secret_values

_MAX_POLL_INTERVAL_S = 5.0


@dataclass(frozen=True, slots=True, kw_only=True)
class Prepared:
    """A validated dispatch, ready to send: everything but the provider call."""

    modality: str
    request: Request
    provider_name: str
    provider: Provider
    model: str
    inputs: Mapping[str, str]
    request_sha256: str
    estimate: Cost
    request_record: Mapping[str, Any]
    """The request as receipts record it (secrets removed), built once per dispatch."""
    provenance: Mapping[str, Any]
    """The provenance its receipts record (secrets removed)."""
    prompt_sha256: str


@dataclass(slots=True, kw_only=True)
class _Call:
    """One dispatch in flight: what was prepared and what the provider said so far."""

    prepared: Prepared
    context: DispatchContext
    receipt_id: str
    attempt: int
    started_us: int
    job: Job | None = None
    unsure: Sending | None = None
    """A crashed run's submit of this request whose outcome was never recorded."""
    on_call_done: Callable[[], bool] | None = None


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
        self._routes: dict[tuple[str, str], Provider] = {}
        """(provider, modality) -> the instance, once the registry has allowed the pair."""
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
        fields = runner.request_type.input_fields
        if fields and isinstance(payload, Mapping):
            payload = _rooted(payload, fields, context.receipts_file.parent)
        if (type(payload) is dict or isinstance(payload, Mapping)) and payload.get("seed") is None:
            # Seeding the payload, not the request, validates it once instead of twice.
            seed = context.seed if context.seed is not None else random.randrange(2**31)
            payload = {**payload, "seed": seed}
        try:
            request = runner.build(payload)
            provider_name = context.provider_for(modality, request.provider)
            provider = self._routes.get((provider_name, modality))
            if provider is None:
                provider = self._routes[provider_name, modality] = self.provider(
                    provider_name, modality, context
                )
            provider.validate(request)
            inputs = _hash_inputs(modality, request) if request.input_fields else {}
        except PayloadError as exc:
            # A reason quotes the bad value, which may be a key pasted into the wrong field.
            raise PayloadError(exc.modality, exc.field, redact_text(exc.reason)) from None
        model = provider.model_for(request)
        request_dict = request.to_dict()
        secrets = secret_values()
        record = request_dict
        if inputs:
            # Receipts keep input paths inside the project relative to it, like artifacts.
            record = _recorded_inputs(request_dict, fields, self.log.path.parent)
        return Prepared(
            modality=modality,
            request=request,
            provider_name=provider_name,
            provider=provider,
            model=model,
            inputs=inputs,
            request_sha256=request_sha256(
                modality=modality,
                provider=provider_name,
                model=model,
                request=request_dict,
                inputs=inputs,
                seed=request.seed,
                provider_version=provider.version,
            ),
            estimate=provider.estimate_cost(request),
            request_record=redact(record, secrets),
            provenance=redact(context.provenance if provenance is None else provenance, secrets),
            prompt_sha256=_sha256_text(request.prompt),
        )

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
        return await self.send(self.prepare(modality, payload, ctx), ctx, attempt=attempt)

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
        await self.log.append_async(receipt.to_dict())
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

        self.log.append_then(receipt.to_dict(), durable)
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
        ctx = context
        call = _Call(
            prepared=prepared,
            context=ctx,
            receipt_id=new_id("r"),
            attempt=attempt,
            started_us=now_us(),
            on_call_done=on_call_done,
        )
        key = prepared.request_sha256
        if ctx.use_cache and key in self.index.succeeded:
            # Checking a hit re-hashes its files: off the event loop.
            hit = await asyncio.to_thread(self.cached, prepared)
            if hit is not None:
                return self._cached_receipt(call, hit)
        open_job = self.index.open_jobs.get(key)
        if open_job is not None:
            # A crashed run's job: poll it again instead of paying for it twice.
            call.receipt_id = open_job.receipt_id
            call.job = Job(job_id=open_job.job_id, handle=open_job.handle)
        else:
            call.unsure = self.index.unsure.get(key)
            if ctx.budget is not None:
                self._check_budget(prepared, ctx.budget)
        try:
            state = await self._call_provider(call)
            if on_call_done is not None and on_call_done():
                # A call started in this slot: let it reach its provider before this
                # one's outputs and receipt take the loop (keeps slots busy).
                await asyncio.sleep(0)
            if state.outputs:
                # Probing, embedding, hashing and writing files is heavy: off the event loop.
                artifacts = await asyncio.to_thread(
                    self._store_outputs, prepared, state.outputs, ctx
                )
            elif prepared.request.outputs_required:
                raise ProviderError(
                    "the provider reported success but returned no output",
                    retryable=False,
                    error_type="invalid_output",
                )
            else:
                artifacts = {}
        except ProviderError as exc:
            failed = self._failed(call, exc)
            await self.log.append_async(failed.to_dict())
            self._logged(failed)
            raise DispatchError(failed) from None
        assert call.job is not None
        finished = now_us()
        receipt = Receipt(
            receipt_id=call.receipt_id,
            modality=prepared.modality,
            provider=prepared.provider_name,
            model=state.model or prepared.model,
            status=ReceiptStatus.SUCCEEDED,
            request_sha256=key,
            prompt=prepared.request.prompt,
            prompt_sha256=prepared.prompt_sha256,
            seed=prepared.request.seed,
            started_us=call.started_us,
            finished_us=finished if finished > call.started_us else call.started_us,
            request=prepared.request_record,
            inputs=prepared.inputs,
            artifacts=artifacts,
            cost=state.cost if state.cost is not None else prepared.estimate,
            provenance=prepared.provenance,
            eval_scores=dict(state.eval_scores) if state.eval_scores else {},
            job_id=call.job.job_id,
            run_id=ctx.run_id,
            attempt=attempt,
        )
        if artifacts:
            await asyncio.to_thread(self._write_sidecars, receipt)
        return receipt

    def _check_budget(self, prepared: Prepared, budget: float) -> None:
        if self.spent + prepared.estimate.amount > budget + 1e-9:
            raise BudgetExceededError(
                f"{prepared.modality} via {prepared.provider_name} would cost about "
                f"{prepared.estimate.amount:.4f} {prepared.estimate.currency}; "
                f"spent {self.spent:.4f} of budget {budget:.4f}"
            )

    async def _call_provider(self, call: _Call) -> JobState:
        provider = call.prepared.provider
        task = asyncio.current_task()
        assert task is not None
        cancelling = self._deadlines.enter(task, call.context.timeout_s)
        try:
            if call.unsure is not None:
                await self._find(call)
            if call.job is None:
                if provider.remote:
                    await self._record_sending(call)
                call.job = await provider.submit(call.prepared.request, call.receipt_id)
                if call.job.result is None:
                    await self._record_submitted(call, call.job)
            state = call.job.result or await self._wait(provider, call.job)
        except BaseException as exc:
            if self._deadlines.leave(task, cancelling, exc) or isinstance(exc, TimeoutError):
                if call.job is not None and call.job.result is None:
                    await _cancel_quietly(provider, call.job)
                raise ProviderError(
                    f"no answer within {call.context.timeout_s:g} s",
                    retryable=True,
                    error_type="timeout",
                ) from None
            if isinstance(exc, ProviderError) or not isinstance(exc, Exception):
                raise  # a cancellation from outside, or a provider failure as it is
            if isinstance(exc, ConnectionError | OSError):
                raise ProviderError(
                    str(exc), retryable=True, error_type=type(exc).__name__
                ) from None
            # An adapter bug still ends in a failed receipt: every dispatch has one.
            raise ProviderError(
                f"the {call.prepared.provider_name} adapter failed: {type(exc).__name__}: {exc}",
                retryable=False,
                error_type="adapter_error",
            ) from exc
        self._deadlines.leave(task, cancelling, None)
        if state.status is not JobStatus.SUCCEEDED:
            error = state.error or ProviderError(
                f"job {call.job.job_id} ended {state.status.value}",
                retryable=False,
                provider_status=state.raw_status,
            )
            if state.cost is not None and not error.cost:
                error.cost = state.cost.amount  # money spent on a failed job is still recorded
            raise error
        return state

    async def _wait(self, provider: Provider, job: Job) -> JobState:
        if job.result is not None:
            return job.result
        interval = max(provider.poll_interval_s, 0.001)
        while True:
            wait = interval
            try:
                state = await provider.check(job)
            except ProviderError as exc:
                # A failed status request says nothing about the job itself, which the
                # vendor still runs (and bills): keep polling rather than send it again.
                if not exc.retryable:
                    raise
                wait = max(interval, exc.retry_after_s or 0.0)
            else:
                if state.status.done:
                    return state
            await asyncio.sleep(wait)
            interval = min(interval * 1.5, _MAX_POLL_INTERVAL_S)

    def _store_outputs(
        self, prepared: Prepared, outputs: tuple[Output, ...], ctx: DispatchContext
    ) -> dict[str, Artifact]:
        kind = prepared.request.expected_output
        if kind is not None and not any(o.mime.startswith(f"{kind}/") for o in outputs):
            got = ", ".join(o.mime for o in outputs)
            raise ProviderError(
                f"a {prepared.modality} request needs {kind} output; the provider returned {got}",
                retryable=False,
                error_type="invalid_output",
            )
        from recoil.media.embed import embed
        from recoil.media.probe import extension_for, probe

        fields = {
            "recoil:request_sha256": prepared.request_sha256,
            "recoil:seed": str(prepared.request.seed),
            "recoil:model": prepared.model,
        }
        if ctx.embed_prompts:
            fields["recoil:prompt"] = prepared.request.prompt
        stored: dict[str, Artifact] = {}
        for output in outputs:
            facts = probe(output.data, output.mime)  # garbage raises a permanent ProviderError
            data = embed(output.data, output.mime, fields)
            path, digest, _ = self.artifacts.put(data, extension_for(output.mime))
            stored[output.name] = Artifact(
                name=output.name,
                path=recorded_path(path, self.log.path.parent),
                sha256=digest,
                mime=output.mime,
                bytes=len(data),
                raw_sha256=hashlib.sha256(output.data).hexdigest(),
                facts=facts,
            )
        return stored

    def _write_sidecars(self, receipt: Receipt) -> None:
        if not receipt.artifacts:
            return
        created = utc_now_iso()
        for artifact in receipt.artifacts.values():
            path = self.artifacts.locate(artifact)
            # The first dispatch that made these bytes owns the sidecar; identical
            # bytes from a later dispatch are the same file with the same origin.
            if not sidecar_path(path).exists():
                sidecar = build_sidecar(receipt, artifact, created)
                write_sidecar(path, sidecar, scratch=self.artifacts.scratch)

    async def _find(self, call: _Call) -> None:
        """Look up the job of a crashed run's submit; ``call.job`` stays None if it never arrived.

        Once the provider has answered (found, not there, or no way to tell),
        this dispatch takes over the crashed one's receipt id, so its records
        settle the ``sending`` record. A lookup that failed (connection, 5xx)
        keeps a receipt id of its own: the next attempt looks again.
        """
        assert call.unsure is not None
        unsure = call.unsure
        try:
            job = await call.prepared.provider.find(
                call.prepared.request, unsure.receipt_id, unsure.sent_us
            )
        except ProviderError as exc:
            if exc.unknown_outcome:
                call.receipt_id = unsure.receipt_id
            raise
        call.receipt_id = unsure.receipt_id
        if job is not None:
            call.job = job
            if job.result is None:
                await self._record_submitted(call, job)

    async def _record_sending(self, call: _Call) -> None:
        # Durable before the request leaves: a crash after this point is looked up, not re-sent.
        prepared = call.prepared
        record = Sending(
            receipt_id=call.receipt_id,
            modality=prepared.modality,
            provider=prepared.provider_name,
            request_sha256=prepared.request_sha256,
            sent_us=now_us(),
            run_id=call.context.run_id,
        )
        await self.log.append_async(record.to_dict())
        self.index.add(record)

    async def _record_submitted(self, call: _Call, job: Job) -> None:
        prepared, ctx = call.prepared, call.context
        record = Submitted(
            receipt_id=call.receipt_id,
            modality=prepared.modality,
            provider=prepared.provider_name,
            request_sha256=prepared.request_sha256,
            job_id=job.job_id,
            handle=redact(dict(job.handle)),
            submitted_us=now_us(),
            run_id=ctx.run_id,
        )
        await self.log.append_async(record.to_dict())
        self.index.add(record)

    def _cached_receipt(self, call: _Call, hit: Receipt) -> Receipt:
        return dataclasses.replace(
            hit,
            receipt_id=call.receipt_id,
            started_us=call.started_us,
            finished_us=max(now_us(), call.started_us),
            cost=Cost(source="reported", detail=f"cache hit of {hit.receipt_id}"),
            provenance=call.prepared.provenance,
            cached=True,
            eval_scores=self.index.scores(hit),
            job_id=None,
            run_id=call.context.run_id,
            attempt=call.attempt,
            request=call.prepared.request_record,
        )

    def _failed(self, call: _Call, exc: ProviderError) -> Receipt:
        prepared = call.prepared
        error = ReceiptError(
            type=exc.error_type,
            message=redact_text(str(exc)),
            retryable=exc.retryable and not exc.unknown_outcome,
            provider_status=exc.provider_status,
            retry_after_s=exc.retry_after_s,
            unknown_outcome=exc.unknown_outcome,
        )
        return Receipt(
            receipt_id=call.receipt_id,
            modality=prepared.modality,
            provider=prepared.provider_name,
            model=prepared.model,
            status=ReceiptStatus.FAILED,
            request_sha256=prepared.request_sha256,
            prompt=prepared.request.prompt,
            prompt_sha256=prepared.prompt_sha256,
            seed=prepared.request.seed,
            started_us=call.started_us,
            finished_us=max(now_us(), call.started_us),
            request=prepared.request_record,
            inputs=dict(prepared.inputs),
            # Money spent on a failed call is still recorded.
            cost=Cost(amount=exc.cost, source="reported") if exc.cost else FREE,
            provenance=prepared.provenance,
            error=error,
            job_id=call.job.job_id if call.job is not None else None,
            run_id=call.context.run_id,
            attempt=call.attempt,
        )

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


async def _cancel_quietly(provider: Provider, job: Job) -> None:
    # The timeout is what we report; a failed cancel changes nothing for the caller.
    with contextlib.suppress(ProviderError, OSError):
        await provider.cancel(job)


def _sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _rooted(payload: Mapping[str, Any], fields: tuple[str, ...], root: Path) -> Mapping[str, Any]:
    """``payload`` with its relative input-file paths made absolute under ``root``."""

    def relative(value: Any) -> bool:
        return isinstance(value, str) and bool(value) and not Path(value).is_absolute()

    def absolute(value: Any) -> Any:
        return str(root / value) if relative(value) else value

    if not any(
        relative(v) or (isinstance(v, list | tuple) and any(map(relative, v)))
        for v in (payload.get(name) for name in fields)
    ):
        return payload
    rooted = dict(payload)
    for name in fields:
        value = rooted.get(name)
        if isinstance(value, list | tuple):
            rooted[name] = [absolute(v) for v in value]
        elif value is not None:
            rooted[name] = absolute(value)
    return rooted


def _recorded_inputs(
    request: dict[str, Any], fields: tuple[str, ...], base: Path
) -> dict[str, Any]:
    """The request as receipts record it: input paths inside ``base`` made relative."""
    record = dict(request)
    for name in fields:
        value = record.get(name)
        if isinstance(value, str):
            record[name] = recorded_path(Path(value), base)
        elif isinstance(value, list | tuple):
            record[name] = [recorded_path(Path(v), base) for v in value]
    return record


def _hash_inputs(modality: str, request: Request) -> dict[str, str]:
    hashes: dict[str, str] = {}
    for label, value in request.inputs().items():
        path = Path(value)
        if not path.is_file():
            raise PayloadError(modality, label, f"input file not found: {value}")
        hashes[label] = sha256_file(path)
    return hashes


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
