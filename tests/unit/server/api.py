"""What the review-server tests share: the API's operations, error and status readers."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import opentimelineio as otio

from tests.helpers import recoil, start_recoil, wait_until
from tests.unit.cli.running import runner

SECRET = "fal-sekret-4f1c9e2b7a6d5c3e8b0a"
"""The value of ``FAL_KEY`` in the tests' credentials file; no response may contain it."""

READS = [
    ("GET", "/api/project"),
    ("GET", "/api/scenes"),
    ("GET", "/api/beats/{beat_id}"),
    ("GET", "/api/takes/{take_id}"),
    ("GET", "/api/takes/{take_id}/receipts"),
    ("GET", "/api/takes/{take_id}/notes"),
    ("GET", "/api/receipts"),
    ("GET", "/api/cut"),
    ("GET", "/media/{name}"),
    ("GET", "/cut.mp4"),
    ("GET", "/api/runs/current"),
    ("GET", "/api/events"),
]
WRITES = [
    ("POST", "/api/takes/{take_id}/approve"),
    ("POST", "/api/takes/{take_id}/reject"),
    ("POST", "/api/takes/{take_id}/notes"),
    ("POST", "/api/beats/{beat_id}/retake"),
    ("POST", "/api/export"),
    ("POST", "/api/runs"),
    ("POST", "/api/runs/current/stop"),
    ("POST", "/api/dispatch"),
]
OPERATIONS = READS + WRITES
"""Every operation of the API, as its OpenAPI schema lists them."""


def error_of(response: httpx.Response, status: int) -> str:
    """The one-line message of an error answer with this status (fails the test otherwise)."""
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/json"), response.headers
    body = response.json()
    assert isinstance(body, dict) and set(body) == {"error"}, body
    message = body["error"]
    assert isinstance(message, str) and message.strip() == message and message, body
    assert "\n" not in message and "\r" not in message, body
    return message


def status(project: Path, *, in_a_process: bool = False) -> list[dict[str, Any]]:
    """``recoil status PROJECT --json``: the CLI in this process (typer's runner), or
    ``in_a_process`` as a user would run it."""
    if in_a_process:
        result = recoil("status", str(project), "--json", cwd=project.parent, env=os.environ)
        assert result.returncode == 0, result.stderr
        output = result.stdout
    else:
        ran = runner()("status", project, "--json")
        assert ran.exit_code == 0, ran.output
        output = ran.stdout
    rows: list[dict[str, Any]] = json.loads(output)
    return rows


def take_row(rows: list[dict[str, Any]], take_id: str) -> dict[str, Any]:
    """The take ``take_id`` in ``recoil status --json`` output."""
    found = [t for beat in rows for t in beat["takes"] if t["take_id"] == take_id]
    assert len(found) == 1, (take_id, rows)
    return found[0]


def beat_row(rows: list[dict[str, Any]], beat_id: str) -> dict[str, Any]:
    """The beat ``beat_id`` in ``recoil status --json`` output."""
    found = [beat for beat in rows if beat["beat_id"] == beat_id]
    assert len(found) == 1, (beat_id, rows)
    return found[0]


def timeline_takes(project: Path) -> dict[str, str]:
    """Beat -> the take the exported timeline shows for it."""
    timeline = otio.adapters.read_from_file(str(project / "exports" / "cut.otio"))
    return {
        clip.metadata["recoil"]["beat_id"]: clip.metadata["recoil"]["take_id"]
        for clip in timeline.video_tracks()[0].find_clips()
    }


def log_bytes(project: Path) -> bytes:
    """The project's receipt log, byte for byte."""
    return (project / "receipts.jsonl").read_bytes()


@dataclass(frozen=True, slots=True)
class Reviewing:
    """A ``recoil review`` process serving a project."""

    url: str
    token: str
    process: subprocess.Popen[str]

    @property
    def auth(self) -> dict[str, str]:
        """The header a write needs."""
        return {"Authorization": f"Bearer {self.token}"}


_SERVING = re.compile(r"^review .* at (http://\S+)/#token=(\S+)$", re.MULTILINE)


@contextmanager
def reviewing(project: Path, *args: str) -> Iterator[Reviewing]:
    """Run ``recoil review PROJECT --port 0 ARGS`` until the block ends, then Ctrl-C it,
    which ends it as Ctrl-C ends any recoil command: ``interrupted``, exit code 130."""
    output = project.parent / f"{project.name}-review.log"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = start_recoil(
        "review", str(project), "--port", "0", *args, cwd=project.parent, env=env, output=output
    )
    try:
        found = wait_until(
            lambda: _SERVING.search(output.read_text()) or process.poll() is not None,
            what="recoil review to print its URL",
        )
        assert isinstance(found, re.Match), output.read_text()
        # The URL is printed once the port is bound, a moment before uvicorn listens on it.
        wait_until(lambda: _answers(found[1]), what="recoil review to answer")
        yield Reviewing(url=found[1], token=found[2], process=process)
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=60)
        finally:
            process.kill()
    assert process.returncode == 130, output.read_text()
    assert output.read_text().splitlines()[-1] == "interrupted", output.read_text()


def _answers(url: str) -> bool:
    try:
        return httpx.get(f"{url}/api/runs/current", timeout=10).status_code == 200
    except httpx.TransportError:
        return False
