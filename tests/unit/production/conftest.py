"""A small film on the fake provider, for the production tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.helpers import beat, shotlist, write_project

Doors = Callable[[int], Path]
"""``doors(takes_per_beat)``: make the film, return its folder."""


@pytest.fixture
def doors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Doors:
    """``tmp_path/film``: two one-second beats (a door opens, then closes) on the fake
    provider, in the default SQLite store."""
    monkeypatch.delenv("RECOIL_DATABASE_URL", raising=False)

    def make(takes_per_beat: int) -> Path:
        text = shotlist(
            {"one": [beat("a", "a door opens"), beat("b", "a door closes")]},
            title="Doors",
            provider="fake",
            takes_per_beat=takes_per_beat,
            seed=3,
        )
        return write_project(tmp_path / "film", text)

    return make
