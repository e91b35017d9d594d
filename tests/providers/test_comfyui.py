"""The ComfyUI adapter against the loopback ComfyUI (HTTP API + websocket)."""

from __future__ import annotations

import asyncio
import io
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from recoil.errors import ConfigError, PayloadError, ProviderError
from recoil.model.provider_config import ProviderConfig
from recoil.model.requests import KeyframeRequest, VideoRequest
from recoil.providers.base import Job, JobState, JobStatus
from recoil.providers.comfyui.provider import ComfyUIProvider
from tests.helpers import run_job, submit_and_close, until_done
from tests.providers.servers import comfyui
from tests.providers.servers.comfyui import ComfyControl

# What a user gets from ComfyUI's "Export (API)" for the default graph, ids and all.
TXT2IMG: dict[str, Any] = {
    "3": {
        "inputs": {
            "seed": 1,
            "steps": 20,
            "cfg": 8,
            "sampler_name": "euler",
            "scheduler": "normal",
            "denoise": 1,
            "model": ["4", 0],
            "positive": ["6", 0],
            "negative": ["7", 0],
            "latent_image": ["5", 0],
        },
        "class_type": "KSampler",
        "_meta": {"title": "KSampler"},
    },
    "4": {
        "inputs": {"ckpt_name": "v1-5-pruned-emaonly.safetensors"},
        "class_type": "CheckpointLoaderSimple",
        "_meta": {"title": "Load Checkpoint"},
    },
    "5": {
        "inputs": {"width": 512, "height": 512, "batch_size": 1},
        "class_type": "EmptyLatentImage",
        "_meta": {"title": "Empty Latent Image"},
    },
    "6": {
        "inputs": {"text": "placeholder", "clip": ["4", 1]},
        "class_type": "CLIPTextEncode",
        "_meta": {"title": "CLIP Text Encode (Prompt)"},
    },
    "7": {
        "inputs": {"text": "text, watermark", "clip": ["4", 1]},
        "class_type": "CLIPTextEncode",
        "_meta": {"title": "CLIP Text Encode (Prompt)"},
    },
    "8": {
        "inputs": {"samples": ["3", 0], "vae": ["4", 2]},
        "class_type": "VAEDecode",
        "_meta": {"title": "VAE Decode"},
    },
    "9": {
        "inputs": {"filename_prefix": "recoil", "images": ["8", 0]},
        "class_type": "SaveImage",
        "_meta": {"title": "Save Image"},
    },
}
BINDING = {
    "prompt": "6.text",
    "negative_prompt": "7.text",
    "seed": "3.seed",
    "width": "5.width",
    "height": "5.height",
    "steps": "3.steps",
}


@pytest.fixture
def server() -> Iterator[tuple[str, ComfyControl]]:
    url, control = comfyui.start()
    yield url, control
    control.stop()


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "workflows").mkdir()
    (tmp_path / "workflows" / "txt2img_api.json").write_text(json.dumps(TXT2IMG, indent=2))
    return tmp_path


def _provider(url: str | list[str], project: Path, **extra: Any) -> ComfyUIProvider:
    templates = {
        "keyframe": {"workflow": "workflows/txt2img_api.json", "output": "9", "inputs": BINDING}
    }
    options = {
        "servers": url if isinstance(url, list) else [url],
        "project_dir": str(project),
        "templates": templates,
        **extra,
    }
    return ComfyUIProvider(ProviderConfig(options=options))


def test_a_user_exported_workflow_runs_end_to_end(
    server: tuple[str, ComfyControl], project: Path
) -> None:
    url, control = server
    provider = _provider(url, project, price_per_second=2.0)
    request = KeyframeRequest(
        prompt="a lighthouse at dusk",
        negative_prompt="blurry",
        seed=42,
        width=96,
        height=64,
        steps=7,
    )
    provider.validate(request)
    assert provider.model_for(request) == "keyframe"
    state = asyncio.run(run_job(provider, request))[1]
    assert state.status is JobStatus.SUCCEEDED
    [output] = state.outputs
    assert (output.name, output.mime) == ("image", "image/png")
    assert Image.open(io.BytesIO(output.data)).size == (96, 64)
    [entry] = control.history.values()
    sent = entry["prompt"][2]
    assert sent["6"]["inputs"]["text"] == "a lighthouse at dusk"
    assert sent["7"]["inputs"]["text"] == "blurry"
    assert (sent["3"]["inputs"]["seed"], sent["3"]["inputs"]["steps"]) == (42, 7)
    assert sent["4"]["inputs"]["ckpt_name"] == "v1-5-pruned-emaonly.safetensors"  # unbound: kept
    assert state.cost is not None and state.cost.amount > 0
    assert control.submits == 1


def test_progress_comes_from_the_websocket_not_history_polls(
    server: tuple[str, ComfyControl], project: Path
) -> None:
    url, control = server
    control.latency_s = 0.2
    state = asyncio.run(run_job(_provider(url, project), KeyframeRequest(prompt="p", seed=1)))[1]
    assert state.status is JobStatus.SUCCEEDED
    assert control.count("GET", "/history/") == 1  # once, for the outputs
    assert control.count("GET", "/queue") == 0


def test_a_new_process_checks_the_job_over_http(
    server: tuple[str, ComfyControl], project: Path
) -> None:
    url, control = server
    control.hold = True

    async def submit() -> Job:
        provider = _provider(url, project)
        try:
            return await provider.submit(KeyframeRequest(prompt="p", seed=1), uuid.uuid4().hex)
        finally:
            await provider.aclose()

    job = asyncio.run(submit())

    async def resume() -> tuple[JobState, JobState]:
        provider = _provider(url, project)
        try:
            queued = await provider.check(job)
            control.release()
            return queued, await until_done(provider, job)
        finally:
            await provider.aclose()

    queued, state = asyncio.run(resume())
    assert queued.status is JobStatus.QUEUED
    assert state.status is JobStatus.SUCCEEDED
    assert control.submits == 1


def test_a_queue_answer_that_is_not_json_is_a_retryable_provider_error(
    server: tuple[str, ComfyControl], project: Path
) -> None:
    url, control = server
    control.hold = True
    control.garbled_queue = True

    async def scenario() -> JobState:
        job = await submit_and_close(_provider(url, project), KeyframeRequest(prompt="p", seed=1))
        provider = _provider(url, project)  # a new process: no websocket knows the prompt
        try:
            return await provider.check(job)
        finally:
            await provider.aclose()

    with pytest.raises(ProviderError, match="/queue answer that is not a JSON object") as caught:
        asyncio.run(scenario())
    assert caught.value.retryable
    control.release()


def test_a_job_the_restarted_server_forgot_is_lost_and_retryable(
    server: tuple[str, ComfyControl], project: Path
) -> None:
    url, control = server
    control.hold = True

    async def scenario() -> JobState:
        provider = _provider(url, project)
        try:
            job = await provider.submit(KeyframeRequest(prompt="p", seed=1), uuid.uuid4().hex)
            control.restart()
            await provider.aclose()
            provider = _provider(url, project)
            return await provider.check(job)
        finally:
            await provider.aclose()

    state = asyncio.run(scenario())
    assert state.status is JobStatus.FAILED
    assert state.error is not None
    assert state.error.retryable and state.error.error_type == "lost"
    assert "lost prompt" in str(state.error)


def test_missing_checkpoint_is_one_clear_permanent_error(
    server: tuple[str, ComfyControl], project: Path
) -> None:
    url, _ = server
    provider = _provider(url, project)
    provider.templates["keyframe"].workflow["4"]["inputs"]["ckpt_name"] = "missing.safetensors"
    with pytest.raises(ProviderError) as info:
        asyncio.run(run_job(provider, KeyframeRequest(prompt="p")))
    message = str(info.value)
    assert info.value.retryable is False
    assert (
        "node 4 (CheckpointLoaderSimple) input 'ckpt_name': Value not in list: "
        "'missing.safetensors' not in" in message
    )
    assert "(value_not_in_list)" in message


def test_unknown_node_class_is_reported(server: tuple[str, ComfyControl], project: Path) -> None:
    url, _ = server
    provider = _provider(url, project)
    provider.templates["keyframe"].workflow["8"]["class_type"] = "VAEDecodeTiledFancy"
    with pytest.raises(ProviderError, match="VAEDecodeTiledFancy does not exist") as info:
        asyncio.run(run_job(provider, KeyframeRequest(prompt="p")))
    assert info.value.error_type == "invalid_prompt"


def test_execution_error_names_the_node(server: tuple[str, ComfyControl], project: Path) -> None:
    url, control = server
    control.fail_node = "3"
    state = asyncio.run(run_job(_provider(url, project), KeyframeRequest(prompt="p")))[1]
    assert state.status is JobStatus.FAILED
    assert state.error is not None and not state.error.retryable
    assert "node 3 (KSampler) failed while running: RuntimeError: mat1 and mat2" in str(state.error)


@pytest.mark.parametrize(
    ("status", "headers", "retryable", "retry_after"),
    [(429, {"Retry-After": "4"}, True, 4.0), (500, {}, True, None), (403, {}, False, None)],
)
def test_http_errors_on_submit_map_to_provider_errors(
    server: tuple[str, ComfyControl],
    project: Path,
    status: int,
    headers: dict[str, str],
    retryable: bool,
    retry_after: float | None,
) -> None:
    url, control = server
    control.script("POST", "/prompt", status=status, headers=headers, body={"error": "nope"})
    with pytest.raises(ProviderError) as info:
        asyncio.run(run_job(_provider(url, project), KeyframeRequest(prompt="p")))
    assert info.value.retryable is retryable
    assert info.value.retry_after_s == retry_after
    assert info.value.provider_status == str(status)


def test_dropped_connection_after_submit_finds_the_prompt(
    server: tuple[str, ComfyControl], project: Path
) -> None:
    url, control = server
    control.script("POST", "/prompt", process=True, drop=True)
    state = asyncio.run(run_job(_provider(url, project), KeyframeRequest(prompt="p", seed=2)))[1]
    assert state.status is JobStatus.SUCCEEDED
    assert control.submits == 1


def test_dropped_connection_before_the_server_took_it_is_an_unknown_outcome(
    server: tuple[str, ComfyControl], project: Path
) -> None:
    url, control = server
    control.script("POST", "/prompt", drop=True)
    with pytest.raises(ProviderError) as info:
        asyncio.run(run_job(_provider(url, project), KeyframeRequest(prompt="p")))
    assert info.value.unknown_outcome and not info.value.retryable
    assert "not sent again" in str(info.value)
    assert control.submits == 1


def test_cancel_deletes_from_the_queue_and_interrupts(
    server: tuple[str, ComfyControl], project: Path
) -> None:
    url, control = server
    control.hold = True

    async def scenario() -> JobState:
        provider = _provider(url, project)
        try:
            job = await provider.submit(KeyframeRequest(prompt="p"), uuid.uuid4().hex)
            await provider.cancel(job)
            control.release()
            return await until_done(provider, job)
        finally:
            await provider.aclose()

    assert asyncio.run(scenario()).status is JobStatus.CANCELLED
    assert len(control.interrupts) == 1
    assert not control.history


def test_the_least_busy_server_gets_the_job(project: Path) -> None:
    busy_url, busy = comfyui.start()
    idle_url, idle = comfyui.start()
    busy.hold = True
    try:

        async def scenario() -> list[str]:
            provider = _provider([busy_url, idle_url], project)
            servers = []
            try:
                first = await provider.submit(KeyframeRequest(prompt="a"), uuid.uuid4().hex)
                servers.append(first.handle["server"])
                second = await provider.submit(KeyframeRequest(prompt="b"), uuid.uuid4().hex)
                servers.append(second.handle["server"])
            finally:
                await provider.aclose()
            return servers

        assert asyncio.run(scenario()) == [busy_url, idle_url]
    finally:
        busy.stop()
        idle.stop()


def test_an_input_image_is_uploaded_and_bound(
    server: tuple[str, ComfyControl], tmp_path: Path
) -> None:
    url, control = server
    img2img = json.loads(json.dumps(TXT2IMG))
    img2img["10"] = {"inputs": {"image": "example.png"}, "class_type": "LoadImage"}
    img2img["11"] = {"inputs": {"pixels": ["10", 0], "vae": ["4", 2]}, "class_type": "VAEEncode"}
    img2img["3"]["inputs"]["latent_image"] = ["11", 0]
    (tmp_path / "img2img.json").write_text(json.dumps(img2img))
    init = tmp_path / "init.png"
    Image.new("RGB", (8, 8), "red").save(init)
    templates = {
        "keyframe": {
            "workflow": "img2img.json",
            "output": "9",
            "inputs": {**BINDING, "image": "10.image", "strength": "3.denoise"},
        }
    }
    options = {"servers": [url], "project_dir": str(tmp_path), "templates": templates}
    request = KeyframeRequest(prompt="p", image=str(init), strength=0.4)
    state = asyncio.run(run_job(ComfyUIProvider(ProviderConfig(options=options)), request))[1]
    assert state.status is JobStatus.SUCCEEDED
    assert control.uploads["init.png"] == init.read_bytes()
    [entry] = control.history.values()
    assert entry["prompt"][2]["10"]["inputs"]["image"] == "init.png"
    assert entry["prompt"][2]["3"]["inputs"]["denoise"] == 0.4


def test_a_video_template_returns_the_animated_file(
    server: tuple[str, ComfyControl], tmp_path: Path
) -> None:
    url, _ = server
    graph = json.loads(json.dumps(TXT2IMG))
    graph["9"] = {
        "inputs": {"images": ["8", 0], "filename_prefix": "clip", "fps": 8.0},
        "class_type": "SaveAnimatedWEBP",
    }
    (tmp_path / "t2v.json").write_text(json.dumps(graph))
    templates = {
        "clip": {
            "workflow": "t2v.json",
            "output": "9",
            "modality": "video",
            "inputs": {"prompt": "6.text", "frames": "5.batch_size", "fps": "9.fps"},
        }
    }
    options = {"servers": [url], "project_dir": str(tmp_path), "templates": templates}
    request = VideoRequest(prompt="p", fps=8, duration_s=0.5, width=32, height=32)
    state = asyncio.run(run_job(ComfyUIProvider(ProviderConfig(options=options)), request))[1]
    clip, original = state.outputs
    assert (clip.name, clip.mime) == ("video", "video/mp4")  # for the cut: H.264
    assert (original.name, original.mime) == ("video_original", "image/webp")
    assert Image.open(io.BytesIO(original.data)).n_frames == 4


def test_preflight_reports_missing_nodes_bad_bindings_and_dead_servers(
    server: tuple[str, ComfyControl], project: Path
) -> None:
    url, _ = server
    graph = json.loads(json.dumps(TXT2IMG))
    graph["12"] = {"inputs": {}, "class_type": "VHS_VideoCombine"}
    (project / "workflows" / "txt2img_api.json").write_text(json.dumps(graph))
    templates = {
        "keyframe": {
            "workflow": "workflows/txt2img_api.json",
            "output": "9",
            "inputs": {"prompt": "6.txt", "seed": "30.seed"},
        }
    }
    options = {
        "servers": [url, "http://127.0.0.1:9"],
        "project_dir": str(project),
        "templates": templates,
    }

    async def scenario() -> list[str]:
        provider = ComfyUIProvider(ProviderConfig(options=options))
        try:
            return await provider.preflight()
        finally:
            await provider.aclose()

    problems = "\n".join(asyncio.run(scenario()))
    assert "node '30' is not in the workflow" in problems
    assert "node 6 (CLIPTextEncode) has no input 'txt'" in problems
    assert "'VHS_VideoCombine' is not installed" in problems
    assert "http://127.0.0.1:9 is not usable" in problems


def test_preflight_of_a_good_setup_is_empty(
    server: tuple[str, ComfyControl], project: Path
) -> None:
    async def scenario() -> list[str]:
        provider = _provider(server[0], project)
        try:
            return await provider.preflight()
        finally:
            await provider.aclose()

    assert asyncio.run(scenario()) == []


def test_bad_bindings_are_config_errors(tmp_path: Path) -> None:
    (tmp_path / "ui.json").write_text(json.dumps({"nodes": [], "links": []}))
    options: dict[str, Any] = {
        "project_dir": str(tmp_path),
        "templates": {"keyframe": {"workflow": "ui.json", "output": "9"}},
    }
    with pytest.raises(ConfigError, match="not an API-format workflow"):
        ComfyUIProvider(ProviderConfig(options=options))
    options["templates"] = {"keyframe": {"workflow": "missing.json", "output": "9"}}
    with pytest.raises(ConfigError, match="does not exist"):
        ComfyUIProvider(ProviderConfig(options=options))
    (tmp_path / "api.json").write_text(json.dumps(TXT2IMG))
    options["templates"] = {
        "keyframe": {"workflow": "api.json", "output": "9", "inputs": {"prompt": "6text"}}
    }
    with pytest.raises(ConfigError, match=r'expected "node_id\.input_name"'):
        ComfyUIProvider(ProviderConfig(options=options))


def test_requests_without_a_fitting_template_or_binding_are_refused(
    project: Path, tmp_path: Path
) -> None:
    provider = _provider("http://127.0.0.1:9", project)
    with pytest.raises(PayloadError, match="no comfyui template for 'video'"):
        provider.validate(VideoRequest(prompt="p"))
    with pytest.raises(PayloadError, match="binds no 'image' input"):
        provider.validate(KeyframeRequest(prompt="p", image=str(tmp_path / "x.png")))
    with pytest.raises(PayloadError, match="no comfyui template 'upscaler'"):
        provider.validate(KeyframeRequest(prompt="p", model="upscaler"))


def test_the_builtin_template_needs_no_configuration(server: tuple[str, ComfyControl]) -> None:
    url, control = server
    provider = ComfyUIProvider(ProviderConfig(options={"servers": [url]}))
    request = KeyframeRequest(prompt="p", width=64, height=64, params={"checkpoint": CKPT})
    state = asyncio.run(run_job(provider, request))[1]
    assert state.status is JobStatus.SUCCEEDED
    [entry] = control.history.values()
    assert entry["prompt"][2]["4"]["inputs"]["ckpt_name"] == CKPT


CKPT = "sd_xl_base_1.0.safetensors"


def test_after_a_crash_find_looks_the_prompt_up_on_every_server(
    project: Path,
) -> None:
    """SPEC 7: a submit cut off by a crash is found by its key on any server of the pool."""
    (first, first_control), (second, second_control) = comfyui.start(), comfyui.start()
    try:
        first_control.hold = second_control.hold = True
        request = KeyframeRequest(prompt="p", seed=1)
        pool = [first, second]

        async def crashed_submit() -> Job:
            provider = _provider(pool, project)
            try:
                return await provider.submit(request, "r-crashed")
            finally:
                await provider.aclose()

        sent = asyncio.run(crashed_submit())

        async def next_run() -> tuple[Job | None, Job | None, JobState]:
            provider = _provider(pool, project)
            try:
                found = await provider.find(request, "r-crashed", 0)
                never_sent = await provider.find(request, "r-never-sent", 0)
                first_control.release()
                second_control.release()
                assert found is not None
                return found, never_sent, await until_done(provider, found)
            finally:
                await provider.aclose()

        found, never_sent, state = asyncio.run(next_run())
        assert found is not None
        assert (found.job_id, found.handle["server"]) == (sent.job_id, sent.handle["server"])
        assert never_sent is None
        assert state.status is JobStatus.SUCCEEDED
        assert first_control.submits + second_control.submits == 1
    finally:
        first_control.stop()
        second_control.stop()


def test_find_with_a_server_that_does_not_answer_is_retryable(
    server: tuple[str, ComfyControl], project: Path
) -> None:
    url, _ = server

    async def scenario() -> None:
        provider = _provider([url, "http://127.0.0.1:9"], project)
        try:
            await provider.find(KeyframeRequest(prompt="p", seed=1), "r-crashed", 0)
        finally:
            await provider.aclose()

    with pytest.raises(ProviderError) as info:
        asyncio.run(scenario())
    assert info.value.retryable and not info.value.unknown_outcome
    assert "cannot tell whether prompt" in str(info.value)
    assert "127.0.0.1:9" in str(info.value)
