"""Secret redaction (SPEC 3: secrets never appear in receipts, sidecars, logs or errors)."""

from __future__ import annotations

import pytest

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
