"""ComfyUI image-to-video (SaveVideo) and custom-node speech (SaveAudio) templates.

The workflows and binding are the ones the demo runs end to end with
(``tests/e2e/comfyui_workflows``): a Wan image-to-video graph ending in
CreateVideo -> SaveVideo, a user's TextToSpeech custom node feeding SaveAudio,
and two keyframe templates told apart by the input image.
"""

from __future__ import annotations

import asyncio
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from recoil.media.probe import probe
from recoil.model.provider_config import ProviderConfig
from recoil.model.requests import AudioRequest, KeyframeRequest, VideoRequest
from recoil.providers.base import JobStatus
from recoil.providers.comfyui.binding import load_templates, select_template
from recoil.providers.comfyui.provider import ComfyUIProvider
from tests.helpers import run_job
from tests.providers.servers import comfyui
from tests.providers.servers.comfyui import ComfyControl

WORKFLOWS = Path(__file__).parents[1] / "e2e" / "comfyui_workflows"


def _options(url: str = "http://127.0.0.1:9") -> dict[str, Any]:
    binding = tomllib.loads((WORKFLOWS / "binding.toml").read_text())
    templates = binding["providers"]["comfyui"]["templates"]
    for table in templates.values():
        table["workflow"] = str(WORKFLOWS / Path(table["workflow"]).name)
    return {"servers": [url], "templates": templates}


@pytest.fixture
def server() -> Iterator[tuple[str, ComfyControl]]:
    url, control = comfyui.start()
    yield url, control
    control.stop()


@pytest.fixture
def keyframe(tmp_path: Path) -> Path:
    path = tmp_path / "keyframe.png"
    Image.new("RGB", (160, 90), (200, 40, 40)).save(path)
    return path


def test_the_input_image_picks_the_keyframe_template(keyframe: Path) -> None:
    templates = load_templates(_options())
    plain = KeyframeRequest(prompt="p")
    chained = KeyframeRequest(prompt="p", image=str(keyframe))
    assert select_template(templates, plain).name == "keyframe"
    assert select_template(templates, chained).name == "keyframe_from_image"
    named = KeyframeRequest(prompt="p", model="keyframe_from_image", image=str(keyframe))
    assert select_template(templates, named).name == "keyframe_from_image"
    only_txt2img = {"keyframe": templates["keyframe"]}
    assert select_template(only_txt2img, chained).name == "keyframe"  # then refused, by name


def test_the_binding_passes_preflight(server: tuple[str, ComfyControl]) -> None:
    async def scenario() -> list[str]:
        provider = ComfyUIProvider(ProviderConfig(options=_options(server[0])))
        try:
            return await provider.preflight()
        finally:
            await provider.aclose()

    assert asyncio.run(scenario()) == []


def test_image_to_video_saves_an_h264_mp4_from_the_keyframe(
    server: tuple[str, ComfyControl], keyframe: Path
) -> None:
    url, control = server
    request = VideoRequest(
        prompt="she turns", image=str(keyframe), width=160, height=90, fps=24, duration_s=2.5
    )
    provider = ComfyUIProvider(ProviderConfig(options=_options(url)))
    state = asyncio.run(run_job(provider, request))[1]
    assert state.status is JobStatus.SUCCEEDED, state.error
    [output] = state.outputs
    assert (output.name, output.mime) == ("video", "video/mp4")
    facts = probe(output.data, output.mime)
    # Wan's latent: length 60 -> 4n+1 = 57 frames; 90 px -> a multiple of 8.
    assert (facts["codec"], facts["frames"], facts["width"], facts["height"]) == (
        "h264",
        57,
        160,
        88,
    )
    [entry] = control.history.values()
    graph = entry["prompt"][2]
    assert graph["52"]["inputs"]["image"] == "keyframe.png"
    assert (graph["50"]["inputs"]["length"], graph["57"]["inputs"]["fps"]) == (60, 24.0)
    assert entry["outputs"]["58"]["images"][0]["subfolder"] == "video"


def test_a_tts_custom_node_saves_flac_speech(server: tuple[str, ComfyControl]) -> None:
    url, control = server
    request = AudioRequest(prompt="Last train left an hour ago.", voice="en-us+m3", seed=4)
    provider = ComfyUIProvider(ProviderConfig(options=_options(url)))
    state = asyncio.run(run_job(provider, request))[1]
    assert state.status is JobStatus.SUCCEEDED, state.error
    [output] = state.outputs
    assert (output.name, output.mime) == ("audio", "audio/flac")
    assert probe(output.data, output.mime)["codec"] == "flac"
    [entry] = control.history.values()
    assert entry["prompt"][2]["1"]["inputs"] == {
        "text": "Last train left an hour ago.",
        "voice": "en-us+m3",
        "seed": 4,
    }
