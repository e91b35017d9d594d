"""The review server's app factory: one project, its routes, its page, its guards.

Every response that is an error is JSON, ``{"error": "<one line>"}``, with a
status that says what happened (400 bad input, 401 no or wrong token, 404
unknown, 409 busy or not allowed now, 421 wrong Host, 422 malformed request).
A request whose ``Host`` header names another host is refused before any
route runs: a page on another site that points a name of its own at
127.0.0.1 (DNS rebinding) reads nothing.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from recoil.errors import (
    NotFoundError,
    ProjectBusyError,
    RecoilError,
    StateError,
)
from recoil.production.catalog import CatalogCache
from recoil.production.folder import open_production
from recoil.records.redact import redact_text
from recoil.server.exports import Exporter
from recoil.server.runs import RunManager

_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


@dataclass(slots=True, kw_only=True)
class Served:
    """What every route of one server shares: the project and its live parts."""

    project: Path
    exports: Path
    """The project's exports folder (the cut)."""
    token: str
    catalog: CatalogCache
    runs: RunManager
    exporter: Exporter


def create_app(project: Path, *, token: str, host: str = "127.0.0.1") -> FastAPI:
    """The review app of the project at ``project``, bound (for the Host check) to ``host``.

    Raises the project's own errors (a missing folder, a bad shot list) now,
    before anything is served.
    """
    from recoil.server.routes import dispatch, media, page, project_reads, reviews, runs

    project = project.resolve()
    production = open_production(project)
    manager = RunManager(project)
    catalog = CatalogCache(project)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Read the catalog while the browser is still on its way: the first page is
        # then answered from memory. A project that cannot be read says so on request.
        warming = asyncio.ensure_future(asyncio.to_thread(catalog.get))
        yield
        await asyncio.gather(warming, return_exceptions=True)
        # The server is stopping: a run started from the page stops as Ctrl-C would
        # stop `recoil run` (what finished is recorded; the next run resumes the rest).
        manager.stop()
        await asyncio.to_thread(manager.join, 30.0)

    app = FastAPI(
        lifespan=lifespan,
        title="recoil review",
        description="Browse, compare, approve and retake the takes of one recoil project.",
        version="1",
        docs_url=None,
        redoc_url=None,
    )
    app.state.served = Served(
        project=project,
        exports=production.exports,
        token=token,
        catalog=catalog,
        runs=manager,
        exporter=Exporter(project),
    )
    for module in (project_reads, media, reviews, runs, dispatch, page):
        app.include_router(module.router)
    static = files("recoil.server").joinpath("static")
    app.mount("/static", StaticFiles(directory=str(static)), name="static")
    _errors_as_json(app)
    app.add_middleware(HostCheck, hosts=allowed_hosts(host))
    return app


def allowed_hosts(host: str) -> frozenset[str]:
    """The names a request's Host may give: the bound host, and every loopback name
    when it is a loopback address."""
    bare = host.strip("[]").lower()
    return _LOOPBACK if bare in _LOOPBACK else frozenset({bare})


class HostCheck:
    """Refuses (421) any request whose Host header is not one of ``hosts``."""

    def __init__(self, app: ASGIApp, *, hosts: frozenset[str]) -> None:
        self.app = app
        self.hosts = hosts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            headers = dict(scope.get("headers") or [])
            name = _host_name(headers.get(b"host", b"").decode("latin-1"))
            if name not in self.hosts:
                response = JSONResponse(
                    {"error": f"this server answers to {', '.join(sorted(self.hosts))} only"},
                    status_code=421,
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


_HOST = re.compile(r"(\[[0-9a-f:.]+\]|[a-z0-9.-]+)(:[0-9]{1,5})?")


def _host_name(header: str) -> str:
    """The name in a Host header (``[::1]:8765`` -> ``::1``); ``""`` if it is not one."""
    match = _HOST.fullmatch(header.strip().lower())
    return match.group(1).strip("[]") if match is not None else ""


def one_line(text: str) -> str:
    """``text`` as one redacted line (a multi-line error joined with ``; ``)."""
    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    return redact_text("; ".join(lines) or "error")


def status_of(error: RecoilError) -> int:
    """The HTTP status of a recoil error."""
    if isinstance(error, NotFoundError):
        return 404
    if isinstance(error, ProjectBusyError | StateError):
        return 409
    if error.exit_code == 2:
        return 400
    return 500


def _errors_as_json(app: FastAPI) -> None:
    async def recoil_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RecoilError)
        return JSONResponse({"error": one_line(str(exc))}, status_code=status_of(exc))

    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        return JSONResponse(
            {"error": one_line(str(exc.detail))},
            status_code=exc.status_code,
            headers=exc.headers,
        )

    async def invalid_request(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        problems = []
        for error in exc.errors():
            where = ".".join(str(part) for part in error.get("loc", ()) if part != "body")
            problems.append(f"{where}: {error.get('msg', 'invalid')}" if where else error["msg"])
        return JSONResponse({"error": one_line("; ".join(problems))}, status_code=422)

    app.add_exception_handler(RecoilError, recoil_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, invalid_request)
