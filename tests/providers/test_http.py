"""The shared HTTP boundary: Retry-After, MIME guesses, vendor messages, secrets."""

from __future__ import annotations

import asyncio
import email.utils
import socket
import time
from typing import Any
from urllib.parse import quote, quote_plus

import httpx
import pytest

from recoil.errors import ProviderError
from recoil.providers.http import (
    Boundary,
    error_detail,
    may_have_been_sent,
    mime_for,
    parse_retry_after,
    role_names,
    transport_reason,
)


@pytest.mark.parametrize(
    ("value", "expected"), [("5", 5.0), ("1.5", 1.5), ("-3", 0.0), ("", None), ("soon", None)]
)
def test_retry_after_seconds(value: str, expected: float | None) -> None:
    assert parse_retry_after(value) == expected


def test_retry_after_http_date() -> None:
    when = int(time.time()) + 30  # an HTTP date has whole seconds
    before = time.time()
    seconds = parse_retry_after(email.utils.formatdate(when, usegmt=True))
    after = time.time()
    # The seconds left until the date, as of some moment during the call.
    assert seconds is not None and when - after <= seconds <= when - before


def test_mime_from_extension_then_content_type() -> None:
    assert mime_for("ComfyUI_00001_.webp") == "image/webp"
    assert mime_for("https://x/y/clip.MP4?sig=1") == "video/mp4"
    assert mime_for("a.flac") == "audio/flac"
    assert mime_for("blob", "image/png; charset=binary") == "image/png"
    assert mime_for("notes.txt") is None


def test_role_names_number_extras() -> None:
    assert role_names(["image/png", "image/png", "video/mp4", "audio/wav"]) == [
        "image",
        "image_1",
        "video",
        "audio",
    ]


def test_error_detail_reads_vendor_bodies() -> None:
    assert error_detail(httpx.Response(429, json={"detail": "slow down"})) == "slow down"
    assert error_detail(httpx.Response(400, json={"error": {"message": "bad"}})) == "bad"
    assert error_detail(httpx.Response(502, text="<html>Bad gateway</html>")) == (
        "<html>Bad gateway</html>"
    )


def test_status_error_scrubs_the_secret() -> None:
    boundary = Boundary("fal", ("sk-live-abcdef",))
    response = httpx.Response(
        401, json={"detail": "key sk-live-abcdef is invalid"}, headers={"Retry-After": "2"}
    )
    error = boundary.status_error(response, what="submit")
    assert "sk-live-abcdef" not in str(error)
    assert (error.retryable, error.provider_status) == (False, "401")


def test_connect_errors_were_never_sent() -> None:
    assert not may_have_been_sent(httpx.ConnectError("refused"))
    assert may_have_been_sent(httpx.ReadTimeout("slow"))
    assert may_have_been_sent(httpx.RemoteProtocolError("dropped"))


FAL_STYLE_KEY = "abcd1234-ef56-7890-abcd-ef1234567890:0123456789abcdef0123456789abcdef"
"""fal keys are ``key id:key secret``: the colon is percent-encoded wherever a URL carries one."""


@pytest.mark.parametrize(
    "body",
    [
        {"text": f"<html>bad request to /x?fal_key={quote(FAL_STYLE_KEY, safe='')}</html>"},
        {"json": {"detail": f"invalid key {quote(FAL_STYLE_KEY, safe='').lower()}"}},
        {"json": {"detail": [{"loc": ["header"], "input": quote_plus(FAL_STYLE_KEY)}]}},
        {"text": "x" * 390 + quote(FAL_STYLE_KEY, safe="")},  # the cut falls inside the key
    ],
)
def test_a_fal_key_echoed_percent_encoded_never_reaches_the_message(
    clean_env: None, body: dict[str, Any]
) -> None:
    """SPEC 3: the error quotes the server's answer, but no form of the key, nor any piece of
    one, is left in it (the answer is scrubbed before it is shortened)."""
    boundary = Boundary("fal", (FAL_STYLE_KEY,))
    error = boundary.status_error(httpx.Response(400, **body), what="submit")
    key_id, _, key_secret = FAL_STYLE_KEY.partition(":")
    assert key_id[:8] not in str(error) and key_secret[:8] not in str(error)
    assert "[redacted]" in str(error)


def test_a_protocol_error_quotes_the_answer_scrubbed(clean_env: None) -> None:
    """A 2xx answer that is not JSON is quoted, scrubbed first, then cut to 80 characters."""
    boundary = Boundary("fal", (FAL_STYLE_KEY,))
    answer = httpx.Response(200, text="y" * 70 + quote(FAL_STYLE_KEY, safe=""))
    with pytest.raises(ProviderError) as info:
        boundary.json_object(answer, "submit")
    assert "abcd1234" not in str(info.value) and "[redac" in str(info.value)
    assert (info.value.retryable, info.value.error_type) == (False, "protocol")


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("notaurl/fal-ai/flux/dev", "missing an 'http://' or 'https://' protocol"),
        ("ftp://127.0.0.1/x", "unsupported protocol"),
        ("http://[::1/x", "Invalid port"),
    ],
)
def test_a_url_that_cannot_be_sent_is_permanent_and_never_an_unknown_outcome(
    url: str, reason: str
) -> None:
    """SPEC 7: a request that never left cannot have been billed: not 'may or may not exist',
    but a permanent error that says what to check."""

    async def send() -> ProviderError:
        async with httpx.AsyncClient() as client:
            with pytest.raises(ProviderError) as info:
                await Boundary("fal").send(client, "POST", url, what="submit", idempotent=False)
            return info.value

    error = asyncio.run(send())
    assert not error.unknown_outcome and not error.retryable
    assert error.error_type == "invalid_url"
    message = str(error)
    assert reason in message and "the request was not sent" in message
    assert "check providers.fal.base_url in recoil.toml" in message
    assert "may or may not" not in message and "\n" not in message


def test_errors_before_sending_were_never_sent() -> None:
    assert not may_have_been_sent(httpx.UnsupportedProtocol("no scheme"))
    assert not may_have_been_sent(httpx.InvalidURL("bad port"))
    assert not may_have_been_sent(httpx.ConnectTimeout("slow connect"))


def test_transport_reasons_in_words() -> None:
    """The cause under httpx's wrapper, as a person would say it."""
    refused = httpx.ConnectError("All connection attempts failed")
    refused.__cause__ = OSError("All connection attempts failed")
    refused.__cause__.__cause__ = ConnectionRefusedError(111, "Connect call failed")
    assert transport_reason(refused) == "connection refused"
    unknown_host = httpx.ConnectError("[Errno -2] Name or service not known")
    unknown_host.__cause__ = socket.gaierror(-2, "Name or service not known")
    assert transport_reason(unknown_host) == "host name not found (Name or service not known)"
    assert transport_reason(httpx.ConnectTimeout("")) == "timed out (ConnectTimeout)"


@pytest.mark.parametrize(
    ("url", "idempotent", "expected"),
    [
        ("http://[::1/x", True, "http://[::1/x"),
        ("notaurl/x?sig=abc", False, "notaurl/x"),
        ("https://cdn.example/o.png?sig=abc", True, "https://cdn.example/o.png"),
    ],
)
def test_transport_errors_name_the_url_without_its_query(
    url: str, idempotent: bool, expected: str
) -> None:
    """Any URL, even one ``urlsplit`` refuses, is shown cut at its query (signatures)."""
    for exc in (httpx.ConnectError("refused"), httpx.ReadTimeout("slow")):
        error = Boundary("fal").transport_error(exc, url, what="status", idempotent=idempotent)
        assert "sig=" not in str(error)
    refused = Boundary("fal").transport_error(
        httpx.ConnectError("refused"), url, what="status", idempotent=True
    )
    assert expected in str(refused)


def test_a_download_that_cannot_connect_does_not_blame_base_url() -> None:
    """Output URLs come from the provider's answers: the hint is the network, not recoil.toml."""
    error = Boundary("fal").transport_error(
        httpx.ConnectError("refused"), "https://cdn.example/o.png", what="download", idempotent=True
    )
    assert "base_url" not in str(error) and "check your network" in str(error)
    assert error.retryable and not error.unknown_outcome


def test_an_unknown_outcome_is_not_promised_a_resend() -> None:
    """SPEC 7: an unknown outcome is never re-sent blindly, so its message must not tell the
    user that running again sends it; it says how to look and how to make it on purpose."""
    error = Boundary("fal").transport_error(
        httpx.RemoteProtocolError("dropped"),
        "https://queue.fal.run/fal-ai/flux/dev",
        what="submit",
        idempotent=False,
    )
    message = str(error)
    assert error.unknown_outcome and not error.retryable
    assert "dashboard" in message and "recoil retake" in message
    assert "run again" not in message and "no later `recoil run` sends it" in message
