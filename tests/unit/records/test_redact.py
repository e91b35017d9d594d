"""Secret redaction (SPEC 3: secrets never appear in receipts, sidecars, logs or errors)."""

from __future__ import annotations

import base64
import html
import json
import re
from urllib.parse import quote, quote_plus

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recoil.records import redact as redact_mod
from recoil.records.redact import REDACTED, is_secret_name, redact, redact_text, remember


@pytest.mark.parametrize(
    "name",
    [
        "api_key",
        "FAL_KEY",
        "REPLICATE_API_TOKEN",
        "Authorization",
        "x-api-key",
        "password",
        "client_secret",
        "auth",
        "cookie",
        "credentials",
        "apikey",
    ],
)
def test_secret_names(name: str) -> None:
    """SPEC 3: keys and variables that name a secret are recognised."""
    assert is_secret_name(name)


@pytest.mark.parametrize(
    "name", ["prompt", "keyframe", "monkey", "max_tokens", "author", "seed", "keyboard"]
)
def test_ordinary_names(name: str) -> None:
    """SPEC 3: ordinary names are not taken for secrets."""
    assert not is_secret_name(name)


def test_redact_by_key_keeps_numbers_and_hashes(clean_env: None) -> None:
    """SPEC 3: string values under secret-looking keys are removed, at any depth; numbers
    (max_tokens) and our own sha256 fields are kept."""
    value = {
        "api_key": "abc",
        "headers": [{"Authorization": "Bearer xyz"}],
        "max_tokens": 512,
        "request_sha256": "a" * 64,
        "prompt": "hello",
    }
    assert redact(value) == {
        "api_key": REDACTED,
        "headers": [{"Authorization": REDACTED}],
        "max_tokens": 512,
        "request_sha256": "a" * 64,
        "prompt": "hello",
    }
    assert value["api_key"] == "abc"  # a copy, the input is untouched


def test_redact_environment_values_anywhere(
    clean_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SPEC 3: the value of a secret-looking environment variable is removed wherever it
    appears inside a string; short values are too common to treat as secrets."""
    monkeypatch.setenv("FAL_KEY", "sk-env-abcdef")
    monkeypatch.setenv("SHORT_TOKEN", "ab")
    monkeypatch.setenv("HOME_DIR", "not-a-secret-name")
    assert redact_text("curl -H 'Key sk-env-abcdef' x") == f"curl -H 'Key {REDACTED}' x"
    assert redact({"note": ["sk-env-abcdef!"]}) == {"note": [f"{REDACTED}!"]}
    assert redact_text("ab not-a-secret-name") == "ab not-a-secret-name"


def test_remembered_secrets(clean_env: None) -> None:
    """SPEC 3: secrets from a credentials file are redacted like environment ones."""
    secret = "cred-file-secret-7f3a9"
    remember([secret, "tiny"])
    assert redact_text(f"x{secret}y tiny") == f"x{REDACTED}y tiny"


def test_longest_secret_wins(clean_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """SPEC 3: a secret containing another is replaced whole, leaving no fragment."""
    monkeypatch.setenv("A_TOKEN", "abcdef")
    monkeypatch.setenv("B_TOKEN", "abcdef-ghijkl")
    assert redact_text("abcdef-ghijkl") == REDACTED


_RESERVED = ":/+=?&%#@ \"'<>\\;,!$*()[]{}|^`~é\n"
_secrets = st.text(
    alphabet=st.sampled_from("abcdefXYZ0123456789-_." + _RESERVED), min_size=6, max_size=40
).filter(lambda s: any(c in _RESERVED for c in s))


def _lower_hex(text: str) -> str:
    return re.sub(r"%[0-9A-F]{2}", lambda m: m.group().lower(), text)


def _stdlib_forms(secret: str) -> dict[str, str]:
    """The encodings servers and libraries write, worked out here with the stdlib alone."""
    data = secret.encode()
    std = base64.b64encode(data).decode()
    url = base64.urlsafe_b64encode(data).decode()
    once = quote(secret, safe="")
    forms = {
        "quote safe=''": once,
        "quote": quote(secret),
        "quote_plus": quote_plus(secret),
        "quoted twice": quote(once, safe=""),
        "RFC 3986 path segment (sub-delims kept)": quote(secret, safe="!$&'()*+,;=:@"),
        "encodeURIComponent": quote(secret, safe="!'()*"),
        "json": json.dumps(secret)[1:-1],
        "json unicode": json.dumps(secret, ensure_ascii=False)[1:-1],
        "json slashes escaped": json.dumps(secret)[1:-1].replace("/", "\\/"),
        "json upper-case hex": re.sub(
            r"\\u[0-9a-f]{4}",
            lambda m: m.group().upper().replace("\\U", "\\u"),
            json.dumps(secret)[1:-1],
        ),
        "html": html.escape(secret),
        "html, no quotes": html.escape(secret, quote=False),
        "html numeric": "".join(c if c.isalnum() else f"&#{ord(c)};" for c in secret),
        "repr": repr(secret)[1:-1],
        "base64": std,
        "base64 unpadded": std.rstrip("="),
        "base64 url-safe": url,
        "base64 url-safe unpadded": url.rstrip("="),
    }
    for name in ("quote safe=''", "quote", "quote_plus", "quoted twice"):
        forms[f"{name} lower-case hex"] = _lower_hex(forms[name])
    # One character's escape in lower case, the rest upper: hex case per character.
    forms["mixed-case hex"] = re.sub(r"%[0-9A-F]{2}", lambda m: m.group().lower(), once, count=1)
    return forms


@settings(max_examples=150, deadline=None)
@given(secret=_secrets, before=st.text(max_size=20), after=st.text(max_size=20))
def test_every_encoding_of_a_secret_is_redacted(secret: str, before: str, after: str) -> None:
    """SPEC 3: a secret never appears in any encoding: each form a server might echo it in,
    inside any text, comes out replaced, with nothing of the form left."""
    for name, form in _stdlib_forms(secret).items():
        text = f"{before}{form}{after}"
        redacted = redact_text(text, (secret,))
        assert form not in redacted, name
        assert REDACTED in redacted, name
        assert redact({"detail": [text]}, (secret,))["detail"][0] == redacted, name


@settings(max_examples=150, deadline=None)
@given(secret=_secrets, before=st.binary(max_size=8), after=st.binary(max_size=8))
def test_a_secret_inside_a_longer_base64_text_is_redacted(
    secret: str, before: bytes, after: bytes
) -> None:
    """SPEC 3: base64 of a longer value holding the secret (an HTTP Basic header, an
    encoded JSON body) is redacted wherever the secret falls in it."""
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        text = encode(before + secret.encode() + after).decode()
        assert REDACTED in redact_text(f"Basic {text}", (secret,))


def test_a_fal_key_echoed_url_encoded_from_the_environment(
    clean_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SPEC 3: a fal key (``id:secret``) that a server sends back percent-encoded is
    redacted like the key itself, through the environment and the memoised scan."""
    key = "abcd1234-ef56-7890-abcd-ef1234567890:0123456789abcdef0123456789abcdef"
    monkeypatch.setenv("FAL_KEY", key)
    encoded = quote(key, safe="")
    for form in (
        encoded,
        encoded.lower(),
        quote_plus(key),
        base64.b64encode(key.encode()).decode(),
    ):
        message = redact_text(f"GET /x?key={form} failed")
        assert message == f"GET /x?key={REDACTED} failed"
        assert redact({"note": [form]}) == {"note": [REDACTED]}


def test_a_secret_with_no_letters_or_digits_is_still_found(clean_env: None) -> None:
    """With no run of letters to test for first, every text is searched."""
    secret = "+/=:+/=:"
    assert redact_text(f"x {quote(secret, safe='')} y", (secret,)) == f"x {REDACTED} y"


def test_undecodable_environment_bytes_are_matched_as_bytes(clean_env: None) -> None:
    """A value with bytes that are not UTF-8 (held as lone surrogates) is found percent-encoded
    as the bytes it was."""
    secret = "abc\udcffdef:ghi"
    assert redact_text("k=abc%FFdef%3Aghi", (secret,)) == f"k={REDACTED}"


def test_what_a_secret_set_takes_is_worked_out_once(clean_env: None) -> None:
    """The encodings are found once per set of secrets, not on every call (redaction runs on
    every string of every receipt)."""
    secrets = ("abcd1234-ef56:0123456789abcdef", "r8_tokenvalue+/=")
    first = redact_mod._plan(secrets)
    assert redact_mod._plan(secrets) is first
    assert redact_mod._plan(list(secrets)) is first  # an equal set, given another way
    assert redact_mod._plan(("other-secret-1",)) is not first


def test_text_near_a_secret_is_left_alone(clean_env: None) -> None:
    """Only the secret goes: the text around it, its letters elsewhere and other escapes
    stay as they were."""
    secret = "abcd1234:efgh5678"
    text = "abcd1234 and efgh5678 %3A &amp; abcd1234%3Aefgh5679"
    assert redact_text(text, (secret,)) == text


def test_no_secrets_known_leaves_strings_untouched(clean_env: None) -> None:
    """The fast path: nothing known, nothing replaced (and no string scanned)."""
    text = "YWJjZDEy %3A &amp; plain"
    assert redact_text(text) == text
    assert redact({"a": [text]}) == {"a": [text]}
