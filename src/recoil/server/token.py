"""The review server's write token: kept in the project folder, readable by its owner only."""

from __future__ import annotations

import hmac
import os
import secrets
from pathlib import Path

from recoil.records.redact import remember

TOKEN_FILE = ".recoil-review-token"  # noqa: S105 - the file's name, not a token


def review_token(project: Path, *, rotate: bool = False) -> str:
    """The project's write token, made on first use (or anew with ``rotate``).

    The file is created with mode 0600 and replaced atomically, so the token is
    never readable by others, even for a moment. The token is remembered as a
    secret: any error text that quotes it is redacted.
    """
    path = project / TOKEN_FILE
    token = "" if rotate or not path.is_file() else path.read_text().strip()
    if not token:
        token = secrets.token_urlsafe(32)
        scratch = path.with_name(f"{TOKEN_FILE}.{os.getpid()}.tmp")
        fd = os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.fchmod(fd, 0o600)  # whatever the umask
            os.write(fd, f"{token}\n".encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        scratch.replace(path)
    else:
        path.chmod(0o600)
    remember([token])
    return token


def token_matches(given: str, token: str) -> bool:
    """Whether ``given`` is ``token``, compared in constant time."""
    return hmac.compare_digest(given.encode(), token.encode())
