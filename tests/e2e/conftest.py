"""Helpers for running the real ``recoil`` command in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

SMALL_SHOTLIST = """\
version: 1
project:
  title: Two Beats
  provider: previz
  resolution: 160x90
  fps: 12
  style: noir
  takes_per_beat: 2
  seed: 7
characters:
  ana:
    name: Ana
    description: a woman in a red coat
    voice: en-us
scenes:
  - id: street
    time_of_day: night
    beats:
      - id: look
        shot: {size: close_up, angle: low, movement: push_in}
        action: Ana looks up at the rain
        characters: [ana]
        dialogue:
          - {character: ana, text: "Here we go."}
        duration: 1
      - id: walk
        shot: {size: wide, movement: pan_right}
        action: Ana walks away down the street
        characters: [ana]
        duration: 1.5
      - id: cut-me
        action: a beat that is switched off
        duration: 1
        enabled: false
"""

Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def recoil_cli(tmp_path: Path) -> Run:
    """Run ``python -m recoil ARGS`` in ``tmp_path``; returns the completed process."""

    def run(*args: str, env: dict[str, str] | None = None, timeout: float = 120):
        return subprocess.run(
            [sys.executable, "-m", "recoil", *args],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**os.environ, **(env or {})},
            check=False,
        )

    return run


@pytest.fixture
def small_project(tmp_path: Path) -> Path:
    """A project folder with a two-beat shot list and default settings."""
    project = tmp_path / "small"
    project.mkdir()
    (project / "shotlist.yaml").write_text(SMALL_SHOTLIST)
    return project
