"""Retry delays, the requests-per-minute window and the provider gates."""

from __future__ import annotations

import pytest

from recoil.errors import ValidationError
from recoil.execution.policy import (
    Limits,
    ProviderGates,
    ProviderLimit,
    RateWindow,
    RetryPolicy,
)


def test_backoff_grows_exponentially_with_bounded_jitter_and_a_cap() -> None:
    policy = RetryPolicy(base_delay_s=0.5, max_delay_s=4.0, jitter=0.25)
    for attempt, base in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (9, 4.0)]:
        delays = [policy.delay(attempt) for _ in range(200)]
        assert all(base * 0.75 <= d <= base * 1.25 for d in delays)
        assert len(set(delays)) > 1  # jittered


def test_retry_after_is_a_floor() -> None:
    policy = RetryPolicy(base_delay_s=0.1, jitter=0.0)
    assert policy.delay(1, retry_after_s=7.0) == 7.0
    assert policy.delay(1, retry_after_s=0.01) == 0.1


def test_rate_window_allows_rpm_starts_per_minute() -> None:
    window = RateWindow(2)
    assert window.wait_s(0.0) == 0.0
    window.record(0.0)
    window.record(10.0)
    assert window.wait_s(20.0) == pytest.approx(40.0)
    assert window.wait_s(60.0) == 0.0


def test_gates_count_in_flight_rate_and_pauses() -> None:
    gates = ProviderGates({"a": ProviderLimit(in_flight=1, rpm=60)})
    assert gates.wait_s("a", 0.0) == 0.0
    gates.started("a", 0.0)
    assert gates.wait_s("a", 0.0) is None  # full
    gates.finished("a")
    assert gates.in_flight == {"a": 0}
    gates.pause("b", until=5.0)
    assert gates.wait_s("b", 1.0) == pytest.approx(4.0)
    assert gates.wait_s("b", 6.0) < 0


@pytest.mark.parametrize(
    "make",
    [
        lambda: Limits(concurrency=0),
        lambda: ProviderLimit(in_flight=0),
        lambda: ProviderLimit(rpm=0),
        lambda: RetryPolicy(max_attempts=0),
        lambda: RetryPolicy(jitter=2),
    ],
)
def test_invalid_policies_are_refused(make: object) -> None:
    with pytest.raises(ValidationError):
        make()  # type: ignore[operator]
