"""One router per resource; the dependencies every router shares.

Reads are open; every write depends on :func:`write_access` (a Bearer token
compared in constant time). :func:`served` gives a route the server's
:class:`~recoil.server.app.Served`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, HTTPException, Request

from recoil.server.app import Served
from recoil.server.token import token_matches


async def served(request: Request) -> Served:
    """The server's shared state (async: a sync dependency would take a thread per request)."""
    found: Served = request.app.state.served
    return found


async def write_access(
    request: Request, authorization: Annotated[str | None, Header()] = None
) -> None:
    """Refuse (401) a write without ``Authorization: Bearer <token>`` of this project."""
    scheme, _, given = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token_matches(
        given.strip(), request.app.state.served.token
    ):
        raise HTTPException(
            status_code=401,
            detail="this needs the project's write token: Authorization: Bearer <token> "
            "(recoil review prints it)",
            headers={"WWW-Authenticate": "Bearer"},
        )


Writer = Depends(write_access)
"""A route dependency: the request must carry the write token."""

State = Annotated[Served, Depends(served)]
"""A route parameter: the server's shared state."""
