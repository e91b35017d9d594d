"""The append-only receipt log (``receipts.jsonl``).

One JSON object per line. Appends are durable before they return: the line is
written with ``O_APPEND`` and the file fsynced. Concurrent async appends are
group-committed: while one fsync runs, later lines queue up and share the
next one, so durability costs one fsync per batch rather than per record.

A crash can leave a last line without its newline. Opening the log detects
that torn tail, moves its bytes to ``receipts.jsonl.torn-<n>`` beside the log
(set aside, never silently dropped) and truncates the log to its last complete
line, so new records append cleanly after it.

Several processes may append to one log (a run, a review decision, a one-off
``recoil dispatch``). Every write, and the torn-tail check, holds an exclusive
``flock`` on the file: a line another process is still writing is never taken
for a torn one, and lines never interleave.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from recoil.errors import RecoilError, StoreError
from recoil.model.receipt import Record
from recoil.records.codec import decode_record

log = logging.getLogger(__name__)

_CALLBACKS_PER_TURN = 32

Durable = Callable[[StoreError | None], None]
"""Called once a queued record is on disk: with ``None``, or with the write's error."""


def encode_line(record: Mapping[str, Any]) -> bytes:
    """One record as a canonical JSON line (sorted keys, compact, UTF-8)."""
    return orjson.dumps(record, option=orjson.OPT_SORT_KEYS | orjson.OPT_APPEND_NEWLINE)


class ReceiptLog:
    """An open, append-only JSONL record log."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.torn: Path | None = None
        """Where a torn tail found on open was set aside, if any."""
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            with _locked(self._fd):
                self.torn = _set_aside_torn_tail(path)
        except BaseException:
            os.close(self._fd)
            raise
        self._pending: list[tuple[bytes, Durable]] = []
        self._flusher: asyncio.Task[None] | None = None

    def close(self) -> None:
        """Close the file; pending async appends must have completed."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def append(self, record: Mapping[str, Any]) -> None:
        """Append one record and fsync before returning."""
        self._write(encode_line(record))

    def append_many(self, records: Sequence[Mapping[str, Any]]) -> None:
        """Append records in one write and one fsync, before returning."""
        self._write(b"".join(encode_line(record) for record in records))

    async def append_async(self, record: Mapping[str, Any]) -> None:
        """Append one record; returns once it is on disk (group commit)."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def settle(error: StoreError | None) -> None:
            # A cancelled caller cancels only its own future; the line is still written.
            if not done.done():
                if error is None:
                    done.set_result(None)
                else:
                    done.set_exception(error)

        self.append_then(record, settle)
        await done

    def append_then(self, record: Mapping[str, Any], durable: Durable) -> None:
        """Queue one record for the next group commit; ``durable`` is called once it is on disk.

        ``durable(None)`` runs on the event loop after the fsync that made the line
        durable, ``durable(error)`` if the write failed. It is how a caller with
        many records in flight learns of each without a future and a task wakeup
        apiece; it must not raise.
        """
        self._pending.append((encode_line(record), durable))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.get_running_loop().create_task(self._flush_loop())

    async def flushed(self) -> None:
        """Return once every record queued so far is on disk (or failed)."""
        while self._flusher is not None and not self._flusher.done():
            # Shielded: a caller that gives up must not stop others' records being written.
            await asyncio.shield(self._flusher)

    async def _flush_loop(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            data = b"".join([line for line, _ in batch])
            error: StoreError | None = None
            try:
                await asyncio.to_thread(self._write, data)
            except OSError as exc:
                error = StoreError(f"cannot write {self.path}: {exc}")
            except StoreError as exc:
                error = exc
            for n, (_, durable) in enumerate(batch, start=1):
                try:
                    durable(error)
                except Exception:
                    log.exception("a receipt log listener failed")
                if n % _CALLBACKS_PER_TURN == 0:
                    # A long batch's callbacks take turns with the loop's other work
                    # (timers of calls in flight), so none of it waits for all of them.
                    await asyncio.sleep(0)

    def _write(self, data: bytes) -> None:
        if self._fd < 0:
            raise StoreError(f"receipt log {self.path} is closed")
        view = memoryview(data)
        with _locked(self._fd):
            while view:
                written = os.write(self._fd, view)
                view = view[written:]
        os.fsync(self._fd)

    def __enter__(self) -> ReceiptLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextmanager
def _locked(fd: int) -> Iterator[None]:
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)


def read_records(path: Path) -> Iterator[Record]:
    """Every complete, decodable record of a log, in order.

    A line that is not valid JSON is logged and skipped; a kind this version
    does not know is skipped silently (newer writers may add kinds).
    """
    if not path.exists():
        return
    with path.open("rb") as f:
        for number, line in enumerate(f, start=1):
            if not line.endswith(b"\n"):
                return  # a torn tail: it is set aside when the log is opened for writing
            if not line.strip():
                continue
            try:
                data = orjson.loads(line)
                record = decode_record(data)
            except (ValueError, RecoilError) as exc:  # orjson's JSONDecodeError is a ValueError
                log.warning("%s:%d: unreadable record skipped (%s)", path, number, exc)
                continue
            if record is not None:
                yield record


def _set_aside_torn_tail(path: Path) -> Path | None:
    if not path.exists():
        return None
    with path.open("r+b") as f:
        size = f.seek(0, os.SEEK_END)
        if size == 0:
            return None
        f.seek(size - 1)
        if f.read(1) == b"\n":
            return None
        # Find the start of the torn line: just after the last newline.
        keep = _last_newline_end(f, size)
        f.seek(keep)
        tail = f.read()
        aside = _free_name(path)
        with aside.open("wb") as out:
            out.write(tail)
            out.flush()
            os.fsync(out.fileno())
        f.truncate(keep)
        f.flush()
        os.fsync(f.fileno())
    log.warning("%s: a torn last line (%d bytes) was set aside in %s", path, len(tail), aside.name)
    return aside


def _last_newline_end(f: BinaryIO, size: int) -> int:
    block = 64 * 1024
    end = size
    while end > 0:
        start = max(0, end - block)
        f.seek(start)
        chunk = f.read(end - start)
        index = chunk.rfind(b"\n")
        if index >= 0:
            return start + index + 1
        end = start
    return 0


def _free_name(path: Path) -> Path:
    n = 1
    while True:
        candidate = path.with_name(f"{path.name}.torn-{n}")
        if not candidate.exists():
            return candidate
        n += 1
