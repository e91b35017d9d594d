"""A take's review status and the notes reviewers leave on it (SPEC section 12).

Review status is separate from a take's run status: a take can have
succeeded and still be marked ``retake`` by a person.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from recoil.errors import ValidationError


class ReviewStatus(StrEnum):
    """What a reviewer decided about a take."""

    PENDING = "pending"
    APPROVED = "approved"
    RETAKE = "retake"


@dataclass(frozen=True, slots=True, kw_only=True)
class ReviewNote:
    """A reviewer's note on a take, optionally pinned to a frame of it."""

    author: str
    text: str
    created_at: str
    """ISO 8601 timestamp, timezone-aware UTC."""
    frame: int | None = None

    def __post_init__(self) -> None:
        if self.frame is not None and self.frame < 0:
            raise ValidationError(f"review note frame must be >= 0, got {self.frame}")
