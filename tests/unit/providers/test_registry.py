"""The registry (SPEC 2 "Registry")."""

from __future__ import annotations

import logging
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from recoil.errors import ConfigError, UnknownModalityError, UnknownProviderError
from recoil.model.requests import AudioRequest, KeyframeRequest
from recoil.providers.fake import FakeProvider
from recoil.providers.registry import (
    ENTRY_POINT_GROUP,
    Registry,
    default_registry,
    register_default_runners,
)

BUILTINS = ["audio", "keyframe", "upscale", "video"]


def test_register_twice_raises_unless_replace() -> None:
    """SPEC 2 Registry: registering an existing modality raises unless replace=True."""
    registry = Registry(load_entry_points=False)
    registry.register("foley", AudioRequest)
    registry.register_provider("fake", FakeProvider, ["foley"])
    with pytest.raises(ConfigError, match="replace=True"):
        registry.register("foley", KeyframeRequest)
    assert registry.runner("foley").request_type is AudioRequest
    runner = registry.register("foley", KeyframeRequest, replace=True)
    assert runner.request_type is KeyframeRequest
    assert registry.runner("foley") is runner
    assert "fake" in runner.providers  # replacing the request type keeps the providers


def test_register_provider_twice_raises_unless_replace() -> None:
    """SPEC 2 Registry: a provider already serving a modality is only replaced on request."""
    registry = register_default_runners(Registry(load_entry_points=False))
    with pytest.raises(ConfigError, match="replace=True"):
        registry.register_provider("fake", FakeProvider, ["keyframe"])
    registry.register_provider("fake", FakeProvider, ["keyframe"], replace=True)
    with pytest.raises(UnknownModalityError):
        registry.register_provider("x", FakeProvider, ["smell"])


def test_modality_names_are_checked() -> None:
    """SPEC 2 Registry: a modality name is letters, digits and '_'."""
    with pytest.raises(ConfigError, match="modality names"):
        Registry(load_entry_points=False).register("bad name!", AudioRequest)
    with pytest.raises(ConfigError):
        Registry(load_entry_points=False).register("", AudioRequest)


def test_default_runners_are_the_four_builtins_and_idempotent() -> None:
    """SPEC 2 Registry: register_default_runners registers the four built-ins; idempotent."""
    registry = Registry(load_entry_points=False)
    assert register_default_runners(registry) is registry
    assert registry.modalities() == BUILTINS
    runners = {m: registry.runner(m) for m in BUILTINS}
    providers = registry.providers()
    register_default_runners(registry)
    assert registry.modalities() == BUILTINS
    assert {m: registry.runner(m) for m in BUILTINS} == runners
    assert registry.providers() == providers
    assert set(providers) >= {"fake", "previz"}
    assert providers["fake"] == BUILTINS


def test_unknown_names_list_what_exists() -> None:
    """SPEC 2.1: a lookup of an unknown modality raises UnknownModalityError listing them."""
    registry = register_default_runners(Registry(load_entry_points=False))
    with pytest.raises(UnknownModalityError, match="audio, keyframe, upscale, video"):
        registry.runner("smell")
    with pytest.raises(UnknownProviderError, match="did you mean 'previz'"):
        registry.provider("previs", "keyframe")
    assert "keyframe" in registry
    assert "smell" not in registry


def test_registries_are_independent() -> None:
    """SPEC 2 Registry: every API takes an explicit registry so tests never share state."""
    mine = register_default_runners(Registry(load_entry_points=False))
    mine.register("foley", AudioRequest)
    assert "foley" not in default_registry()
    assert default_registry() is default_registry()
    assert set(BUILTINS) <= set(default_registry().modalities())


@pytest.fixture
def plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A distribution on sys.path with a `recoil.providers` entry point; yields its module."""
    module = f"recoil_test_plugin_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{module}.py").write_text(
        "from recoil.model.requests import AudioRequest\n"
        "from recoil.providers.fake import FakeProvider\n"
        "def register(registry):\n"
        "    registry.register('foley', AudioRequest)\n"
        "    registry.register_provider('plugged', FakeProvider, ['foley', 'keyframe'])\n"
        "def broken(registry):\n"
        "    raise RuntimeError('plugin bug')\n"
    )
    dist = tmp_path / f"{module}-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {module}\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        f"[{ENTRY_POINT_GROUP}]\nfoley = {module}:register\nbroken = {module}:broken\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    yield module
    sys.modules.pop(module, None)


def test_entry_point_plugins_load_lazily(plugin: str, caplog: pytest.LogCaptureFixture) -> None:
    """SPEC 2 Registry: third-party providers register through the entry-point group
    `recoil.providers`, loaded lazily (the first time a lookup misses); a broken plugin is
    reported without breaking recoil."""
    registry = register_default_runners(Registry())
    registry.runner("keyframe")
    assert plugin not in sys.modules  # a hit never loads plugins
    with caplog.at_level(logging.WARNING):
        runner = registry.runner("foley")
    assert plugin in sys.modules
    assert runner.request_type is AudioRequest
    assert registry.provider("plugged", "keyframe") is FakeProvider
    assert "broken" in caplog.text
    assert "plugin bug" in caplog.text


def test_plugins_off(plugin: str) -> None:
    """SPEC 2 Registry: a registry made with load_entry_points=False never loads plugins."""
    registry = register_default_runners(Registry(load_entry_points=False))
    with pytest.raises(UnknownModalityError):
        registry.runner("foley")
    assert plugin not in sys.modules
