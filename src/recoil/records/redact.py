"""Secret redaction for everything recoil writes or prints.

Two rules: a mapping key that names a secret (``api_key``, ``Authorization``,
``token``...) has its value replaced; and any known secret value (credentials
given to providers, and environment variables whose names look like secrets)
is replaced wherever it appears inside a string, in any of the forms a server
or a library may echo it back in: percent-encoded (wholly or in part, either
hex case), JSON or HTML escaped, as Python's ``repr`` writes it
(:func:`secret_pattern`), and base64, on its own or inside a longer base64
text (:func:`base64_forms`). A fal key ``id:secret`` comes back from a URL as
``id%3Asecret``.

What a set of secrets takes to find is worked out once and kept, with short
literal strings that every match contains: a string holding none of them
(nearly every string) is passed over after a few substring tests.
"""

from __future__ import annotations

import base64
import html
import json
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
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


_ANCHOR_MIN = 3
"""The shortest run of letters and digits worth testing for before a full search."""
_ALNUM_RUN = re.compile(r"[A-Za-z0-9]+")


def secret_pattern(secret: str) -> str:
    """A regular expression matching ``secret`` as any encoder may have written it.

    Letters and digits stand for themselves (no encoder changes them); every
    other character may also appear percent-encoded (upper- or lower-case hex,
    or encoded twice, ``%253A``, as in a URL inside a query string; a space
    also as ``+``), JSON-escaped (``\\/``, ``\\u00e9``), HTML-escaped
    (``&amp;``, ``&#58;``, ``&#x3a;``) or as Python's ``repr`` writes it. Each
    character is matched on its own, so a mix (``a:b%2Fc``, as an encoder that
    keeps ``:`` in a path writes) is matched too.
    """
    return "".join(_char_pattern(c) for c in secret)


def _char_pattern(c: str) -> str:
    if c.isascii() and c.isalnum():
        return c
    literals = {c, json.dumps(c, ensure_ascii=False)[1:-1], html.escape(c), repr(c)[1:-1]}
    # repr escapes the quote it is delimited by: \' when the text holds both kinds.
    literals |= {"/": {"\\/"}, "'": {"\\'"}, " ": {"+"}}.get(c, set())
    forms = [re.escape(text) for text in sorted(literals, key=len, reverse=True)]
    forms.append("".join(f"%(?:25)?{_hex_digit(b >> 4)}{_hex_digit(b & 15)}" for b in _utf8(c)))
    units = c.encode("utf-16-be", "surrogatepass")
    escapes = (f"{int.from_bytes(units[i : i + 2]):04X}" for i in range(0, len(units), 2))
    forms.append("".join(r"\\u" + "".join(_hex_digit(int(d, 16)) for d in e) for e in escapes))
    # HTML character references, decimal and hexadecimal: &#58; &#x3a;
    hex_code = "".join(_hex_digit(int(d, 16)) for d in f"{ord(c):X}")
    forms.append(f"&#(?:0*{ord(c)}|[xX]0*{hex_code});")
    return "(?:" + "|".join(forms) + ")"


def _utf8(text: str) -> bytes:
    try:
        # An environment value's undecodable bytes come back as the bytes they were.
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a lone surrogate that stands for no byte
        return text.encode("utf-8", "surrogatepass")


def _hex_digit(n: int) -> str:
    digit = "0123456789ABCDEF"[n]
    return digit if n < 10 else f"[{digit}{digit.lower()}]"


def base64_forms(secret: str) -> frozenset[str]:
    """``secret`` in base64 (standard and URL-safe, padded or not), on its own or inside a
    longer base64 text (an HTTP Basic header): then only the characters made of the
    secret's bits alone, which are the same whatever bytes surround it.
    """
    data = _utf8(secret)
    forms: set[str] = set()
    for shift in range(3):
        text = base64.b64encode(bytes(shift) + data).decode()
        forms.add(text[-(-8 * shift // 6) : 8 * (shift + len(data)) // 6])
        if shift == 0:
            forms |= {text, text.rstrip("=")}
    forms |= {form.translate(_URL_SAFE) for form in forms}
    return frozenset(form for form in forms if len(form) >= _MIN_SECRET_LEN)


_URL_SAFE = str.maketrans("+/", "-_")


@dataclass(frozen=True, slots=True)
class _Plan:
    """What redacting one set of secrets takes, worked out once for the set."""

    pattern: re.Pattern[str] | None
    """Every secret in its text encodings (:func:`secret_pattern`), longest secret first."""
    anchors: tuple[str, ...]
    """A text that holds none of these holds no match of ``pattern``: the longest run of
    letters and digits of each secret (``""`` for a secret with no run worth testing)."""
    forms: tuple[str, ...]
    """Base64 forms of the secrets, longest first (a form inside another is replaced after
    it, so no fragment of the longer one is left)."""
    prefixes: tuple[str, ...]
    """The distinct first few characters of ``forms``: a text holding none holds no form."""

    @property
    def empty(self) -> bool:
        """True when there is no secret to look for."""
        return self.pattern is None and not self.forms

    def apply(self, text: str) -> str:
        """``text`` with every match replaced."""
        if self.pattern is not None:
            for anchor in self.anchors:
                if anchor in text:
                    text = self.pattern.sub(REDACTED, text)
                    break
        for prefix in self.prefixes:
            if prefix in text:
                for form in self.forms:
                    if form in text:
                        text = text.replace(form, REDACTED)
                break
        return text


_NO_PLAN = _Plan(None, (), (), ())
_plans: dict[tuple[str, ...], _Plan] = {}
_last_plan: tuple[Sequence[str], _Plan] = ((), _NO_PLAN)


def _plan(secrets: Sequence[str]) -> _Plan:
    global _last_plan  # noqa: PLW0603 - one process-wide memo, read on every redaction
    last = _last_plan
    # The memoised secret_values() tuple comes back on every call: no hashing at all.
    # Only a tuple, which cannot change behind the memo's back.
    if last[0] is secrets and type(secrets) is tuple:
        return last[1]
    key = tuple(secrets)
    plan = _plans.get(key)
    if plan is None:
        plan = _make_plan(key)
        if len(_plans) >= 64:  # credentials rarely change: this only bounds a leak
            _plans.clear()
        _plans[key] = plan
    _last_plan = (secrets, plan)
    return plan


def _make_plan(secrets: tuple[str, ...]) -> _Plan:
    raw = sorted({s for s in secrets if s}, key=len, reverse=True)
    if not raw:
        return _NO_PLAN
    pattern = re.compile("|".join(secret_pattern(s) for s in raw))
    anchors = {max(_ALNUM_RUN.findall(s) or [""], key=len) for s in raw}
    if any(len(anchor) < _ANCHOR_MIN for anchor in anchors):
        anchors = {""}  # a secret of punctuation: every text is searched
    forms = frozenset().union(*(base64_forms(s) for s in raw if len(s) >= _MIN_SECRET_LEN))
    ordered = tuple(sorted(forms, key=len, reverse=True))
    return _Plan(
        pattern=pattern,
        anchors=tuple(sorted(anchors, key=len)),
        forms=ordered,
        prefixes=tuple({form[:_MIN_SECRET_LEN]: None for form in ordered}),
    )


def redact_text(text: str, secrets: Sequence[str] | None = None) -> str:
    """``text`` with every known secret value, in every encoding, replaced.

    ``secrets`` replaces :func:`secret_values` (a provider adds the key it was given).
    """
    return _plan(secret_values() if secrets is None else secrets).apply(text)


def redact(value: Any, secrets: Sequence[str] | None = None) -> Any:
    """A copy of a JSON-like value with secret keys and secret values removed.

    ``secrets`` is :func:`secret_values` taken once for several values.
    """
    return _redact(value, _plan(secret_values() if secrets is None else secrets))


_ATOMS = frozenset({int, float, bool, type(None)})


def _redact(value: Any, plan: _Plan) -> Any:
    kind = type(value)
    if kind in _ATOMS:  # the common cases first: exact types, before the slower ABC checks
        return value
    if kind is str or isinstance(value, str):
        return plan.apply(value)
    if kind is dict or isinstance(value, Mapping):
        if plan.empty and _clean(value):
            return dict(value)  # nothing to redact: no secret values, no secret keys
        return {
            k: (REDACTED if isinstance(k, str) and _is_secret_key(k, v) else _redact(v, plan))
            for k, v in value.items()
        }
    if kind is list or kind is tuple or isinstance(value, list | tuple):
        return [_redact(v, plan) for v in value]
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
