"""A Ray head that does not answer is one clear error, not a run that waits forever."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest

from recoil.errors import ConfigError
from recoil.model.context import DispatchContext

ray = pytest.importorskip("ray")

pytestmark = pytest.mark.ray


def closed_port() -> int:
    """A loopback port nothing listens on (it was free a moment ago)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.mark.parametrize("where", ["setting", "environment"])
def test_an_unreachable_head_is_a_config_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    from recoil.execution.ray import RayDispatcher

    address = f"127.0.0.1:{closed_port()}"
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    if where == "environment":
        monkeypatch.setenv("RAY_ADDRESS", address)
    context = DispatchContext(project=tmp_path, default_provider="fake")
    started = time.monotonic()
    with pytest.raises(ConfigError, match=rf"cannot reach the Ray head node at {address} \("):
        RayDispatcher(context, address=address if where == "setting" else None)
    assert time.monotonic() - started < 5
    assert not ray.is_initialized()
