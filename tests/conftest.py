"""Shared fixtures: a tmp project, a fresh registry with one countable FakeProvider,
a dispatch context on both, and a clean environment.

Nothing here is autouse: a test asks for what it needs.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from recoil.model.context import DispatchContext
from recoil.providers.fake import MODALITIES, FakeProvider
from recoil.providers.registry import Registry, register_default_runners
from recoil.records.redact import is_secret_name


@pytest.fixture
def project_dir(tmp_path: Path) -> Path:
    """An empty project folder."""
    path = tmp_path / "project"
    path.mkdir()
    return path


@pytest.fixture
def fake() -> FakeProvider:
    """The FakeProvider instance the ``registry`` fixture serves as ``fake``."""
    return FakeProvider()


@pytest.fixture
def registry(fake: FakeProvider) -> Registry:
    """A registry of its own (no plugins) whose ``fake`` provider is the ``fake`` fixture."""
    registry = register_default_runners(Registry(load_entry_points=False))
    registry.register_provider("fake", lambda config: fake, MODALITIES, replace=True)
    return registry


@pytest.fixture
def context(project_dir: Path) -> DispatchContext:
    """A context writing into ``project_dir`` with ``fake`` as the default provider."""
    return DispatchContext(project=project_dir, default_provider="fake")


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No RECOIL_* or secret-looking variables, and a private XDG config folder."""
    for name in list(os.environ):
        if name.startswith("RECOIL_") or is_secret_name(name):
            monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
