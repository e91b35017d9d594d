"""What one provider call cost, as reported by the provider or estimated from prices."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

CostSource = Literal["reported", "estimated", "none"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Cost:
    """Money spent on one call."""

    amount: float = 0.0
    currency: str = "USD"
    source: CostSource = "none"
    detail: str = ""
    """How it was computed, e.g. ``"3.2 s x 0.000725 USD/s"``."""

    def __post_init__(self) -> None:
        if not (math.isfinite(self.amount) and self.amount >= 0):
            raise ValueError(f"cost amount must be a finite number >= 0, got {self.amount}")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict."""
        return {
            "amount": self.amount,
            "currency": self.currency,
            "source": self.source,
            "detail": self.detail,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Cost:
        """Inverse of :meth:`to_dict`."""
        return cls(
            amount=float(data.get("amount", 0.0)),
            currency=str(data.get("currency", "USD")),
            source=data.get("source", "none"),
            detail=str(data.get("detail", "")),
        )


FREE = Cost()
