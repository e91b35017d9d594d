"""Content-addressed artifact storage: ``<root>/<first two hex>/<sha256>.<ext>``.

Files are written atomically (a temp file in the same folder, fsynced, then
renamed), so a crash never leaves a half-written artifact under its final
name, and identical outputs are stored once.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path


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


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temp file, fsync, rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class ArtifactStore:
    """A content-addressed folder of artifacts."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path_for(self, sha256: str, ext: str) -> Path:
        """Where the artifact with this hash and extension lives."""
        return self.root / sha256[:2] / f"{sha256}.{ext}"

    def put(self, data: bytes, ext: str) -> tuple[Path, str, bool]:
        """Store bytes; return (path, sha256, whether the file is new)."""
        digest = sha256_bytes(data)
        path = self.path_for(digest, ext)
        # Re-hash rather than trust the size: a damaged copy must be replaced, or the
        # new receipt would point at bytes that do not match its sha256.
        if path.is_file() and sha256_file(path) == digest:
            return path, digest, False
        write_atomic(path, data)
        return path, digest, True

    def intact(self, sha256: str, ext: str) -> bool:
        """True when the artifact exists and its bytes still hash to ``sha256``."""
        path = self.path_for(sha256, ext)
        return path.is_file() and sha256_file(path) == sha256
