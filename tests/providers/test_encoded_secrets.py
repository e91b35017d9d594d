"""A key a server echoes back encoded stays out of messages, receipts and the store (SPEC 3).

fal keys are ``key id:key secret``, and other keys hold ``/+=``: a server that quotes the
request it refused quotes them percent-encoded, JSON-escaped or in base64.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest

from recoil.dispatch import dispatch_async
from recoil.errors import DispatchError
from recoil.model.context import DispatchContext
from recoil.model.provider_config import ProviderConfig
from recoil.store.store import ProjectStore
from tests.providers.servers import fal, replicate

KEY = "abcd1234-ef56-7890-abcd-ef1234567890:0123/456789+abcdef=0123456789abcdef"


def _forms(key: str) -> dict[str, str]:
    """The key as servers echo it, worked out here with the stdlib alone."""
    once = quote(key, safe="")
    return {
        "percent-encoded": once,
        "percent-encoded, lower-case hex": once.replace("%3A", "%3a").replace("%2F", "%2f"),
        "form-encoded": quote_plus(key),
        "JSON-escaped": json.dumps(key)[1:-1].replace("/", "\\/"),
        "base64": base64.b64encode(key.encode()).decode(),
        "raw": key,
    }


@pytest.fixture(params=["fal", "replicate"])
def refusing(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, clean_env: None
) -> Iterator[tuple[str, ProviderConfig]]:
    """A loopback provider that refuses the submit with a 400 quoting the key every way.

    The key comes from the environment, as a user's would.
    """
    name = str(request.param)
    echo = " ".join(f"{label}={form}" for label, form in _forms(KEY).items())
    if name == "fal":
        monkeypatch.setenv("FAL_KEY", KEY)
        url, control = fal.start(key=KEY)
        base, path, model = url, "/fal-ai", "fal-ai/flux/dev"
        schema = {"schema_url": url + fal.SCHEMA_PATH}
    else:
        monkeypatch.setenv("REPLICATE_API_TOKEN", KEY)
        url, control = replicate.start(token=KEY)
        base, path, model = f"{url}/v1", "/v1/models/acme/painter/predictions", "acme/painter"
        schema = {}
    control.script("POST", path, status=400, body={"detail": f"bad request ({echo})"})
    try:
        options = {"base_url": base, **schema, "models": {"keyframe": model}}
        yield name, ProviderConfig(options=options)
    finally:
        control.stop()


def test_an_echoed_key_is_redacted_in_every_form_everywhere(
    refusing: tuple[str, ProviderConfig], tmp_path: Path
) -> None:
    """The error quotes the server, but no form of the key reaches the message, the receipt
    log or the store built from it."""
    name, config = refusing
    context = DispatchContext(
        project=tmp_path, provider_config={name: config}, default_provider=name
    )
    with pytest.raises(DispatchError) as info:
        asyncio.run(dispatch_async("keyframe", {"prompt": "a fox", "seed": 1}, context=context))
    assert info.value.receipt.error is not None
    message = info.value.receipt.error.message
    assert "HTTP 400" in message and "[redacted]" in message
    ProjectStore.open(tmp_path).close()  # the store indexes the log
    assert (tmp_path / "recoil.db").exists()
    texts = {"message": message, "error": str(info.value)}
    texts |= {str(p): p.read_bytes().decode("latin-1") for p in tmp_path.rglob("*") if p.is_file()}
    leaks = [
        f"{label} in {where}"
        for label, form in _forms(KEY).items()
        for where, text in texts.items()
        if form in text
    ]
    assert leaks == []
