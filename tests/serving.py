"""The review server on a real uvicorn, on loopback, in a thread: for API, browser and
benchmark use.

:func:`serving` starts ``create_app(project)`` on 127.0.0.1 on a free port and
yields a :class:`Served` with its base URL and write token; the server stops
(as on Ctrl-C) when the block ends.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import uvicorn
from fastapi import FastAPI

from recoil.server.app import create_app
from recoil.server.token import review_token
from tests.helpers import wait_until


@dataclass(frozen=True, slots=True)
class Served:
    """A running review server."""

    url: str
    """``http://127.0.0.1:<port>``."""
    token: str
    app: FastAPI
    port: int

    @property
    def auth(self) -> dict[str, str]:
        """The header a write needs."""
        return {"Authorization": f"Bearer {self.token}"}


@contextmanager
def serving(project: Path, *, host: str = "127.0.0.1") -> Iterator[Served]:
    """Serve ``project`` on ``host`` until the block ends."""
    token = review_token(project)
    app = create_app(project, token=token, host=host)
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)  # as the CLI
    listener.bind((host, 0))
    port = listener.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=1))
    thread = threading.Thread(
        target=lambda: asyncio.run(server.serve(sockets=[listener])), daemon=True
    )
    thread.start()
    wait_until(lambda: server.started, what="the review server to start")
    try:
        yield Served(url=f"http://{host}:{port}", token=token, app=app, port=port)
    finally:
        server.should_exit = True
        thread.join(30)
        listener.close()
