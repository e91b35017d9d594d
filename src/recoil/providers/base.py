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
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal, Protocol, runtime_checkable

from recoil.errors import ConfigError, ProviderError
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


CostSource = Literal["reported", "estimated", "none"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Cost:
    """Money spent on one call."""

    amount: float = 0.0
    currency: str = "USD"
    source: CostSource = "none"
    detail: str = ""
    """How it was computed, e.g. ``"3.2 s x 0.000725 USD/s"``."""

    def __post_init__(self) -> None:
        if not (math.isfinite(self.amount) and self.amount >= 0):
            raise ValueError(f"cost amount must be a finite number >= 0, got {self.amount}")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict."""
        return {
            "amount": self.amount,
            "currency": self.currency,
            "source": self.source,
            "detail": self.detail,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Cost:
        """Inverse of :meth:`to_dict`."""
        return cls(
            amount=float(data.get("amount", 0.0)),
            currency=str(data.get("currency", "USD")),
            source=data.get("source", "none"),
            detail=str(data.get("detail", "")),
        )


FREE = Cost()


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


@dataclass(frozen=True, slots=True, kw_only=True)
class ProviderConfig:
    """What a provider factory gets: its settings table, prices and secrets.

    ``options`` is the provider's table from ``recoil.toml``; ``prices`` maps a
    model (or ``"*"``) to a unit price; secrets come from the environment or
    the user's credentials file and are never written anywhere.
    """

    options: Mapping[str, Any] = field(default_factory=dict)
    prices: Mapping[str, float] = field(default_factory=dict)
    secrets: Mapping[str, str] = field(default_factory=dict, repr=False)

    def secret(self, name: str) -> str | None:
        """The named secret from the configured secrets or the environment."""
        return self.secrets.get(name) or os.environ.get(name) or None

    def require_secret(self, name: str, provider: str) -> str:
        """The named secret, or a :class:`ConfigError` saying how to set it."""
        value = self.secret(name)
        if not value:
            raise ConfigError(
                f"provider {provider!r} needs {name}: export {name}=... in the environment "
                "or add it to ~/.config/recoil/credentials.toml"
            )
        return value

    def price(self, model: str) -> float | None:
        """The unit price for ``model`` (or the ``"*"`` default), if configured."""
        if model in self.prices:
            return self.prices[model]
        return self.prices.get("*")


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
