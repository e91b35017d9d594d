"""ComfyUI defects seen against a real server (issue 15), each shown on the loopback ComfyUI.

A pool spreads concurrent jobs; an animated WebP of a video template becomes an
H.264 clip; a field the request leaves unset keeps the workflow's value; a
binding to a missing input or an output node that saves nothing is refused
before a prompt is sent; the cache key follows the workflow and its binding.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import math
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from recoil.dispatch import dispatch_async
from recoil.errors import ProviderError
from recoil.media.probe import probe
from recoil.model.context import DispatchContext
from recoil.model.provider_config import ProviderConfig
from recoil.model.receipt import Receipt
from recoil.model.requests import KeyframeRequest, Request, VideoRequest, build_request
from recoil.providers.base import JobStatus
from recoil.providers.comfyui.provider import ComfyUIProvider
from tests.helpers import run_job
from tests.providers.servers import comfyui
from tests.providers.servers.comfyui import ComfyControl

WORKFLOWS = Path(__file__).parents[1] / "e2e" / "comfyui_workflows"
KEYFRAME_INPUTS = {"prompt": "6.text", "seed": "3.seed", "width": "5.width", "height": "5.height"}


def _graph(name: str) -> dict[str, Any]:
    graph: dict[str, Any] = json.loads((WORKFLOWS / f"{name}.json").read_text())
    return graph


def _template(
    folder: Path, graph: dict[str, Any], output: str, inputs: dict[str, str], **extra: str
) -> dict[str, Any]:
    """A template table for ``graph``, written into ``folder`` as ``<name>.json``."""
    name = extra.pop("file", "workflow")
    (folder / f"{name}.json").write_text(json.dumps(graph, indent=2))
    return {"workflow": f"{name}.json", "output": output, "inputs": inputs, **extra}


def _provider(urls: list[str], folder: Path, templates: dict[str, Any]) -> ComfyUIProvider:
    options = {"servers": urls, "project_dir": str(folder), "templates": templates}
    return ComfyUIProvider(ProviderConfig(options=options))


def _sent(control: ComfyControl) -> dict[str, Any]:
    """The graph of the one prompt the server ran."""
    [entry] = control.history.values()
    graph: dict[str, Any] = entry["prompt"][2]
    return graph


@pytest.fixture
def server() -> Iterator[tuple[str, ComfyControl]]:
    url, control = comfyui.start()
    control.latency_s = 0.01
    yield url, control
    control.stop()


@pytest.fixture
def small_keyframe(tmp_path: Path) -> dict[str, Any]:
    """A text-to-image template whose latent is 128x96."""
    graph = _graph("txt2img")
    graph["5"]["inputs"].update(width=128, height=96)
    return {"keyframe": _template(tmp_path, graph, "9", KEYFRAME_INPUTS)}


# -- 1: a pool spreads concurrent jobs --------------------------------------------


@pytest.mark.parametrize("jobs", [4, 7])
def test_concurrent_jobs_spread_across_a_two_server_pool(tmp_path: Path, jobs: int) -> None:
    """Submits in flight together count against their server before their POST returns."""
    (first, first_control), (second, second_control) = comfyui.start(), comfyui.start()
    first_control.hold = second_control.hold = True  # nothing leaves a queue while we submit
    templates = {"keyframe": _template(tmp_path, _graph("txt2img"), "9", KEYFRAME_INPUTS)}
    try:

        async def scenario() -> Counter[str]:
            provider = _provider([first, second], tmp_path, templates)
            try:
                sent = await asyncio.gather(
                    *(
                        provider.submit(
                            KeyframeRequest(prompt=f"shot {i}", seed=i), uuid.uuid4().hex
                        )
                        for i in range(jobs)
                    )
                )
            finally:
                await provider.aclose()
            return Counter(str(job.handle["server"]) for job in sent)

        per_server = asyncio.run(scenario())
        assert sum(per_server.values()) == jobs
        assert max(per_server.values()) <= math.ceil(jobs / 2) + 1, per_server
        assert (first_control.submits, second_control.submits) == (
            per_server[first],
            per_server[second],
        )
    finally:
        first_control.stop()
        second_control.stop()


# -- 2: an animated WebP is the clip of a video template --------------------------


def test_an_animated_webp_video_is_stored_as_h264_mp4_beside_the_original(
    server: tuple[str, ComfyControl], tmp_path: Path
) -> None:
    url, control = server
    graph = _graph("txt2img")
    graph["9"] = {
        "inputs": {"images": ["8", 0], "filename_prefix": "clip", "fps": 6.0},
        "class_type": "SaveAnimatedWEBP",
    }
    inputs = {**KEYFRAME_INPUTS, "frames": "5.batch_size", "fps": "9.fps"}
    templates = {"video": _template(tmp_path, graph, "9", inputs)}
    config = ProviderConfig(
        options={"servers": [url], "project_dir": str(tmp_path), "templates": templates}
    )
    context = DispatchContext(
        project=tmp_path, provider_config={"comfyui": config}, default_provider="comfyui"
    )
    payload = {"prompt": "waves", "fps": 8, "duration_s": 0.5, "width": 48, "height": 32}
    receipt = asyncio.run(dispatch_async("video", {**payload, "seed": 5}, context=context))

    clip, original = receipt.artifacts["video"], receipt.artifacts["video_original"]
    assert clip.mime == "video/mp4"
    facts = probe((tmp_path / clip.path).read_bytes(), clip.mime)
    assert (facts["codec"], facts["frames"], facts["fps"]) == ("h264", 4, 8.0)
    assert (facts["width"], facts["height"]) == (48, 32)
    assert original.mime == "image/webp"
    [saved] = control.files.values()
    assert (tmp_path / original.path).read_bytes() == saved  # the server's file, unchanged
    assert Image.open(io.BytesIO(saved)).n_frames == 4


# -- 4: a field the request leaves unset keeps the workflow's value ----------------


@pytest.mark.parametrize(
    "request_",
    [
        KeyframeRequest(prompt="a lighthouse", seed=1),
        build_request("keyframe", KeyframeRequest, {"prompt": "a lighthouse", "seed": 1}),
    ],
    ids=["constructed", "from a payload"],
)
def test_an_unset_size_keeps_the_workflow_size(
    server: tuple[str, ComfyControl],
    tmp_path: Path,
    small_keyframe: dict[str, Any],
    request_: Request,
) -> None:
    url, control = server
    state = asyncio.run(run_job(_provider([url], tmp_path, small_keyframe), request_))[1]
    assert state.status is JobStatus.SUCCEEDED, state.error
    latent = _sent(control)["5"]["inputs"]
    assert (latent["width"], latent["height"]) == (128, 96)
    assert Image.open(io.BytesIO(state.outputs[0].data)).size == (128, 96)


def test_a_size_the_request_sets_is_sent_even_if_it_is_the_default(
    server: tuple[str, ComfyControl], tmp_path: Path, small_keyframe: dict[str, Any]
) -> None:
    url, control = server
    request = build_request(
        "keyframe", KeyframeRequest, {"prompt": "p", "seed": 1, "width": 1280, "height": 720}
    )
    state = asyncio.run(run_job(_provider([url], tmp_path, small_keyframe), request))[1]
    assert state.status is JobStatus.SUCCEEDED, state.error
    latent = _sent(control)["5"]["inputs"]
    assert (latent["width"], latent["height"]) == (1280, 720)


def _i2v(tmp_path: Path) -> dict[str, Any]:
    inputs = {
        "prompt": "6.text",
        "image": "52.image",
        "width": "50.width",
        "height": "50.height",
        "frames": "50.length",
        "fps": "57.fps",
    }
    return {"video": _template(tmp_path, _graph("wan_i2v"), "58", inputs)}


@pytest.fixture
def keyframe_file(tmp_path: Path) -> Path:
    path = tmp_path / "keyframe.png"
    Image.new("RGB", (64, 48), (200, 40, 40)).save(path)
    return path


def test_unset_fps_and_duration_keep_the_workflow_length_and_rate(
    server: tuple[str, ComfyControl], tmp_path: Path, keyframe_file: Path
) -> None:
    url, control = server
    request = build_request("video", VideoRequest, {"prompt": "p", "image": str(keyframe_file)})
    state = asyncio.run(run_job(_provider([url], tmp_path, _i2v(tmp_path)), request))[1]
    assert state.status is JobStatus.SUCCEEDED, state.error
    graph = _sent(control)
    assert (graph["50"]["inputs"]["length"], graph["57"]["inputs"]["fps"]) == (33, 16)
    assert (graph["50"]["inputs"]["width"], graph["50"]["inputs"]["height"]) == (512, 512)


def test_a_duration_alone_is_counted_in_frames_at_the_workflow_rate(
    server: tuple[str, ComfyControl], tmp_path: Path, keyframe_file: Path
) -> None:
    url, control = server
    payload = {"prompt": "p", "image": str(keyframe_file), "duration_s": 2.0}
    request = build_request("video", VideoRequest, payload)
    state = asyncio.run(run_job(_provider([url], tmp_path, _i2v(tmp_path)), request))[1]
    assert state.status is JobStatus.SUCCEEDED, state.error
    graph = _sent(control)
    assert (graph["50"]["inputs"]["length"], graph["57"]["inputs"]["fps"]) == (32, 16)


# -- 5 and 7: bindings and the output node are checked before a prompt is sent ------


def test_a_misspelled_bound_input_is_refused_before_the_prompt_is_sent(
    server: tuple[str, ComfyControl], tmp_path: Path
) -> None:
    url, control = server
    inputs = {**KEYFRAME_INPUTS, "width": "5.widht"}
    templates = {"keyframe": _template(tmp_path, _graph("txt2img"), "9", inputs)}
    with pytest.raises(ProviderError) as info:
        asyncio.run(run_job(_provider([url], tmp_path, templates), KeyframeRequest(prompt="p")))
    message = str(info.value)
    assert "\n" not in message
    assert "binding width -> 5.widht" in message
    assert "node 5 (EmptyLatentImage) has no input 'widht'; it has batch_size, height, width" in (
        message
    )
    assert not info.value.retryable
    assert control.submits == 0


def _inverted(tmp_path: Path) -> dict[str, Any]:
    """A template whose output is an ImageInvert node, which saves nothing."""
    graph = _graph("txt2img")
    graph["10"] = {"inputs": {"image": ["8", 0]}, "class_type": "ImageInvert"}
    return {"keyframe": _template(tmp_path, graph, "10", KEYFRAME_INPUTS)}


def test_an_output_node_that_saves_nothing_fails_the_check(
    server: tuple[str, ComfyControl], tmp_path: Path
) -> None:
    url, _ = server

    async def scenario() -> list[str]:
        provider = _provider([url], tmp_path, _inverted(tmp_path))
        try:
            return await provider.preflight()
        finally:
            await provider.aclose()

    [problem] = asyncio.run(scenario())
    assert "output node '10' (ImageInvert) is not a save node" in problem
    assert "SaveImage" in problem  # what to point it at


def test_an_output_node_that_saves_nothing_is_refused_before_the_prompt_is_sent(
    server: tuple[str, ComfyControl], tmp_path: Path
) -> None:
    url, control = server
    provider = _provider([url], tmp_path, _inverted(tmp_path))
    with pytest.raises(ProviderError, match=r"output node '10' \(ImageInvert\) is not a save"):
        asyncio.run(run_job(provider, KeyframeRequest(prompt="p")))
    assert control.submits == 0


# -- 8: the cache key covers the workflow and its binding -----------------------------


def _dispatch(project: Path, url: str, payload: dict[str, Any]) -> Receipt:
    """One keyframe dispatch into ``project`` with the templates of its ``templates.json``."""
    templates = json.loads((project / "templates.json").read_text())
    options = {"servers": [url], "project_dir": str(project), "templates": templates}
    context = DispatchContext(
        project=project,
        provider_config={"comfyui": ProviderConfig(options=options)},
        default_provider="comfyui",
    )
    return asyncio.run(dispatch_async("keyframe", payload, context=context))


def test_editing_the_workflow_or_its_binding_sends_a_new_prompt(
    server: tuple[str, ComfyControl], tmp_path: Path
) -> None:
    url, control = server
    templates = {"keyframe": _template(tmp_path, _graph("txt2img"), "9", KEYFRAME_INPUTS)}
    (tmp_path / "templates.json").write_text(json.dumps(templates))
    payload = {"prompt": "a lighthouse", "seed": 3, "width": 64, "height": 64}

    first = _dispatch(tmp_path, url, payload)
    again = _dispatch(tmp_path, url, payload)
    assert again.cached and again.request_sha256 == first.request_sha256
    assert control.submits == 1

    workflow = tmp_path / "workflow.json"
    graph = json.loads(workflow.read_text())
    graph["3"]["inputs"]["sampler_name"] = "dpmpp_2m"  # another sampler, same file name
    workflow.write_text(json.dumps(graph))
    edited = _dispatch(tmp_path, url, payload)
    assert not edited.cached and edited.request_sha256 != first.request_sha256
    assert control.submits == 2
    assert list(control.history.values())[-1]["prompt"][2]["3"]["inputs"]["sampler_name"] == (
        "dpmpp_2m"
    )

    templates["keyframe"]["inputs"]["steps"] = "3.steps"  # the binding changes, the file not
    (tmp_path / "templates.json").write_text(json.dumps(templates))
    rebound = _dispatch(tmp_path, url, {**payload, "steps": 4})
    assert not rebound.cached and control.submits == 3


def test_the_receipt_records_the_workflow_it_ran(
    server: tuple[str, ComfyControl], tmp_path: Path
) -> None:
    url, _ = server
    templates = {"keyframe": _template(tmp_path, _graph("txt2img"), "9", KEYFRAME_INPUTS)}
    (tmp_path / "templates.json").write_text(json.dumps(templates))
    receipt = _dispatch(tmp_path, url, {"prompt": "p", "seed": 1, "width": 64, "height": 64})
    identity = receipt.provenance["provider_identity"]
    workflow = json.loads((tmp_path / "workflow.json").read_text())
    canonical = json.dumps(workflow, sort_keys=True, separators=(",", ":")).encode()
    assert identity["template"] == "keyframe"
    assert identity["workflow_sha256"] == hashlib.sha256(canonical).hexdigest()
    assert identity["output"] == "9"
    assert len(identity["graph_sha256"]) == 64


def test_an_unset_size_and_the_default_size_are_different_requests(
    server: tuple[str, ComfyControl], tmp_path: Path
) -> None:
    """Leaving width unset runs the workflow's size; the cache must not mix the two up."""
    url, control = server
    templates = {"keyframe": _template(tmp_path, _graph("txt2img"), "9", KEYFRAME_INPUTS)}
    (tmp_path / "templates.json").write_text(json.dumps(templates))
    unset = _dispatch(tmp_path, url, {"prompt": "p", "seed": 1})
    default = _dispatch(tmp_path, url, {"prompt": "p", "seed": 1, "width": 1280, "height": 720})
    assert unset.request_sha256 != default.request_sha256
    assert not default.cached and control.submits == 2
    assert unset.artifacts["image"].facts == {"width": 512, "height": 512}
