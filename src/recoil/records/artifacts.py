"""Content-addressed artifact storage: ``<root>/<first two hex>/<sha256>.<ext>``.

Files are written atomically (a temp file, fsynced, then renamed), so a crash
never leaves a half-written artifact under its final name, and identical
outputs are stored once. The store's temp files live in ``<root>/.partial/``,
named after the writing process; one that a killed process left behind is
removed the next time the store is opened.

Receipts record an artifact's path relative to the project folder (see
:func:`recorded_path`), and readers find the file by its hash
(:meth:`ArtifactStore.locate`), never by a path written earlier: a project
folder can be moved or copied and still finds its own files, and an old log
whose paths are absolute reads the same.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path, PurePath

from recoil.model.receipt import Artifact


def sha256_bytes(data: bytes) -> str:
    """Hex sha256 of bytes."""
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file's contents, read in blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_atomic(path: Path, data: bytes, *, scratch: Path | None = None) -> None:
    """Write ``data`` to ``path`` atomically (temp file, fsync, rename).

    The temp file goes into ``scratch`` (on the same file system as ``path``)
    when given, else beside ``path``; its name starts with this process's id.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    folder = scratch if scratch is not None else path.parent
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{os.getpid()}.{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def recorded_path(path: Path, base: Path) -> str:
    """``path`` as a receipt records it: relative to ``base`` (the project folder) when the
    file lies inside it, else absolute."""
    absolute = path.resolve()
    try:
        return absolute.relative_to(base.resolve()).as_posix()
    except ValueError:
        return str(absolute)


"""The artifact store's folder inside a project folder."""
SCRATCH = ".partial"


def _writer_pid(name: str) -> int | None:
    head = name.split(".", 2)[1] if name.startswith(".") and name.count(".") >= 2 else ""
    return int(head) if head.isdigit() else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's live process
    return True


class ArtifactStore:
    """A content-addressed folder of artifacts."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.scratch = root / SCRATCH

    def sweep(self) -> int:
        """Remove temp files of writers that died mid-write; returns how many."""
        removed = 0
        if not self.scratch.is_dir():
            return removed
        for entry in self.scratch.iterdir():
            pid = _writer_pid(entry.name)
            if pid is not None and not _alive(pid):
                entry.unlink(missing_ok=True)
                removed += 1
        return removed

    def path_for(self, sha256: str, ext: str) -> Path:
        """Where the artifact with this hash and extension lives."""
        return self.root / sha256[:2] / f"{sha256}.{ext}"

    def locate(self, artifact: Artifact) -> Path:
        """Where ``artifact``'s file is in this store: found by its hash, whatever path an
        older receipt (or a receipt written in another folder) recorded."""
        return self.path_for(artifact.sha256, PurePath(artifact.path).suffix[1:])

    def put(self, data: bytes, ext: str) -> tuple[Path, str, bool]:
        """Store bytes; return (path, sha256, whether the file is new)."""
        digest = sha256_bytes(data)
        path = self.path_for(digest, ext)
        # Re-hash rather than trust the size: a damaged copy must be replaced, or the
        # new receipt would point at bytes that do not match its sha256.
        if path.is_file() and sha256_file(path) == digest:
            return path, digest, False
        write_atomic(path, data, scratch=self.scratch)
        return path, digest, True

    def intact(self, sha256: str, ext: str) -> bool:
        """True when the artifact exists and its bytes still hash to ``sha256``."""
        path = self.path_for(sha256, ext)
        return path.is_file() and sha256_file(path) == sha256
