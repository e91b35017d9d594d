"""The collector's threshold is raised during runs and restored after."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from recoil.execution.collector import RUN_THRESHOLD, fewer_collections


@pytest.fixture(autouse=True)
def restore_thresholds() -> Iterator[None]:
    saved = gc.get_threshold()
    yield
    gc.set_threshold(*saved)


def test_threshold_raised_inside_and_restored_after_nested_runs() -> None:
    gc.set_threshold(700, 10, 10)
    with fewer_collections():
        assert gc.get_threshold() == (RUN_THRESHOLD, 10, 10)
        with fewer_collections():
            assert gc.get_threshold()[0] == RUN_THRESHOLD
        assert gc.get_threshold()[0] == RUN_THRESHOLD
    assert gc.get_threshold() == (700, 10, 10)


def test_a_higher_or_disabled_threshold_is_left_alone() -> None:
    for first in (0, 50_000):
        gc.set_threshold(first, 10, 10)
        with fewer_collections():
            assert gc.get_threshold()[0] == first
        assert gc.get_threshold()[0] == first


def test_what_exists_before_a_run_is_frozen_during_it() -> None:
    """Full collections during a run skip older objects; cycles made during it are still freed."""
    import weakref

    class Node:
        pass

    before = gc.get_freeze_count()
    with fewer_collections():
        assert gc.get_freeze_count() > before
        cycle = Node()
        cycle.self = cycle  # type: ignore[attr-defined]
        alive = weakref.ref(cycle)
        del cycle
        gc.collect()
        assert alive() is None
    assert gc.get_freeze_count() == 0
