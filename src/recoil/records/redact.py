"""Secret redaction for everything recoil writes or prints.

Two rules: a mapping key that names a secret (``api_key``, ``Authorization``,
``token``...) has its value replaced; and any known secret value (credentials
given to providers, and environment variables whose names look like secrets)
is replaced wherever it appears inside a string.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

REDACTED = "[redacted]"
_SECRET_NAME = re.compile(
    r"(?:^|[_\-])(?:api[_\-]?key|key|token|secret|password|passwd|auth|authorization"
    r"|credentials?|cookie)(?:$|[_\-])",
    re.IGNORECASE,
)
_MIN_SECRET_LEN = 6
_known: set[str] = set()
_env_cache: tuple[dict[Any, Any], frozenset[str], tuple[str, ...]] | None = None
"""(raw environment, remembered values, secret values) of the last scan."""


_NAMES: dict[str, bool] = {}
"""Names already judged (a dict, not ``lru_cache``: this runs for every key written)."""


def is_secret_name(name: str) -> bool:
    """True when a key or variable name looks like it holds a secret."""
    secret = _NAMES.get(name)
    if secret is None:
        secret = bool(_SECRET_NAME.search(name))
        if len(_NAMES) < 65536:
            _NAMES[name] = secret
    return secret


def remember(values: Iterable[str]) -> None:
    """Add secret values (from a credentials file) to those always redacted."""
    _known.update(v for v in values if len(v) >= _MIN_SECRET_LEN)


def secret_values() -> tuple[str, ...]:
    """Every secret value known now (credentials given, secret-named environment variables)."""
    global _env_cache  # noqa: PLW0603 - one process-wide memo of the environment scan
    # Scanning os.environ decodes every variable: too slow for every receipt. The
    # raw bytes mapping compares at C speed, so the scan reruns only on a change.
    raw = getattr(os.environ, "_data", None)
    cached = _env_cache
    if cached is not None and raw is not None and cached[0] == raw and cached[1] == _known:
        return cached[2]
    env = [v for k, v in os.environ.items() if is_secret_name(k) and len(v) >= _MIN_SECRET_LEN]
    # Longest first so a secret containing another is replaced whole.
    values = tuple(sorted({*env, *_known}, key=len, reverse=True))
    if isinstance(raw, dict):
        _env_cache = (dict(raw), frozenset(_known), values)
    return values


def redact_text(text: str) -> str:
    """``text`` with every known secret value replaced."""
    for secret in secret_values():
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


def redact(value: Any, secrets: Sequence[str] | None = None) -> Any:
    """A copy of a JSON-like value with secret keys and secret values removed.

    ``secrets`` is :func:`secret_values` taken once for several values.
    """
    return _redact(value, secret_values() if secrets is None else secrets)


_ATOMS = frozenset({int, float, bool, type(None)})


def _redact(value: Any, secrets: Sequence[str]) -> Any:
    kind = type(value)
    if kind in _ATOMS:  # the common cases first: exact types, before the slower ABC checks
        return value
    if kind is str or isinstance(value, str):
        for secret in secrets:
            if secret in value:
                value = value.replace(secret, REDACTED)
        return value
    if kind is dict or isinstance(value, Mapping):
        if not secrets and _clean(value):
            return dict(value)  # nothing to redact: no secret values, no secret keys
        return {
            k: (REDACTED if isinstance(k, str) and _is_secret_key(k, v) else _redact(v, secrets))
            for k, v in value.items()
        }
    if kind is list or kind is tuple or isinstance(value, list | tuple):
        return [_redact(v, secrets) for v in value]
    return value


def _clean(value: Any) -> bool:
    """True when no key below ``value`` names a secret (the check when no secret values
    are known, so that strings need no scan)."""
    kind = type(value)
    if kind is dict:
        for key, item in value.items():
            kind = type(item)
            if kind is str:
                if type(key) is str and is_secret_name(key):
                    return False
            elif kind not in _ATOMS and not _clean(item):
                return False
        return True
    if kind in _ATOMS or kind is str:
        return True
    if kind is list or kind is tuple:
        return all(_clean(item) for item in value)
    return False


def _is_secret_key(key: str, value: Any) -> bool:
    # Only string values are treated as secrets by name: "max_tokens": 512 is not one.
    return isinstance(value, str) and is_secret_name(key) and key not in _NOT_SECRET


_NOT_SECRET = frozenset({"request_sha256", "prompt_sha256", "sha256", "raw_sha256"})
