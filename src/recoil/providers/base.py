"""The provider protocol: what an adapter implements, and the values it trades.

An adapter turns a typed request into the vendor's calls and the vendor's
answers into typed results; it never writes receipts, stores files, retries or
sleeps between polls: the dispatcher does all of that once for every provider.

- ``submit(request, key)`` sends the job and returns a :class:`Job` as soon as
  the vendor accepted it. ``key`` is unique to the dispatch: a vendor that
  takes an idempotency key or a client-chosen job id gets it. A synchronous
  provider (previz, fake) finishes the work inside ``submit`` and returns the
  job with ``result`` already set.
- ``check(job)`` asks once how the job is doing and returns a :class:`JobState`;
  when it is done, the state carries the outputs as bytes (downloaded at once:
  vendor URLs expire).
- ``cancel(job)`` asks the vendor to stop the job.
- ``remote`` says whether a submitted job lives on elsewhere (and may be
  billed) when this process dies. For a remote provider the dispatcher records
  a ``sending`` record before each submit; when a crash left one unanswered,
  the next run calls ``find(request, key, sent_us)`` to look the job up rather
  than pay for it twice.

``Job.handle`` holds whatever JSON-safe facts the adapter needs to check or
cancel the job from another process after a crash (URLs, server address); the
dispatcher records it in a ``submitted`` record before waiting.

An adapter whose output depends on more than the request, its model name and
its version (a ComfyUI workflow file, a model binding) also implements
:class:`IdentifiesRequests`: ``identity_for(request)`` is part of the cache key
and is recorded in the receipt's provenance (``provider_identity``); one whose
identity needs something fetched first (a hosted model's published schema)
implements :class:`LearnsIdentity` too, awaited before the key is made.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable

from recoil.errors import ProviderError
from recoil.model.cost import Cost
from recoil.model.provider_config import ProviderConfig
from recoil.model.requests import Request


class JobStatus(StrEnum):
    """Where a provider job stands."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def done(self) -> bool:
        """True once the job will not change again."""
        return self in (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED)


@dataclass(frozen=True, slots=True, kw_only=True)
class Output:
    """One file a finished job produced, as bytes."""

    name: str
    """The output's role: ``image``, ``video``, ``audio`` (``image_1`` for extras)."""
    data: bytes
    mime: str


@dataclass(frozen=True, slots=True, kw_only=True)
class JobState:
    """One answer to ``check``."""

    status: JobStatus
    outputs: tuple[Output, ...] = ()
    cost: Cost | None = None
    error: ProviderError | None = None
    progress: float | None = None
    """0..1 when the provider reports it."""
    raw_status: str | None = None
    """The vendor's own status word or HTTP code."""
    model: str | None = None
    """The model (and version) that actually ran, when the vendor says."""
    eval_scores: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class Job:
    """A job the provider accepted."""

    job_id: str
    handle: Mapping[str, Any] = field(default_factory=dict)
    """JSON-safe facts needed to check or cancel the job after a restart."""
    result: JobState | None = None
    """Set when the provider finished the work inside ``submit``."""


@runtime_checkable
class Provider(Protocol):
    """A generation provider adapter (see the module docstring)."""

    @property
    def name(self) -> str:
        """The provider's registry name (``previz``, ``comfyui``, ``fal``...)."""
        ...

    @property
    def version(self) -> str:
        """The adapter's version; part of the cache key."""
        ...

    @property
    def poll_interval_s(self) -> float:
        """How long the dispatcher waits between ``check`` calls at first."""
        ...

    @property
    def remote(self) -> bool:
        """Whether a submitted job outlives this process (see the module docstring)."""
        ...

    def model_for(self, request: Request) -> str:
        """The model this request runs on (the request's, else the default)."""
        ...

    def validate(self, request: Request) -> None:
        """Reject provider-specific problems with a PayloadError before any call."""
        ...

    def estimate_cost(self, request: Request) -> Cost:
        """The expected cost of the request, for budgets and dry runs."""
        ...

    async def preflight(self) -> list[str]:
        """Problems that would stop a run (unreachable server, missing node)."""
        ...

    async def submit(self, request: Request, key: str) -> Job:
        """Send the request; return once the vendor accepted it.

        ``key`` is unique to this dispatch; send it as the idempotency key or
        job id where the vendor takes one.
        """
        ...

    async def find(self, request: Request, key: str, sent_us: int) -> Job | None:
        """The job a submit of ``request`` with ``key``, cut off by a crash, created.

        ``sent_us`` is when it was about to be sent. Return the job if the vendor
        has it, ``None`` if it surely never arrived (it is then sent), or raise
        ``ProviderError(unknown_outcome=True)`` when there is no way to tell.
        Only called for a ``remote`` provider.
        """
        ...

    async def check(self, job: Job) -> JobState:
        """Ask once how the job stands."""
        ...

    async def cancel(self, job: Job) -> None:
        """Ask the vendor to stop the job."""
        ...

    async def aclose(self) -> None:
        """Release connections and workers."""
        ...


ProviderFactory = Callable[[ProviderConfig], Provider]
"""Builds a provider instance from its configuration."""


@runtime_checkable
class IdentifiesRequests(Protocol):
    """A provider that says what, besides the request, decides its output (optional)."""

    def identity_for(self, request: Request) -> Mapping[str, Any]:
        """What decides the output of ``request`` beyond the request itself.

        JSON-safe, string keys (a template's content hash, the filled graph's
        hash, a binding): the same request with another identity is another
        request for the cache. Called after :meth:`Provider.validate`.
        """
        ...


@runtime_checkable
class LearnsIdentity(Protocol):
    """A provider whose identity of a request needs something fetched first (optional)."""

    async def learn_identity(self, request: Request) -> bool:
        """Fetch what :meth:`identity_for` needs and does not have yet (a hosted model's
        schema); ``True`` if the identity of ``request`` may have changed.

        The dispatcher awaits it before the cache key is made, so the first call of a
        model is keyed as every later one is. A failure to fetch is left to the call.
        """
        ...


def identity_of(provider: object, request: Request) -> Mapping[str, Any]:
    """``provider.identity_for(request)``, or nothing for a provider without one."""
    # Not isinstance(): a runtime protocol check costs microseconds on every dispatch.
    identify = getattr(provider, "identity_for", None)
    if identify is None:
        return {}
    identity: Mapping[str, Any] = identify(request)
    return identity


async def learn_identity(provider: object, request: Request) -> bool:
    """``provider.learn_identity(request)``, or ``False`` for a provider without one."""
    learn = getattr(provider, "learn_identity", None)
    if learn is None:
        return False
    changed: bool = await learn(request)
    return changed


@runtime_checkable
class ChecksRequests(Protocol):
    """A provider that can check a run's requests before any is sent (optional).

    The run's preflight calls it with every pending step's request (an input an
    earlier step will make stands as a placeholder path), so a request the
    model cannot take is one line before the first paid call. A hosted model's
    adapter checks each against the model's published input schema.
    """

    async def check_requests(self, requests: Sequence[tuple[str, Request]]) -> list[str]:
        """One line per problem; ``requests`` are (label for messages, request) pairs."""
        ...
