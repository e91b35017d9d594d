"""What one provider call cost, as reported by the provider or estimated from prices."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from recoil.errors import ValidationError

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
            raise ValidationError(f"cost amount must be a finite number >= 0, got {self.amount}")


FREE = Cost()
