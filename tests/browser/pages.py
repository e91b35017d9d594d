"""Driving the review page: :class:`Review` wraps a Playwright page on one server.

Every wait is on a condition in the page (``wait_for_function``, ``expect``),
never a fixed sleep. :func:`cli` runs the real ``recoil`` command on a project
and :func:`status` reads ``recoil status --json``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import ConsoleMessage, Locator, Page, expect

from tests.helpers import recoil
from tests.serving import Served

TIMEOUT_MS = 30_000
"""How long a wait in the page may take: far more than any condition needs."""

FPS = 12
FRAMES = 24
"""Frames in each take's video (two seconds at 12 fps)."""

_VIDEOS = "[...document.querySelectorAll('.panel video')]"
_FRAME_OF = "(v) => Math.floor(v.currentTime * 12 + 1e-6)"


def cli(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``recoil ARGS`` in the project's folder, on its own SQLite store."""
    env = {k: v for k, v in os.environ.items() if k != "RECOIL_DATABASE_URL"}
    return recoil(*args, cwd=project.parent, env=env)


def status(project: Path) -> list[dict[str, Any]]:
    """``recoil status P --json``: one row per beat, its takes inside."""
    done = cli(project, "status", str(project), "--json")
    assert done.returncode == 0, done.stderr
    rows: list[dict[str, Any]] = json.loads(done.stdout)
    return rows


def take_row(rows: list[dict[str, Any]], take_id: str) -> dict[str, Any]:
    """The take's row in ``rows`` (what :func:`status` read)."""
    found = [t for row in rows for t in row["takes"] if t["take_id"] == take_id]
    assert len(found) == 1, f"{take_id} is not in recoil status"
    take: dict[str, Any] = found[0]
    return take


class Review:
    """The review page on one server, and the errors it raised or logged."""

    def __init__(self, page: Page, server: Served) -> None:
        self.page = page
        self.server = server
        self.errors: list[str] = []
        self.allowed: list[re.Pattern[str]] = []
        page.on("pageerror", lambda error: self.errors.append(f"page error: {error}"))
        page.on("console", self._console)

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.errors.append(f"console error: {message.text} ({message.location})")

    def allow(self, pattern: str) -> None:
        """Console errors matching ``pattern`` are expected (a refused write logs its 401)."""
        self.allowed.append(re.compile(pattern))

    def assert_no_errors(self) -> None:
        """The page raised nothing and logged no error but those allowed."""
        unexpected = [
            e
            for e in self.errors
            if "favicon" not in e and not any(p.search(e) for p in self.allowed)
        ]
        assert unexpected == [], unexpected

    # -- navigation -------------------------------------------------------------

    def open(self, *, token: bool = True) -> None:
        """The beats list, by the link ``recoil review`` prints (with the token) or without."""
        fragment = f"#token={self.server.token}" if token else ""
        self.page.goto(f"{self.server.url}/{fragment}")
        expect(self.page.locator(".beat")).to_have_count(2)
        if token:
            expect(self.page.locator("#access")).to_have_text("")

    def compare(self, beat_id: str) -> None:
        """Click the beat in the beats list; wait for its compare view, every video loaded."""
        self.page.locator(f".beat[data-beat='{beat_id}']").click()
        self.wait_compare(beat_id)

    def wait_compare(self, beat_id: str) -> None:
        """Wait for the compare view of ``beat_id``, every panel's video fully loaded."""
        expect(self.page.locator(f".compare-view[data-beat='{beat_id}']")).to_be_visible()
        self.page.wait_for_function(
            f"{_VIDEOS}.length > 0 && {_VIDEOS}.every((v) => v.readyState === 4)"
        )

    def api(self, path: str) -> Any:
        """A read of the server's JSON API."""
        response = httpx.get(self.server.url + path, timeout=30)
        response.raise_for_status()
        return response.json()

    # -- the compare view ---------------------------------------------------------

    def panel(self, take_id: str) -> Locator:
        """The panel of a take in the compare view."""
        return self.page.locator(f".panel[data-take='{take_id}']")

    def key(self, *keys: str) -> None:
        """Press keys on the page itself (no text box focused)."""
        self.page.evaluate("document.activeElement && document.activeElement.blur()")
        for key in keys:
            self.page.keyboard.press(key)

    def wait_frame(self, frame: int) -> None:
        """Wait until ``#frame`` shows ``frame`` and every video is paused on it."""
        expect(self.page.locator("#frame")).to_have_text(f"frame {frame} / {FRAMES - 1}")
        self.page.wait_for_function(
            f"(frame) => {_VIDEOS}.every("
            f"(v) => v.paused && !v.seeking && ({_FRAME_OF})(v) === frame)",
            arg=frame,
        )

    def videos(self) -> list[dict[str, Any]]:
        """Every panel's video: its take, time, frame, whether paused, ready state."""
        found: list[dict[str, Any]] = self.page.evaluate(
            f"""{_VIDEOS}.map((v) => ({{
                take: v.dataset.take, time: v.currentTime, frame: ({_FRAME_OF})(v),
                paused: v.paused, seeking: v.seeking, ready: v.readyState,
            }}))"""
        )
        return found

    def wait_playing(self, after: float) -> None:
        """Wait until every video plays and each is past ``after`` seconds."""
        self.page.wait_for_function(
            f"(after) => {_VIDEOS}.every((v) => !v.paused && v.currentTime > after)", arg=after
        )

    def wait_paused(self) -> None:
        """Wait until every video is paused."""
        self.page.wait_for_function(f"{_VIDEOS}.every((v) => v.paused)")

    def toast(self, text: str, *, error: bool = False) -> None:
        """Wait for the toast to show ``text`` (as an error or not)."""
        toast = self.page.locator("#toast")
        expect(toast).to_be_visible()
        expect(toast).to_contain_text(text)
        if error:
            expect(toast).to_have_class(re.compile(r"\berror\b"))
        else:
            expect(toast).not_to_have_class(re.compile(r"\berror\b"))
