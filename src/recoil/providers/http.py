"""Shared HTTP plumbing for the remote provider adapters (ComfyUI, fal, Replicate).

One place turns everything httpx can say into a :class:`ProviderError`:

- a response that is not 2xx becomes an error whose ``retryable`` flag follows
  SPEC section 7 (408, 409, 425, 429 and 5xx are transient; other 4xx are
  permanent), with the vendor's own message from the body and the
  ``Retry-After`` wait when one is given;
- a transport error becomes a retryable error, except when a request that is
  not idempotent may already have reached the server (the connection dropped
  after sending): that is an *unknown outcome*, which is never re-sent, by
  this run or a later one (SPEC 7). A request that never left (a URL that is
  not one, an unsupported scheme, connection refused, a host name not found,
  a connect timeout) is a definite failure, never an unknown outcome: a bad
  URL is permanent, the rest retryable, and the message names the URL and the
  setting to check;
- every message is scrubbed of the adapter's secrets and of every secret
  recoil knows, in every encoding (httpx messages may carry URLs and headers,
  and servers quote what they were sent), before it is shortened, so that no
  cut leaves part of a secret behind.

It also downloads outputs (remote URLs expire, so adapters fetch them at once)
and guesses MIME types from file names. The hosted-API adapters' shared base is
:class:`recoil.providers.hosted.HostedProvider`.
"""

from __future__ import annotations

import base64
import binascii
import email.utils
import json
import mimetypes
import socket
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from recoil.errors import ProviderError
from recoil.records.redact import redact_text, secret_values

TRANSIENT_STATUS = frozenset({408, 409, 425, 429})
EXPIRED_STATUS = frozenset({403, 404, 410})
_MAX_DETAIL = 400
REACH_TIMEOUT_S = 5.0
"""How long preflight waits for any answer from a hosted provider's base URL."""
_NEVER_SENT = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
    httpx.UnsupportedProtocol,
    httpx.InvalidURL,
)
"""Failures that happen before a byte of the request is written."""
_BAD_URL = (httpx.UnsupportedProtocol, httpx.InvalidURL)

MIME_BY_EXT: Mapping[str, str] = {
    "png": "image/png",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "webp": "image/webp",
    "gif": "image/gif",
    "mp4": "video/mp4",
    "webm": "video/webm",
    "mov": "video/quicktime",
    "wav": "audio/wav",
    "flac": "audio/flac",
    "mp3": "audio/mpeg",
    "ogg": "audio/ogg",
    "m4a": "audio/mp4",
}
"""MIME type by lower-case file extension, for the media recoil stores."""


def default_timeout(options: Mapping[str, Any]) -> httpx.Timeout:
    """Client timeouts: ``connect_timeout_s`` (10) and ``timeout_s`` (60) from options."""
    read = float(options.get("timeout_s", 60.0))
    return httpx.Timeout(read, connect=float(options.get("connect_timeout_s", 10.0)))


@dataclass(frozen=True, slots=True)
class Boundary:
    """Where an adapter meets the network: its name and the secrets it must never leak."""

    provider: str
    secrets: tuple[str, ...] = ()
    url_setting: str = "base_url"
    """The ``[providers.<name>]`` setting the request URLs come from, named in hints."""

    def scrub(self, text: str) -> str:
        """``text`` without the adapter's secrets or any secret recoil knows, in any encoding."""
        return redact_text(text, (*self.secrets, *secret_values()))

    def error(self, message: str, **kwargs: Any) -> ProviderError:
        """A ProviderError whose message is prefixed with the provider and scrubbed."""
        return ProviderError(self.scrub(f"{self.provider}: {message}"), **kwargs)

    async def send(
        self,
        client: httpx.AsyncClient,
        method: str,
        url: str,
        *,
        what: str,
        idempotent: bool = True,
        **kwargs: Any,
    ) -> httpx.Response:
        """Send one request; return the 2xx response or raise a translated ProviderError.

        ``what`` names the call in messages (``"submit"``, ``"status"``).
        ``idempotent=False`` marks a request whose loss after sending leaves
        an unknown outcome (``ProviderError.unknown_outcome``).
        """
        try:
            response = await client.request(method, url, **kwargs)
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise self.transport_error(exc, url, what=what, idempotent=idempotent) from None
        if response.is_success:
            return response
        raise self.status_error(response, what=what)

    def transport_error(
        self, exc: httpx.HTTPError | httpx.InvalidURL, url: str, *, what: str, idempotent: bool
    ) -> ProviderError:
        """Translate an httpx transport error (no HTTP answer came back)."""
        kind = type(exc).__name__
        reason = transport_reason(exc)
        # Output URLs come from the provider's answers: only the others follow base_url.
        setting = (
            ""
            if what == "download"
            else f"providers.{self.provider}.{self.url_setting} in recoil.toml"
        )
        if isinstance(exc, _BAD_URL):
            return self.error(
                f"{what}: cannot send a request to {short_url(url)}: {reason}; the request was "
                f"not sent{f'; check {setting}' if setting else ''}",
                retryable=False,
                error_type="invalid_url",
            )
        if not may_have_been_sent(exc):
            return self.error(
                f"{what}: cannot connect to {short_url(url)} ({reason}); the request was not "
                f"sent; check {f'{setting} and ' if setting else ''}your network",
                retryable=True,
                error_type="timeout" if isinstance(exc, httpx.TimeoutException) else "connection",
            )
        if not idempotent:
            return self.error(
                f"{what}: the connection to {_host(url)} was lost after the request was sent "
                f"({kind}: {reason}), so the job may or may not exist at the provider, and may "
                "be billed. It was not sent again, and no later `recoil run` sends it (that "
                "could pay twice): check the provider's dashboard, and queue a new take with "
                "`recoil retake` to make it anew.",
                retryable=False,
                unknown_outcome=True,
                error_type="unknown_outcome",
            )
        return self.error(
            f"{what}: the connection to {_host(url)} failed before an answer came "
            f"({kind}: {reason})",
            retryable=True,
            error_type="timeout" if isinstance(exc, httpx.TimeoutException) else "connection",
        )

    def status_error(self, response: httpx.Response, *, what: str) -> ProviderError:
        """Translate a non-2xx response, with the vendor's message and Retry-After."""
        status = response.status_code
        retryable = status in TRANSIENT_STATUS or status >= 500
        detail = error_detail(response, self.scrub)
        hint = ""
        if status in (401, 403) and what != "download":
            hint = " (check the API key or token in the environment or credentials file)"
        elif status == 429:
            hint = " (rate limited)"
        return self.error(
            f"{what} failed with HTTP {status}{hint}: {detail}",
            retryable=retryable,
            provider_status=str(status),
            retry_after_s=parse_retry_after(response.headers.get("retry-after")),
            error_type=f"http_{status}",
        )

    async def download(self, client: httpx.AsyncClient, url: str) -> tuple[bytes, str]:
        """Fetch one output URL (no credentials sent); return its bytes and content type.

        ``data:`` URIs are decoded in place. A 403/404/410 means the URL has
        expired: a permanent error that says so.
        """
        if url.startswith("data:"):
            return decode_data_uri(url, boundary=self)
        try:
            response = await client.get(url)
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise self.transport_error(exc, url, what="download", idempotent=True) from None
        if response.status_code in EXPIRED_STATUS:
            raise self.error(
                f"output {short_url(url)} is gone (HTTP {response.status_code}): the "
                "provider's output URL expired or was deleted before it was downloaded; "
                "run the step again to regenerate it",
                retryable=False,
                provider_status=str(response.status_code),
                error_type="output_expired",
            )
        if not response.is_success:
            raise self.status_error(response, what="download")
        content_type = response.headers.get("content-type", "").split(";")[0].strip()
        return response.content, content_type

    def json_object(self, response: httpx.Response, what: str) -> dict[str, Any]:
        """The JSON object a 2xx answer holds, or a permanent protocol error quoting it."""
        try:
            data = response.json()
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise self.error(
                f"{what}: expected a JSON object, got HTTP {response.status_code} "
                f"{self.scrub(response.text)[:80]!r}",
                retryable=False,
                error_type="protocol",
            )
        return data


def may_have_been_sent(exc: httpx.HTTPError | httpx.InvalidURL) -> bool:
    """Whether the server may have received the request before ``exc`` happened."""
    return not isinstance(exc, _NEVER_SENT)


def transport_reason(exc: BaseException) -> str:
    """What went wrong on the way to the server, in words (``connection refused``)."""
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused"
        if isinstance(cause, socket.gaierror):
            return f"host name not found ({cause.strerror})"
        cause = cause.__cause__ or cause.__context__
    if isinstance(exc, httpx.TimeoutException):
        return f"timed out ({type(exc).__name__})"
    return str(exc) or type(exc).__name__


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (seconds or an HTTP date)."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def error_detail(response: httpx.Response, scrub: Callable[[str], str] = redact_text) -> str:
    """The vendor's error message from a response body, scrubbed, then shortened."""
    try:
        body: Any = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        text = response.text.strip()
        return _shorten(scrub(text)) if text else response.reason_phrase or "no detail"
    if isinstance(body, dict):
        for key in ("detail", "error", "message", "title"):
            value = body.get(key)
            if value:
                if isinstance(value, dict):
                    value = value.get("message") or value
                return _shorten(scrub(value if isinstance(value, str) else json.dumps(value)))
    return _shorten(scrub(json.dumps(body)))


def mime_for(name: str, content_type: str = "") -> str | None:
    """The MIME type of a media file from its extension, else its content type."""
    path = urlsplit(name).path if "://" in name else name
    ext = path.rsplit(".", 1)[-1].lower() if "." in path else ""
    if ext in MIME_BY_EXT:
        return MIME_BY_EXT[ext]
    base = content_type.split(";", maxsplit=1)[0].strip().lower()
    if base.startswith(("image/", "video/", "audio/")):
        return base
    guessed, _ = mimetypes.guess_type(path)
    return guessed if guessed and guessed.startswith(("image/", "video/", "audio/")) else None


def decode_data_uri(uri: str, *, boundary: Boundary) -> tuple[bytes, str]:
    """Bytes and MIME type of a base64 ``data:`` URI."""
    header, _, payload = uri.partition(",")
    mime = header.removeprefix("data:").split(";")[0] or "application/octet-stream"
    try:
        return base64.b64decode(payload, validate=True), mime
    except (binascii.Error, ValueError):
        raise boundary.error(
            "an output data URI is not valid base64", retryable=False, error_type="invalid_output"
        ) from None


def data_uri(data: bytes, mime: str) -> str:
    """A base64 ``data:`` URI for uploading small inputs inline."""
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


def role_names(mimes: Iterable[str]) -> list[str]:
    """Output names by media role: ``image``, ``video``, ``audio``, then ``image_1``..."""
    seen: dict[str, int] = {}
    names = []
    for mime in mimes:
        role = mime.split("/")[0] if mime.split("/")[0] in ("image", "video", "audio") else "file"
        count = seen.get(role, 0)
        seen[role] = count + 1
        names.append(role if count == 0 else f"{role}_{count}")
    return names


def short_url(url: str) -> str:
    """A URL without its query string (which may carry signatures), for messages."""
    try:
        parts = urlsplit(url)
    except ValueError:  # not a URL at all (an unclosed "[" in its host)
        return _shorten(url.partition("?")[0])
    if not parts.netloc:
        return _shorten(url.partition("?")[0])
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


def _host(url: str) -> str:
    try:
        return urlsplit(url).netloc or short_url(url)
    except ValueError:
        return short_url(url)


def _shorten(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _MAX_DETAIL else text[: _MAX_DETAIL - 3] + "..."
