"""Reading only the part of the receipt log the store has not indexed yet.

A :class:`LogMark` remembers how many bytes of the log were indexed, with
fingerprints of the first and of the last few KiB before that point. When the
log is at least that long and both fingerprints still match, only the bytes
after the mark are read; when it shrank or its indexed part changed (restored
from a backup, rewritten by hand), reading starts again from the beginning.
Indexing is idempotent, so a re-read only costs time.

Only complete lines are consumed: a torn last line stays after the mark and
is looked at again next time (by then the log has set it aside).

The tail is handed out in chunks of raw lines, not decoded records: the store
indexes straight from each line's JSON (see :mod:`recoil.store.log_index`).
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

log = logging.getLogger(__name__)

FINGERPRINT_BYTES = 4096


@dataclass(frozen=True, slots=True, kw_only=True)
class LogMark:
    """How far the log is indexed, and fingerprints to tell it is the same log."""

    offset: int = 0
    head: str = ""
    """sha256 of the log's first ``min(offset, 4096)`` bytes."""
    tail: str = ""
    """sha256 of the 4096 bytes (or fewer) just before ``offset``."""

    def to_meta(self) -> dict[str, str]:
        """The mark as ``recoil_meta`` values."""
        return {"log.offset": str(self.offset), "log.head": self.head, "log.tail": self.tail}

    @classmethod
    def from_meta(cls, values: Mapping[str, str]) -> LogMark:
        """Inverse of :meth:`to_meta`; no values means nothing is indexed."""
        return cls(
            offset=int(values.get("log.offset", "0")),
            head=values.get("log.head", ""),
            tail=values.get("log.tail", ""),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class TailChunk:
    """Consecutive complete lines of the tail, without their newlines."""

    start: int
    """Offset of the first line's first byte."""
    lines: list[bytes]
    end: int
    """Offset just past the last line's newline."""


class LogTail:
    """The unindexed tail of one receipt log, opened for reading."""

    def __init__(self, path: Path, mark: LogMark) -> None:
        self.path = path
        self._file: BinaryIO | None = None
        self.start = 0
        self.size = 0
        try:
            self._file = path.open("rb")
        except FileNotFoundError:
            return
        self.size = os.fstat(self._file.fileno()).st_size
        if mark.offset <= self.size and mark == self.mark_at(mark.offset):
            self.start = mark.offset
        elif mark.offset:
            log.info("%s changed since it was indexed; indexing it again from the start", path)

    @property
    def restarted(self) -> bool:
        """True when the log did not continue the marked one and is read from the start."""
        return self.start == 0

    @property
    def empty(self) -> bool:
        """True when there is nothing after the mark."""
        return self.start >= self.size

    def mark_at(self, offset: int) -> LogMark:
        """The mark for ``offset`` bytes of this log."""
        if offset == 0 or self._file is None:
            return LogMark()
        return LogMark(
            offset=offset,
            head=self._digest(0, min(offset, FINGERPRINT_BYTES)),
            tail=self._digest(max(0, offset - FINGERPRINT_BYTES), offset),
        )

    def chunks(self, size: int) -> Iterator[TailChunk]:
        """The complete lines after the mark, read ``size`` bytes at a time.

        Each chunk holds the whole lines of what was read so far; a line
        longer than ``size`` waits for the reads that complete it.
        """
        if self._file is None:
            return
        self._file.seek(self.start)
        offset = self.start
        pending = b""
        while block := self._file.read(size):
            data = pending + block if pending else block
            cut = data.rfind(b"\n") + 1
            if cut == 0:
                pending = data
                continue
            pending = data[cut:]
            yield TailChunk(start=offset, lines=data[: cut - 1].split(b"\n"), end=offset + cut)
            offset += cut

    def close(self) -> None:
        """Close the log file."""
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self) -> LogTail:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _digest(self, start: int, end: int) -> str:
        # A handle of its own, so fingerprinting never moves the line reader.
        with self.path.open("rb") as f:
            f.seek(start)
            return hashlib.sha256(f.read(end - start)).hexdigest()
