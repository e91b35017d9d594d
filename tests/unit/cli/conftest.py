"""Each CLI test runs in its own empty tmp folder with a clean environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.cli.running import Recoil, runner


@pytest.fixture
def recoil(tmp_path: Path, clean_env: None, monkeypatch: pytest.MonkeyPatch) -> Recoil:
    """``recoil(*args)``: run the CLI in-process in ``tmp_path``."""
    monkeypatch.chdir(tmp_path)
    return runner()
