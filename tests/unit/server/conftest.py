"""A small film run once per module, copies of it to write on, and the review server on them.

Every test module gets ``film``: two one-second beats (``b`` speaks) of two takes each,
run on the fake provider (which reports a cost), in a clean environment whose
credentials file holds :data:`SECRET`. Read-only tests serve ``film`` itself
(``reader``); a test that writes asks for ``project`` (a fresh copy) and ``server``.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from recoil.production.run import run_production_sync
from recoil.records.redact import is_secret_name
from tests.helpers import beat, shotlist, write_project
from tests.serving import Served, serving
from tests.unit.server.api import SECRET

FILM = shotlist(
    {"one": [beat("a", "a door opens"), beat("b", "a door closes", says="Goodbye.")]},
    title="Doors",
    provider="fake",
    takes_per_beat=2,
    seed=3,
)
"""Two beats of two takes: ``a`` (keyframe, video), ``b`` (keyframe, video, audio)."""

SETTINGS = """\
[providers.fake]
cost = 0.01
"""

SLOW_SETTINGS = """\
[run]
concurrency = {concurrency}

[providers.fake]
latency_s = 0.5
async = true
cost = 0.01
calls_file = "{calls}"
"""
"""A fake provider as a slow remote service: each call takes half a second, and every
submit is a line in ``calls_file`` (see :mod:`recoil.providers.fake`)."""

Slow = Callable[..., Path]
"""``slow_project(takes_per_beat=2, concurrency=2)``: an unrun film on the slow provider."""


@pytest.fixture(scope="module")
def environment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """No RECOIL_* or secret-looking variables; a private XDG config folder whose
    ``recoil/credentials.toml`` holds ``FAL_KEY = SECRET``. Yields the credentials file."""
    with pytest.MonkeyPatch.context() as patch:
        for name in list(os.environ):
            if name.startswith("RECOIL_") or is_secret_name(name):
                patch.delenv(name)
        config = tmp_path_factory.mktemp("xdg-config")
        credentials = config / "recoil" / "credentials.toml"
        credentials.parent.mkdir()
        credentials.write_text(f'FAL_KEY = "{SECRET}"\n')
        patch.setenv("XDG_CONFIG_HOME", str(config))
        yield credentials


@pytest.fixture(scope="module")
def film(environment: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The film, run once for the module (every take succeeded; its cut exported)."""
    folder = write_project(tmp_path_factory.mktemp("built") / "film", FILM, SETTINGS)
    outcome = run_production_sync(folder)
    assert outcome.report.failed == 0, outcome.report.summary()
    return folder


@pytest.fixture(scope="module")
def reader(film: Path) -> Iterator[Served]:
    """The review server on ``film`` itself, for tests that only read."""
    with serving(film) as served:
        yield served


@pytest.fixture
def project(film: Path, tmp_path: Path) -> Path:
    """A copy of ``film`` of the test's own."""
    copy = tmp_path / "film"
    shutil.copytree(film, copy)
    (copy / ".recoil-review-token").unlink(missing_ok=True)
    return copy


@pytest.fixture
def server(project: Path) -> Iterator[Served]:
    """The review server on ``project``."""
    with serving(project) as served:
        yield served


@pytest.fixture
def client(server: Served) -> Iterator[httpx.Client]:
    """An HTTP client of ``server`` (no token unless a request adds ``server.auth``)."""
    with httpx.Client(base_url=server.url, timeout=60) as http:
        yield http


@pytest.fixture
def read(reader: Served) -> Iterator[httpx.Client]:
    """An HTTP client of ``reader``."""
    with httpx.Client(base_url=reader.url, timeout=60) as http:
        yield http


@pytest.fixture
def slow_project(environment: Path, tmp_path: Path) -> Slow:
    """``slow_project(...)``: the film, unrun, on the slow fake provider."""

    def make(*, takes_per_beat: int = 2, concurrency: int = 2) -> Path:
        text = FILM.replace("takes_per_beat: 2", f"takes_per_beat: {takes_per_beat}")
        assert f"takes_per_beat: {takes_per_beat}" in text
        calls = tmp_path / "calls.jsonl"
        settings = SLOW_SETTINGS.format(concurrency=concurrency, calls=calls)
        return write_project(tmp_path / "slow", text, settings)

    return make
