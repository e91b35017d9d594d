"""Each remote adapter through the real dispatcher: receipts, artifacts, no secrets on disk."""

from __future__ import annotations

import asyncio
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
