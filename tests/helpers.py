"""Helpers the test folders share: waiting for a condition, running the CLI, projects.

- :func:`wait_until` polls a condition against a generous deadline, so that a test
  waits for an event instead of sleeping a time tuned to one machine;
  :func:`until` is the same inside an event loop.
- :func:`until_done`, :func:`run_job` and :func:`submit_and_close` drive one
  provider job the way the dispatcher does (submit, then check until done).
- :func:`recoil` and :func:`start_recoil` run the real ``recoil`` command in a
  subprocess; :func:`records` reads the receipt log it wrote (complete lines
  only) and :func:`artifact_hashes` the files it generated.
- :func:`shotlist`, :func:`beat` (and :data:`ANA_WAITS`, a beat where she
  speaks) and :func:`write_project` make a small project with Ana as its one
  character.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import yaml

from recoil.model.requests import Request
from recoil.providers.base import Job, JobState, Provider

T = TypeVar("T")

WAIT_S = 60.0
"""How long :func:`wait_until` waits by default: far more than any condition needs."""


def wait_until(
    condition: Callable[[], T],
    *,
    timeout_s: float = WAIT_S,
    interval_s: float = 0.02,
    what: str = "the condition",
) -> T:
    """Poll ``condition`` until it returns something truthy, and return that.

    Fails the test (AssertionError naming ``what``) once ``timeout_s`` has passed;
    the condition is always asked once more at the deadline.
    """
    expire = _deadline(timeout_s, what)
    while not (value := condition()):
        expire()
        time.sleep(interval_s)
    return value


async def until(
    condition: Callable[[], T],
    *,
    timeout_s: float = WAIT_S,
    interval_s: float = 0.001,
    what: str = "the condition",
) -> T:
    """:func:`wait_until` for a coroutine: the event loop runs while it waits."""
    expire = _deadline(timeout_s, what)
    while not (value := condition()):
        expire()
        await asyncio.sleep(interval_s)
    return value


def _deadline(timeout_s: float, what: str) -> Callable[[], None]:
    """A check that fails the test once ``timeout_s`` from now has passed."""
    deadline = time.monotonic() + timeout_s

    def expire() -> None:
        if time.monotonic() >= deadline:
            raise AssertionError(f"waited {timeout_s:g} s for {what}")

    return expire


# -- provider jobs ----------------------------------------------------------------


async def until_done(provider: Provider, job: Job, timeout_s: float = WAIT_S) -> JobState:
    """Check ``job`` until it is done (the result ``submit`` set, if it did)."""
    if job.result is not None:
        return job.result
    async with asyncio.timeout(timeout_s):
        while True:
            state = await provider.check(job)
            if state.status.done:
                return state
            await asyncio.sleep(0.01)


async def run_job(provider: Provider, request: Request) -> tuple[Job, JobState]:
    """Submit ``request``, check it until done, then close ``provider``."""
    try:
        job = await provider.submit(request, uuid.uuid4().hex)
        return job, await until_done(provider, job)
    finally:
        await provider.aclose()


async def submit_and_close(provider: Provider, request: Request) -> Job:
    """Submit ``request`` and close ``provider``, as a process that dies after its submit."""
    try:
        return await provider.submit(request, uuid.uuid4().hex)
    finally:
        await provider.aclose()


# -- the recoil command -----------------------------------------------------------


def recoil(
    *args: str, cwd: Path, env: Mapping[str, str], timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m recoil ARGS`` to completion, its output captured."""
    return subprocess.run(
        [sys.executable, "-m", "recoil", *args],
        cwd=cwd,
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def start_recoil(
    *args: str, cwd: Path, env: Mapping[str, str], output: Path | None = None
) -> subprocess.Popen[str]:
    """Start ``python -m recoil ARGS``; its output goes to ``output``, else to pipes."""
    command = [sys.executable, "-m", "recoil", *args]
    if output is None:
        return subprocess.Popen(
            command,
            cwd=cwd,
            env=dict(env),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
    with output.open("w") as out:  # the child holds its own copy of the file
        return subprocess.Popen(command, cwd=cwd, env=dict(env), stdout=out, stderr=out, text=True)


def log_lines(project: Path) -> int:
    """How many complete lines the project's receipt log holds (a torn tail is left out)."""
    log = project / "receipts.jsonl"
    return log.read_bytes().count(b"\n") if log.exists() else 0


def records(project: Path, kind: str | None = None) -> list[dict[str, Any]]:
    """The complete lines of the project's receipt log, those of ``kind`` if given.

    A torn tail (a kill landed mid-write) is left out, as the next open sets it aside.
    """
    log = project / "receipts.jsonl"
    if not log.exists():
        return []
    data = log.read_bytes()
    lines = [json.loads(line) for line in data[: data.rfind(b"\n") + 1].splitlines()]
    return [r for r in lines if kind is None or r.get("kind") == kind]


def artifact_hashes(project: Path) -> dict[str, str]:
    """The generated files under ``artifacts/`` (sidecars left out): name to SHA-256."""
    return {
        path.name: hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted((project / "artifacts").rglob("*"))
        if path.is_file() and path.suffix != ".json"
    }


# -- projects ---------------------------------------------------------------------

ANA = {"name": "Ana", "description": "a woman in a red coat", "voice": "en-us"}


def beat(beat_id: str, action: str, *, says: str | None = None, **fields: Any) -> dict[str, Any]:
    """One beat of a second (``fields`` add to or override it); ``says`` gives Ana a line."""
    entry: dict[str, Any] = {"id": beat_id, "action": action, "duration": 1}
    if says is not None:
        entry["characters"] = ["ana"]
        entry["dialogue"] = [{"character": "ana", "text": says}]
    return {**entry, **fields}


ANA_WAITS = beat("a", "Ana waits", says="Still here.")
"""Beat ``a``, where Ana speaks: a keyframe, a video and a line of speech to make."""


def shotlist(
    scenes: Mapping[str, Sequence[Mapping[str, Any]] | Mapping[str, Any]], **project: Any
) -> str:
    """A version-1 shot list (YAML) with Ana as its one character.

    ``scenes`` maps each scene id to its beats (see :func:`beat`), or to the scene's
    fields with its ``beats`` among them; ``project`` holds the project settings,
    160x90 at 12 fps unless it says otherwise.
    """
    data = {
        "version": 1,
        "project": {"resolution": "160x90", "fps": 12, **project},
        "characters": {"ana": ANA},
        "scenes": [{"id": scene, **_scene(fields)} for scene, fields in scenes.items()],
    }
    return yaml.safe_dump(data, sort_keys=False)


def _scene(fields: Sequence[Mapping[str, Any]] | Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(fields, Mapping):
        return {**fields, "beats": list(fields["beats"])}
    return {"beats": list(fields)}


def write_project(folder: Path, shotlist_text: str, settings: str | None = None) -> Path:
    """Make ``folder`` a project with this shot list (and ``recoil.toml``); returns it."""
    folder.mkdir(parents=True)
    (folder / "shotlist.yaml").write_text(shotlist_text)
    if settings is not None:
        (folder / "recoil.toml").write_text(settings)
    return folder
