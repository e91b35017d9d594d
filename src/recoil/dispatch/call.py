"""The provider call: look up, submit, poll, under a deadline; and its in-flight records.

A remote submit is preceded by a durable ``sending`` record and a job that is
not done at once by a durable ``submitted`` record (:class:`Journal`), so a
crashed run's call is looked up or polled again, never paid for twice. Every
way a call can fail ends as a ``ProviderError``: a timeout, a connection error,
a job that did not succeed, even a bug in the adapter.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import NoReturn

from recoil.dispatch.deadlines import Deadlines
from recoil.dispatch.prepare import Prepared
from recoil.errors import ProviderError
from recoil.model.context import DispatchContext
from recoil.model.ids import now_us
from recoil.model.receipt import Sending, Submitted
from recoil.providers.base import Job, JobState, JobStatus, Provider
from recoil.records.cache import LogIndex
from recoil.records.codec import encode
from recoil.records.log import ReceiptLog
from recoil.records.redact import redact

MAX_POLL_INTERVAL_S = 5.0


@dataclass(slots=True, kw_only=True)
class Call:
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


class Journal:
    """The ``sending`` and ``submitted`` records of calls in flight: durable, then indexed."""

    def __init__(self, log: ReceiptLog, index: LogIndex) -> None:
        self.log = log
        self.index = index

    async def sending(self, call: Call) -> None:
        """Record that ``call``'s request is about to leave."""
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
        await self.log.append_async(encode(record))
        self.index.add(record)

    async def submitted(self, call: Call, job: Job) -> None:
        """Record the job the provider accepted for ``call``, before waiting for it."""
        prepared = call.prepared
        record = Submitted(
            receipt_id=call.receipt_id,
            modality=prepared.modality,
            provider=prepared.provider_name,
            request_sha256=prepared.request_sha256,
            job_id=job.job_id,
            handle=redact(dict(job.handle)),
            submitted_us=now_us(),
            run_id=call.context.run_id,
        )
        await self.log.append_async(encode(record))
        self.index.add(record)


async def call_provider(call: Call, journal: Journal, deadlines: Deadlines) -> JobState:
    """The provider's final, succeeded state for ``call``, within the context's timeout."""
    task = asyncio.current_task()
    assert task is not None
    cancelling = deadlines.enter(task, call.context.timeout_s)
    try:
        state = await exchange(call, journal)
    except BaseException as exc:
        if deadlines.leave(task, cancelling, exc) or isinstance(exc, TimeoutError):
            raise await timed_out(call) from None
        translated(call, exc)
    deadlines.leave(task, cancelling, None)
    return checked(call, state)


async def exchange(call: Call, journal: Journal) -> JobState:
    """Look up a crashed run's submit, submit if there is no job, then wait for it to end."""
    provider = call.prepared.provider
    if call.unsure is not None:
        await find(call, journal)
    if call.job is None:
        if provider.remote:
            await journal.sending(call)
        call.job = await provider.submit(call.prepared.request, call.receipt_id)
        if call.job.result is None:
            await journal.submitted(call, call.job)
    return call.job.result or await wait(provider, call.job)


async def find(call: Call, journal: Journal) -> None:
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
            await journal.submitted(call, job)


async def wait(provider: Provider, job: Job) -> JobState:
    """Poll ``job`` with backoff until it is done."""
    if job.result is not None:
        return job.result
    interval = max(provider.poll_interval_s, 0.001)
    while True:
        delay = interval
        try:
            state = await provider.check(job)
        except ProviderError as exc:
            # A failed status request says nothing about the job itself, which the
            # vendor still runs (and bills): keep polling rather than send it again.
            if not exc.retryable:
                raise
            delay = max(interval, exc.retry_after_s or 0.0)
        else:
            if state.status.done:
                return state
        await asyncio.sleep(delay)
        interval = min(interval * 1.5, MAX_POLL_INTERVAL_S)


async def timed_out(call: Call) -> ProviderError:
    """The error of a call past its deadline, once its job (if any) was asked to stop."""
    if call.job is not None and call.job.result is None:
        # The timeout is what we report; a failed cancel changes nothing for the caller.
        with contextlib.suppress(ProviderError, OSError):
            await call.prepared.provider.cancel(call.job)
    return ProviderError(
        f"no answer within {call.context.timeout_s:g} s", retryable=True, error_type="timeout"
    )


def translated(call: Call, exc: BaseException) -> NoReturn:
    """Raise what ``call`` failed with as a ``ProviderError`` (a cancellation stays one)."""
    if isinstance(exc, ProviderError) or not isinstance(exc, Exception):
        raise exc  # a cancellation from outside, or a provider failure as it is
    if isinstance(exc, ConnectionError | OSError):
        raise ProviderError(str(exc), retryable=True, error_type=type(exc).__name__) from None
    # An adapter bug still ends in a failed receipt: every dispatch has one.
    raise ProviderError(
        f"the {call.prepared.provider_name} adapter failed: {type(exc).__name__}: {exc}",
        retryable=False,
        error_type="adapter_error",
    ) from exc


def checked(call: Call, state: JobState) -> JobState:
    """``state`` if the job succeeded; otherwise raise its error (with any cost it ran up)."""
    if state.status is not JobStatus.SUCCEEDED:
        assert call.job is not None
        error = state.error or ProviderError(
            f"job {call.job.job_id} ended {state.status.value}",
            retryable=False,
            provider_status=state.raw_status,
        )
        if state.cost is not None and not error.cost:
            error.cost = state.cost.amount  # money spent on a failed job is still recorded
        raise error
    return state
