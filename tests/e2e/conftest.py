"""Fixtures for running the real ``recoil`` command in a subprocess."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.helpers import beat, recoil, shotlist, write_project

SMALL_SHOTLIST = shotlist(
    {
        "street": {
            "time_of_day": "night",
            "beats": [
                beat(
                    "look",
                    "Ana looks up at the rain",
                    says="Here we go.",
                    shot={"size": "close_up", "angle": "low", "movement": "push_in"},
                ),
                beat(
                    "walk",
                    "Ana walks away down the street",
                    characters=["ana"],
                    duration=1.5,
                    shot={"size": "wide", "movement": "pan_right"},
                ),
                beat("cut-me", "a beat that is switched off", enabled=False),
            ],
        }
    },
    title="Two Beats",
    provider="previz",
    style="noir",
    takes_per_beat=2,
    seed=7,
)
"""Two enabled beats (one speaks) of two takes each, and a beat that is switched off."""

Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def recoil_cli(tmp_path: Path) -> Run:
    """Run ``python -m recoil ARGS`` in ``tmp_path``; returns the completed process."""

    def run(*args: str, env: dict[str, str] | None = None, timeout: float = 120):
        return recoil(*args, cwd=tmp_path, env={**os.environ, **(env or {})}, timeout=timeout)

    return run


@pytest.fixture
def small_project(tmp_path: Path) -> Path:
    """A project folder with a two-beat shot list and default settings."""
    return write_project(tmp_path / "small", SMALL_SHOTLIST)
