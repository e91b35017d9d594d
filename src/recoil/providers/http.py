"""Shared HTTP plumbing for the remote provider adapters (ComfyUI, fal, Replicate).

One place turns everything httpx can say into a :class:`ProviderError`:

- a response that is not 2xx becomes an error whose ``retryable`` flag follows
  SPEC section 7 (408, 409, 425, 429 and 5xx are transient; other 4xx are
  permanent), with the vendor's own message from the body and the
  ``Retry-After`` wait when one is given;
- a transport error becomes a retryable error, except when a request that is
  not idempotent may already have reached the server (the connection dropped
  after sending): that is an *unknown outcome*, which must never be re-sent
  blindly;
- every message is scrubbed of the adapter's secrets and of every secret
  recoil knows (httpx messages may carry URLs and headers).

It also downloads outputs (remote URLs expire, so adapters fetch them at once)
and guesses MIME types from file names.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import email.utils
import json
import mimetypes
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from recoil.errors import ProviderError
from recoil.model.requests import Request
from recoil.providers.base import ProviderConfig
from recoil.records.redact import redact_text

TRANSIENT_STATUS = frozenset({408, 409, 425, 429})
EXPIRED_STATUS = frozenset({403, 404, 410})
_MAX_DETAIL = 400

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

    def scrub(self, text: str) -> str:
        """``text`` without the adapter's secrets or any secret recoil knows."""
        for secret in self.secrets:
            if secret:
                text = text.replace(secret, "[redacted]")
        return redact_text(text)

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
        except httpx.HTTPError as exc:
            raise self.transport_error(exc, url, what=what, idempotent=idempotent) from None
        if response.is_success:
            return response
        raise self.status_error(response, what=what)

    def transport_error(
        self, exc: httpx.HTTPError, url: str, *, what: str, idempotent: bool
    ) -> ProviderError:
        """Translate an httpx transport error (no HTTP answer came back)."""
        host = urlsplit(url).netloc or url
        kind = type(exc).__name__
        reason = str(exc) or kind
        if not idempotent and may_have_been_sent(exc):
            return self.error(
                f"{what}: the connection to {host} was lost after the request was sent "
                f"({kind}: {reason}); the job may or may not exist at the provider. "
                "It was not sent again, to avoid paying twice: check the provider's "
                "dashboard, then run again.",
                retryable=False,
                unknown_outcome=True,
                error_type="unknown_outcome",
            )
        return self.error(
            f"{what}: cannot reach {host} ({kind}: {reason})",
            retryable=True,
            error_type="timeout" if isinstance(exc, httpx.TimeoutException) else "connection",
        )

    def status_error(self, response: httpx.Response, *, what: str) -> ProviderError:
        """Translate a non-2xx response, with the vendor's message and Retry-After."""
        status = response.status_code
        retryable = status in TRANSIENT_STATUS or status >= 500
        detail = error_detail(response)
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
        except httpx.HTTPError as exc:
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


class HostedProvider:
    """What the hosted-API adapters (fal, Replicate) share: their settings and client.

    Options: ``base_url`` (for a test server or a proxy) and ``models``
    (modality -> model). The key comes from the variable ``key_variable`` in the environment
    or the credentials file, and the boundary keeps it out of every error.
    """

    name: str
    default_base_url: str
    key_variable: str
    remote = True

    def __init__(self, config: ProviderConfig) -> None:
        options = config.options
        self.config = config
        self.base_url = str(options.get("base_url", self.default_base_url)).rstrip("/")
        self.models: Mapping[str, str] = dict(options.get("models", {}))
        self._secret = config.secret(self.key_variable)
        self._boundary = Boundary(self.name, (self._secret,) if self._secret else ())
        self._client = httpx.AsyncClient(timeout=default_timeout(options))

    def model_for(self, request: Request) -> str:
        """The request's model, else the one configured for its modality."""
        return request.model or self.models.get(request.modality, "")


def may_have_been_sent(exc: httpx.HTTPError) -> bool:
    """Whether the server may have received the request before ``exc`` happened."""
    return not isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)


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


def error_detail(response: httpx.Response) -> str:
    """The vendor's error message from a response body, shortened."""
    try:
        body: Any = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        text = response.text.strip()
        return _shorten(text) if text else response.reason_phrase or "no detail"
    if isinstance(body, dict):
        for key in ("detail", "error", "message", "title"):
            value = body.get(key)
            if value:
                if isinstance(value, dict):
                    value = value.get("message") or value
                return _shorten(value if isinstance(value, str) else json.dumps(value))
    return _shorten(json.dumps(body))


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


async def inline_files(request: Any, fields: Mapping[str, str]) -> dict[str, str]:
    """``data:`` URIs of a request's input files: request field -> vendor input key."""
    found: dict[str, str] = {}
    for name, key in fields.items():
        path = getattr(request, name, None)
        if isinstance(path, str):
            data = await asyncio.to_thread(Path(path).read_bytes)
            mime = mime_for(path) or mimetypes.guess_type(path)[0] or "application/octet-stream"
            found[key] = data_uri(data, mime)
    return found


def merge_params(body: dict[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
    """``body`` with the payload's params merged over it; a ``None`` param removes the key."""
    for key, value in params.items():
        if value is None:
            body.pop(key, None)
        else:
            body[key] = value
    return body


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
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}" if parts.netloc else _shorten(url)


def _shorten(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _MAX_DETAIL else text[: _MAX_DETAIL - 3] + "..."
