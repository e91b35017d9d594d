"""Each remote adapter through the real dispatcher: receipts, artifacts, no secrets on disk."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from recoil.dispatch import dispatch_async
from recoil.model.context import DispatchContext
from recoil.model.provider_config import ProviderConfig
from recoil.model.receipt import ReceiptStatus
from tests.providers.servers import comfyui, fal, replicate

SECRET = "sk-test-SECRET123"


@pytest.fixture
def configs() -> Iterator[dict[str, ProviderConfig]]:
    comfy_url, comfy = comfyui.start()
    fal_url, fal_control = fal.start(key=SECRET)
    rep_url, rep = replicate.start(token=SECRET)
    yield {
        "comfyui": ProviderConfig(options={"servers": [comfy_url], "price_per_second": 1.0}),
        "fal": ProviderConfig(
            options={
                "base_url": fal_url,
                "schema_url": fal_url + fal.SCHEMA_PATH,
                "models": {"keyframe": "fal-ai/flux/dev"},
            },
            prices={"fal-ai/flux/dev": 0.03},
            secrets={"FAL_KEY": SECRET},
        ),
        "replicate": ProviderConfig(
            options={"base_url": f"{rep_url}/v1", "models": {"keyframe": "acme/painter"}},
            prices={"acme/painter": 0.001},
            secrets={"REPLICATE_API_TOKEN": SECRET},
        ),
    }
    for control in (comfy, fal_control, rep):
        control.stop()


@pytest.mark.parametrize("provider", ["comfyui", "fal", "replicate"])
def test_dispatch_stores_a_receipt_and_an_artifact(
    provider: str, configs: dict[str, ProviderConfig], tmp_path: Path
) -> None:
    context = DispatchContext(project=tmp_path, provider_config=configs, default_provider=provider)
    payload = {"prompt": "a fox in snow", "width": 64, "height": 48, "seed": 11}
    receipt = asyncio.run(dispatch_async("keyframe", payload, context=context))
    assert receipt.status is ReceiptStatus.SUCCEEDED
    assert receipt.provider == provider
    assert receipt.artifacts["image"].facts == {"width": 64, "height": 48}
    assert receipt.cost.amount > 0
    log = next(tmp_path.rglob("receipts.jsonl")).read_text()
    assert '"kind":"submitted"' in log.replace(" ", "")
    assert SECRET not in log


@pytest.mark.parametrize("provider", ["fal", "replicate"])
def test_a_hosted_models_kept_schema_is_in_the_key_from_the_first_call(
    provider: str, configs: dict[str, ProviderConfig], tmp_path: Path
) -> None:
    """The first call of a model is keyed as every later one (its schema is fetched first),
    and a schema that changes (a new version published) makes another request."""
    config = configs[provider]
    kept_here = {**config.options, "project_dir": str(tmp_path)}
    configs = {provider: dataclasses.replace(config, options=kept_here)}
    context = DispatchContext(project=tmp_path, provider_config=configs, default_provider=provider)
    payload = {"prompt": "a fox in snow", "width": 64, "height": 48, "seed": 11}
    first = asyncio.run(dispatch_async("keyframe", payload, context=context))
    again = asyncio.run(dispatch_async("keyframe", payload, context=context))
    assert (first.cached, again.cached) == (False, True)
    assert again.request_sha256 == first.request_sha256

    [kept] = (tmp_path / "schemas" / provider).glob("*.json")
    document = json.loads(kept.read_text())
    if provider == "replicate":
        document["document"]["latest_version"]["id"] = "0" * 64
    else:
        schemas = document["document"]["components"]["schemas"]
        [name] = [n for n in schemas if n.endswith("Input")]
        schemas[name]["properties"]["prompt"]["description"] = "a newer endpoint"
    kept.write_text(json.dumps(document))

    changed = asyncio.run(dispatch_async("keyframe", payload, context=context))
    assert not changed.cached and changed.request_sha256 != first.request_sha256
    identity = changed.provenance["provider_identity"]["schema"]
    assert identity["sha256"] != first.provenance["provider_identity"]["schema"]["sha256"]
    if provider == "replicate":
        assert identity["version"] == "0" * 64
