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

Modules: :mod:`~recoil.dispatch.dispatcher` (the Dispatcher and the entry
points), :mod:`~recoil.dispatch.prepare` (payload validation, input files),
:mod:`~recoil.dispatch.call` (the provider call: lookup, submit, polling,
timeout), :mod:`~recoil.dispatch.deadlines` (one timer for the calls in
flight), :mod:`~recoil.dispatch.storage` (outputs and sidecars),
:mod:`~recoil.dispatch.receipts` (the one receipt builder).
"""

from recoil.dispatch.dispatcher import Dispatcher, ReceiptListener, dispatch, dispatch_async
from recoil.dispatch.prepare import Prepared

__all__ = ["Dispatcher", "Prepared", "ReceiptListener", "dispatch", "dispatch_async"]
