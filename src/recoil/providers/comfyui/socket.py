"""One ComfyUI progress websocket per server, read by a background task.

ComfyUI sends per-prompt events only to the socket whose ``clientId`` the
prompt was submitted with, and reopening the socket per poll loses messages,
so the adapter keeps one socket per server open and remembers what it heard.
The socket counts as open once the server's first ``status`` message arrived:
ComfyUI registers a socket for its client id only after the handshake.
``check`` answers from these facts while they are trustworthy and falls back
to ``GET /history`` and ``GET /queue`` otherwise (no socket, a reconnect in
between, a new process after a crash).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import WebSocketException

from recoil.providers.base import JobStatus

log = logging.getLogger(__name__)
_OPEN_TIMEOUT_S = 5.0
_MAX_FRAME = 64 * 1024 * 1024  # preview frames can be large


@dataclass(slots=True)
class Seen:
    """What the socket told us about one prompt."""

    status: JobStatus = JobStatus.QUEUED
    progress: float | None = None
    error: Mapping[str, Any] | None = None
    done: bool = False
    """True after ``executing {node: null}``: history is written by then."""


@dataclass(slots=True)
class ProgressSocket:
    """The websocket of one server (see the module docstring)."""

    server: str
    client_id: str
    generation: int = 0
    seen: dict[str, Seen] = field(default_factory=dict)
    watched: dict[str, int] = field(default_factory=dict)
    """Prompt id -> the socket generation it was submitted under."""
    _ws: ClientConnection | None = None
    _task: asyncio.Task[None] | None = None
    _connecting: asyncio.Lock = field(default_factory=asyncio.Lock)
    """Concurrent submits wait for one connection instead of each opening their own."""

    @property
    def alive(self) -> bool:
        """True while the reader task runs on an open socket."""
        return self._task is not None and not self._task.done()

    async def ensure(self) -> bool:
        """Connect if not connected; False if the server refuses (HTTP still works)."""
        if self.alive:
            return True
        async with self._connecting:
            return self.alive or await self._connect()

    async def _connect(self) -> bool:
        url = self.server.replace("http://", "ws://", 1).replace("https://", "wss://", 1)
        try:
            ws = await connect(
                f"{url}/ws?clientId={self.client_id}",
                open_timeout=_OPEN_TIMEOUT_S,
                max_size=_MAX_FRAME,
                proxy=None,
            )
        except (OSError, TimeoutError, WebSocketException) as exc:
            log.debug("comfyui websocket %s unavailable: %s", self.server, exc)
            return False
        try:
            # ComfyUI registers the socket for its client id after the handshake, then
            # sends ``status``: until that arrives, events of our prompts may go nowhere.
            first = await asyncio.wait_for(ws.recv(), _OPEN_TIMEOUT_S)
        except (OSError, TimeoutError, WebSocketException) as exc:
            log.debug("comfyui websocket %s sent no status: %s", self.server, exc)
            await ws.close()
            return False
        if isinstance(first, str):
            self._on_text(first)
        # Events of unfinished prompts may have been missed while disconnected.
        self.seen = {pid: s for pid, s in self.seen.items() if s.done}
        self.generation += 1
        self._ws = ws
        self._task = asyncio.create_task(self._read(ws), name=f"comfyui-ws {self.server}")
        return True

    def watch(self, prompt_id: str) -> None:
        """Note a prompt submitted while this socket is open."""
        if self.alive:
            self.watched[prompt_id] = self.generation

    def known(self, prompt_id: str) -> Seen | None:
        """What the socket knows for sure about a prompt, or None (ask over HTTP)."""
        if not self.alive:
            return None
        seen = self.seen.get(prompt_id)
        if seen is not None:
            return seen
        if self.watched.get(prompt_id) == self.generation:
            return Seen()  # submitted on this very socket and nothing heard: still queued
        return None

    def forget(self, prompt_id: str) -> None:
        """Drop what we know about a finished prompt."""
        self.seen.pop(prompt_id, None)
        self.watched.pop(prompt_id, None)

    async def close(self) -> None:
        """Stop reading and close the socket."""
        task, ws = self._task, self._ws
        self._task = self._ws = None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if ws is not None:
            await ws.close()

    async def _read(self, ws: ClientConnection) -> None:
        try:
            async for message in ws:
                if isinstance(message, str):
                    self._on_text(message)
        except (OSError, WebSocketException) as exc:
            log.debug("comfyui websocket %s closed: %s", self.server, exc)

    def _on_text(self, text: str) -> None:
        try:
            event = json.loads(text)
        except ValueError:
            return
        if not isinstance(event, dict) or not isinstance(event.get("data"), dict):
            return
        data: dict[str, Any] = event["data"]
        prompt_id = data.get("prompt_id")
        if not isinstance(prompt_id, str):
            return
        seen = self.seen.setdefault(prompt_id, Seen())
        kind = event.get("type")
        if kind in ("execution_start", "execution_cached"):
            seen.status = JobStatus.RUNNING
        elif kind == "progress":
            seen.status = JobStatus.RUNNING
            maximum = data.get("max") or 0
            if isinstance(maximum, int | float) and maximum > 0:
                seen.progress = min(1.0, float(data.get("value", 0)) / maximum)
        elif kind == "execution_success":
            seen.status = JobStatus.SUCCEEDED
        elif kind == "execution_error":
            seen.status, seen.error = JobStatus.FAILED, data
        elif kind == "execution_interrupted":
            seen.status = JobStatus.CANCELLED
        elif kind == "executing":
            if data.get("node") is None:
                seen.done = True  # ComfyUI's one end signal, for every outcome
            elif not seen.status.done:
                seen.status = JobStatus.RUNNING
