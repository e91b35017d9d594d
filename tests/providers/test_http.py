"""The shared HTTP boundary: Retry-After, MIME guesses, vendor messages, secrets."""

from __future__ import annotations

import email.utils
import time

import httpx
import pytest

from recoil.providers.http import (
    Boundary,
    error_detail,
    may_have_been_sent,
    mime_for,
    parse_retry_after,
    role_names,
)


@pytest.mark.parametrize(
    ("value", "expected"), [("5", 5.0), ("1.5", 1.5), ("-3", 0.0), ("", None), ("soon", None)]
)
def test_retry_after_seconds(value: str, expected: float | None) -> None:
    assert parse_retry_after(value) == expected


def test_retry_after_http_date() -> None:
    when = email.utils.formatdate(time.time() + 30, usegmt=True)
    seconds = parse_retry_after(when)
    assert seconds is not None and 25 <= seconds <= 31


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
