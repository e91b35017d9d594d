"""The review page in a real Chromium (Debian's, driven by Playwright's sync API).

- ``chromium``: one browser for the session; skipped (failed when
  ``RECOIL_REQUIRE_BROWSER=1``) where ``/usr/bin/chromium`` is missing.
- ``built``: a small film made once per session by the real ``recoil run``
  (previz, offline): two two-second beats at 12 fps (``look``, where Ana
  speaks, and ``walk``) of two takes each, and its cut.
- ``project``: a copy of it of the test's own; ``server``: the review server on
  it (a real uvicorn on loopback).
- ``review``: a fresh browser context (empty localStorage) on that server,
  whose page errors and console errors fail the test when it ends.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect, sync_playwright

from tests.browser.pages import TIMEOUT_MS, Review, cli
from tests.helpers import beat, shotlist, write_project
from tests.serving import Served, serving

CHROMIUM = Path("/usr/bin/chromium")
INSTALL = "apt-get install -y --no-install-recommends chromium fonts-dejavu-core"
ARGS = ["--no-sandbox", "--autoplay-policy=no-user-gesture-required"]

FILM = shotlist(
    {
        "street": [
            beat("look", "Ana looks up at the rain", says="Here we go.", duration=2),
            beat("walk", "Ana walks away down the street", characters=["ana"], duration=2),
        ]
    },
    title="Browser Film",
    provider="previz",
    takes_per_beat=2,
    seed=7,
)
"""Two two-second beats (24 frames each at 12 fps) of two takes each."""

expect.set_options(timeout=TIMEOUT_MS)


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    """Debian's Chromium, headless, allowed to play media without a gesture.

    One per module, not per session: Playwright's sync API keeps an event loop
    running on the main thread while it is open, and every later test that calls
    ``asyncio.run`` would fail.
    """
    if not CHROMIUM.exists():
        reason = f"the browser tests need Chromium at {CHROMIUM}: {INSTALL}"
        if os.environ.get("RECOIL_REQUIRE_BROWSER") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The film, run once by the real ``recoil run``: every take made, the cut exported."""
    project = write_project(tmp_path_factory.mktemp("built") / "film", FILM)
    run = cli(project, "run", str(project))
    assert run.returncode == 0, run.stderr
    assert (project / "exports" / "cut.mp4").is_file()
    return project


@pytest.fixture
def project(built: Path, tmp_path: Path) -> Path:
    """A copy of the film of this test's own (a copied project is a project of its own)."""
    copy = tmp_path / "film"
    shutil.copytree(built, copy, symlinks=True)
    return copy


@pytest.fixture
def server(project: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Served]:
    """The review server on ``project`` (its store the project's own SQLite file)."""
    monkeypatch.delenv("RECOIL_DATABASE_URL", raising=False)
    with serving(project) as served:
        yield served


@pytest.fixture
def review(chromium: Browser, server: Served) -> Iterator[Review]:
    """A page of a fresh context on ``server``; it must raise no error and log none."""
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    watched = Review(page, server)
    try:
        yield watched
    finally:
        context.close()
    watched.assert_no_errors()
