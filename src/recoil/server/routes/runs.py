"""Runs from the page: start one, stop it, follow it live (server-sent events)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from recoil.production.run import RunOptions
from recoil.server.routes import State, Writer
from recoil.server.routes.project_reads import run_json

router = APIRouter(prefix="/api", tags=["runs"])

_HEARTBEAT_S = 15.0
_EXPORT_WAIT_S = 60.0


class RunRequest(BaseModel):
    """How to run (every field optional, as ``recoil run``'s options)."""

    model_config = ConfigDict(extra="forbid")

    provider: str | None = Field(None, min_length=1, max_length=100)
    budget: float | None = Field(None, ge=0, allow_inf_nan=False)
    concurrency: int | None = Field(None, ge=1, le=1024)
    use_cache: bool = True
    evaluate: bool = True


@router.post("/runs", status_code=202, dependencies=[Writer])
def start_run(body: RunRequest, state: State) -> dict[str, Any]:
    """Start a run of the project in the background; 409 if a run holds the project."""
    state.exporter.wait(_EXPORT_WAIT_S)  # a re-cut in progress would hold the project
    state.runs.start(
        RunOptions(
            provider=body.provider,
            budget=body.budget,
            concurrency=body.concurrency,
            use_cache=body.use_cache,
            evaluate=body.evaluate,
        )
    )
    return run_json(state)


@router.get("/runs/current")
def read_run(state: State) -> dict[str, Any]:
    """The page's run: phase, steps done and failed, cost so far."""
    return run_json(state)


@router.post("/runs/current/stop", dependencies=[Writer])
def stop_run(state: State) -> dict[str, Any]:
    """Stop the run: no new steps start; calls in flight may finish."""
    state.runs.stop()
    return run_json(state)


@router.get("/events")
async def events(request: Request, state: State) -> StreamingResponse:
    """Server-sent events: ``run`` with the run's state, now and at every change."""

    async def stream() -> AsyncIterator[str]:
        with state.runs.subscription() as updates:
            while not await request.is_disconnected():
                try:
                    await asyncio.wait_for(updates.get(), _HEARTBEAT_S)
                except TimeoutError:
                    yield ": keep-alive\n\n"
                    continue
                yield f"event: run\ndata: {json.dumps(run_json(state))}\n\n"

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
