"""Execution policy: concurrency limits, per-provider limits and retries (SPEC section 7)."""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field

from recoil.errors import ValidationError


@dataclass(frozen=True, slots=True, kw_only=True)
class ProviderLimit:
    """Limits of one provider: requests in flight and requests started per minute."""

    in_flight: int | None = None
    rpm: float | None = None

    def __post_init__(self) -> None:
        if self.in_flight is not None and self.in_flight < 1:
            raise ValidationError(f"provider limit in_flight must be >= 1, got {self.in_flight}")
        if self.rpm is not None and self.rpm <= 0:
            raise ValidationError(f"provider limit rpm must be > 0, got {self.rpm}")


@dataclass(frozen=True, slots=True, kw_only=True)
class Limits:
    """A global concurrency limit plus per-provider limits."""

    concurrency: int = 8
    providers: Mapping[str, ProviderLimit] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.concurrency < 1:
            raise ValidationError(f"concurrency must be >= 1, got {self.concurrency}")


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    """Exponential backoff with jitter for transient failures, honouring Retry-After."""

    max_attempts: int = 4
    """Attempts in all, the first included."""
    base_delay_s: float = 0.5
    max_delay_s: float = 30.0
    jitter: float = 0.25
    """Each delay is scaled by a random factor in [1 - jitter, 1 + jitter]."""

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValidationError(f"max_attempts must be >= 1, got {self.max_attempts}")
        if self.base_delay_s < 0 or self.max_delay_s < 0 or not 0 <= self.jitter <= 1:
            raise ValidationError("retry delays must be >= 0 and jitter within [0, 1]")

    def delay(self, attempt: int, retry_after_s: float | None = None) -> float:
        """Seconds to wait before attempt ``attempt + 1``; never less than Retry-After."""
        backoff = min(self.max_delay_s, self.base_delay_s * 2.0 ** (attempt - 1))
        backoff *= 1 + random.uniform(-self.jitter, self.jitter)
        return max(backoff, retry_after_s or 0.0)


class RateWindow:
    """Requests started in the last minute, for a requests-per-minute limit."""

    def __init__(self, rpm: float) -> None:
        self.rpm = rpm
        self._starts: deque[float] = deque()

    def wait_s(self, now: float) -> float:
        """0 when a request may start now, else how long until one may."""
        while self._starts and now - self._starts[0] >= 60.0:
            self._starts.popleft()
        if len(self._starts) < self.rpm:
            return 0.0
        return 60.0 - (now - self._starts[0])

    def record(self, now: float) -> None:
        """Note a request started at ``now``."""
        self._starts.append(now)


class ProviderGates:
    """Whether each provider may take another call now: its limits, window and pauses.

    Counts calls in flight per provider, keeps one :class:`RateWindow` per
    provider with an ``rpm`` limit, and holds a provider while a
    ``Retry-After`` it sent has not passed. Times come from the event loop's
    clock.
    """

    def __init__(self, limits: Mapping[str, ProviderLimit]) -> None:
        self.limits = limits
        self.in_flight: dict[str, int] = {}
        self._windows: dict[str, RateWindow] = {}
        self._paused_until: dict[str, float] = {}

    def wait_s(self, provider: str, now: float) -> float | None:
        """Seconds until ``provider`` may take a call (<= 0: now); ``None`` while it is full."""
        wait = self._paused_until.get(provider, now) - now
        limit = self.limits.get(provider)
        if limit is None:
            return wait
        if limit.in_flight is not None and self.in_flight.get(provider, 0) >= limit.in_flight:
            return None
        if limit.rpm is not None:
            window = self._windows.get(provider)
            if window is None:
                window = self._windows[provider] = RateWindow(limit.rpm)
            wait = max(wait, window.wait_s(now))
        return wait

    def started(self, provider: str, now: float) -> None:
        """Note a call to ``provider`` started at ``now``."""
        self.in_flight[provider] = self.in_flight.get(provider, 0) + 1
        window = self._windows.get(provider)
        if window is not None:
            window.record(now)

    def finished(self, provider: str) -> None:
        """Note a call to ``provider`` ended, however it ended."""
        self.in_flight[provider] -= 1

    def pause(self, provider: str, until: float) -> None:
        """Hold ``provider`` until ``until`` (its ``Retry-After``)."""
        self._paused_until[provider] = max(self._paused_until.get(provider, until), until)
