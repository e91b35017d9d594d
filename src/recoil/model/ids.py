"""Identifiers that sort by creation time, and timestamps."""

from __future__ import annotations

import hashlib
import random
import time
from datetime import UTC, datetime


def now_us() -> int:
    """Microseconds since the Unix epoch."""
    return time.time_ns() // 1000


def utc_now_iso() -> str:
    """The current time as ISO-8601 UTC with microseconds."""
    return datetime.now(UTC).isoformat(timespec="microseconds")


def new_id(prefix: str) -> str:
    """A unique id that sorts by creation time: ``prefix_<14 hex us><10 hex random>``."""
    return f"{prefix}_{now_us():014x}{random.getrandbits(40):010x}"


def derive_seed(base: int, *parts: object) -> int:
    """A stable 31-bit seed from a base seed and any parts (a take index, a step id)."""
    text = ":".join([str(base), *(str(p) for p in parts)])
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "big") & 0x7FFFFFFF
