"""One generation from the API: ``recoil dispatch`` into the project's receipt log."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from recoil.errors import DispatchError
from recoil.production.folder import dispatch_in_project
from recoil.records import codec
from recoil.server.routes import State, Writer

router = APIRouter(prefix="/api", tags=["dispatch"], dependencies=[Writer])


class Generation(BaseModel):
    """One dispatch: a modality and its payload (as ``recoil dispatch`` takes them)."""

    model_config = ConfigDict(extra="forbid")

    modality: str = Field(..., min_length=1, max_length=100)
    payload: dict[str, Any] = Field(default_factory=dict)


@router.post("/dispatch")
async def dispatch_one(body: Generation, state: State) -> dict[str, Any]:
    """Run one generation and return its receipt (a failed one too, with its error)."""
    try:
        receipt = await dispatch_in_project(state.project, body.modality, body.payload)
    except DispatchError as exc:
        receipt = exc.receipt
    encoded: dict[str, Any] = codec.encode(receipt)
    return encoded
