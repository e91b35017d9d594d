"""fal and Replicate base URLs: checked when built, reached at preflight, never "maybe billed"
when the request could not leave (SPEC 7 preflight and unknown outcomes, SPEC 8)."""

from __future__ import annotations

import asyncio
import json
import socket
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from typer.testing import CliRunner, Result

from recoil.dispatch import dispatch_async
from recoil.errors import ConfigError, DispatchError, ProviderError
from recoil.model.context import DispatchContext
from recoil.model.provider_config import ProviderConfig
from recoil.model.receipt import ReceiptStatus
from recoil.providers.fal import FalProvider
from recoil.providers.http import Boundary
from recoil.providers.replicate import ReplicateProvider
from tests.providers.servers import fal, replicate

SECRET = "sk-test-SECRET123"
Hosted = FalProvider | ReplicateProvider
HOSTED: dict[str, type[Hosted]] = {"fal": FalProvider, "replicate": ReplicateProvider}
MODELS = {"fal": "fal-ai/flux/dev", "replicate": "acme/painter"}


def _config(name: str, base_url: str) -> ProviderConfig:
    provider = HOSTED[name]
    schema = {"schema_url": base_url + fal.SCHEMA_PATH} if name == "fal" else {}
    return ProviderConfig(
        options={"base_url": base_url, **schema, "models": {"keyframe": MODELS[name]}},
        secrets={provider.key_variable: SECRET},
    )


def _preflight(provider: Hosted) -> list[str]:
    async def run() -> list[str]:
        try:
            return await provider.preflight()
        finally:
            await provider.aclose()

    return asyncio.run(run())


@pytest.fixture
def refused_url() -> str:
    """A loopback URL nothing listens on: a port just bound and released."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture(params=sorted(HOSTED))
def name(request: pytest.FixtureRequest) -> str:
    """Each hosted provider in turn."""
    return str(request.param)


@pytest.mark.parametrize(
    "base_url",
    [
        "notaurl",
        "queue.fal.run",
        "ftp://queue.fal.run",
        "https://",
        "http://:80",
        5,
        "http://127.0.0.1:99999",
        "http://127.0.0.1:port",
        "http://127.0.0.1:0",
        "http://bad host",
        "http://[::1",
        "https://queue.fal.run?key=1",
    ],
)
def test_a_base_url_that_is_not_one_is_a_config_error_when_built(
    name: str, base_url: object
) -> None:
    """The setting is named, with what came and an example: nothing is sent to find out."""
    options = {"base_url": base_url}
    with pytest.raises(ConfigError) as info:
        HOSTED[name](ProviderConfig(options=options))
    message = str(info.value)
    assert f"providers.{name}.base_url" in message
    assert repr(base_url) in message
    assert f'base_url = "{HOSTED[name].default_base_url}"' in message


def test_a_reachable_base_url_passes_preflight(name: str) -> None:
    """Any HTTP answer from the base URL counts (here a 401 or 404 from the loopback server)."""
    url, control = fal.start(key=SECRET) if name == "fal" else replicate.start(token=SECRET)
    try:
        base = url if name == "fal" else f"{url}/v1"
        assert _preflight(HOSTED[name](_config(name, base))) == []
        # The reachability check sends no key; Replicate's schema fetch needs it, fal's not.
        fetches = control.schema_fetches if name == "replicate" else 0
        assert control.schema_fetches == 1
        assert control.auth_headers == [f"Bearer {SECRET}"] * fetches
    finally:
        control.stop()


def test_an_unreachable_base_url_is_a_preflight_problem(name: str, refused_url: str) -> None:
    """Connection refused is a problem line naming the URL, the reason and the setting."""
    problems = _preflight(HOSTED[name](_config(name, refused_url)))
    assert problems == [
        f"cannot reach {refused_url}: connection refused; "
        f"check providers.{name}.base_url in recoil.toml and your network"
    ]


def test_a_refused_submit_fails_retryable_and_never_maybe_billed(
    name: str, refused_url: str, tmp_path: Path
) -> None:
    """The request never left: a plain retryable failure, not an unknown outcome."""
    context = DispatchContext(
        project=tmp_path, provider_config={name: _config(name, refused_url)}, default_provider=name
    )
    with pytest.raises(DispatchError) as info:
        asyncio.run(dispatch_async("keyframe", {"prompt": "a fox", "seed": 1}, context=context))
    receipt = info.value.receipt
    assert receipt.status is ReceiptStatus.FAILED
    assert receipt.error is not None
    assert receipt.error.retryable and not receipt.error.unknown_outcome
    assert receipt.error.type == "connection"
    message = receipt.error.message
    assert f"cannot connect to {refused_url}/" in message and "connection refused" in message
    assert "the request was not sent" in message
    assert f"check providers.{name}.base_url in recoil.toml" in message
    assert "may or may not" not in message and "billed" not in message
    log = next(tmp_path.rglob("receipts.jsonl")).read_text()
    records = [json.loads(text) for text in log.splitlines()]
    [stored] = [r for r in records if r["kind"] == "receipt"]
    assert stored["error"]["unknown_outcome"] is False


def test_a_url_echoing_the_key_is_named_redacted(name: str, refused_url: str) -> None:
    """A base URL that carries the key (a proxy's path) is named in messages, key redacted in
    each form it takes there."""
    key = "abcd1234-ef56:0123456789abcdef/+="
    base = f"{refused_url}/proxy/{quote(key, safe='')}"
    config = ProviderConfig(
        options={"base_url": base, "models": {"keyframe": MODELS[name]}},
        secrets={HOSTED[name].key_variable: key},
    )
    [problem] = _preflight(HOSTED[name](config))
    assert f"cannot reach {refused_url}/proxy/[redacted]: connection refused" in problem
    assert "0123456789abcdef" not in problem


def test_a_host_that_does_not_resolve_was_never_sent() -> None:
    """A DNS failure happens before any byte is sent: a definite, retryable failure that names
    the URL and the setting, never 'may or may not exist' (``.invalid`` never resolves)."""
    url = "http://recoil-test.invalid/fal-ai/flux/dev"

    async def send() -> ProviderError:
        async with httpx.AsyncClient(timeout=5) as client:
            with pytest.raises(ProviderError) as info:
                await Boundary("fal").send(client, "POST", url, what="submit", idempotent=False)
            return info.value

    error = asyncio.run(send())
    assert not error.unknown_outcome and error.retryable
    assert f"cannot connect to {url}" in str(error)
    assert "host name not found" in str(error)
    assert "check providers.fal.base_url in recoil.toml" in str(error)


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clean_env: None) -> Path:
    """A fresh ``recoil init`` project (previz) and a fal key in the environment."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FAL_KEY", SECRET)
    result = _cli("init", "film")
    assert result.exit_code == 0, result.output
    return tmp_path / "film"


def _cli(*args: str) -> Result:
    from recoil.cli.app import _register, app

    _register()
    return CliRunner().invoke(app, list(args))


def _configure(project: Path, base_url: str) -> None:
    with (project / "recoil.toml").open("a") as settings:
        settings.write(
            f'\n[providers.fal]\nbase_url = "{base_url}"\n'
            f'[providers.fal.models]\nkeyframe = "{MODELS["fal"]}"\n'
        )


def test_the_cli_refuses_a_base_url_that_is_not_one(project: Path) -> None:
    """One line on stderr and exit 2 (a config error), before anything is sent or recorded."""
    _configure(project, "notaurl")
    result = _cli("dispatch", "keyframe", "-p", "a fox", "--provider", "fal", "--project", "film")
    assert result.exit_code == 2, result.output
    [line] = result.stderr.splitlines()
    assert "providers.fal.base_url must be an absolute http:// or https:// URL" in line
    log = project / "receipts.jsonl"
    assert not log.exists() or not log.read_text().strip()  # nothing sent, nothing recorded
    checked = _cli("providers", "film")
    assert checked.exit_code == 1
    assert "FAIL fal" in checked.stdout and "got 'notaurl'" in checked.stdout


def test_recoil_providers_fails_an_unreachable_base_url(project: Path, refused_url: str) -> None:
    """Not 'ok fal': the base URL is tried, and the refusal is the problem to fix."""
    _configure(project, refused_url)
    result = _cli("providers", "film")
    assert result.exit_code == 1, result.output
    assert "FAIL fal" in result.stdout and "ok   fal" not in result.stdout
    assert f"cannot reach {refused_url}: connection refused" in result.stdout
    assert SECRET not in result.output
