"""Published input schemas: served and enforced by the loopback servers, fetched once and kept
in the project by the adapters, and every request checked against them before it is sent."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from recoil.errors import ConfigError, PayloadError, ProviderError
from recoil.model.provider_config import ProviderConfig
from recoil.model.requests import KeyframeRequest, Request, VideoRequest
from recoil.providers.base import JobState, JobStatus
from recoil.providers.fal import FalProvider
from recoil.providers.replicate import ReplicateProvider
from tests.helpers import run_job, until_done, wait_until
from tests.providers.servers import fal, replicate
from tests.providers.servers.fal import FalControl
from tests.providers.servers.replicate import ReplicateControl

KEY = "sk-test-SECRET123"
KLING = "fal-ai/kling-video/v2.1/standard/image-to-video"


@pytest.fixture
def fal_server() -> Iterator[tuple[str, FalControl]]:
    url, control = fal.start(key=KEY)
    yield url, control
    control.stop()


@pytest.fixture
def replicate_server() -> Iterator[tuple[str, ReplicateControl]]:
    url, control = replicate.start(token=KEY)
    yield url, control
    control.stop()


@pytest.fixture
def frame(tmp_path: Path) -> Path:
    path = tmp_path / "frame.png"
    Image.new("RGB", (160, 90), "navy").save(path)
    return path


def _fal(url: str, project: Path | None = None, **options: Any) -> FalProvider:
    where = {"project_dir": str(project)} if project is not None else {}
    base = {
        "base_url": url,
        "schema_url": url + fal.SCHEMA_PATH,
        "storage_url": url,
        **where,
        **options,
    }
    return FalProvider(ProviderConfig(options=base, secrets={"FAL_KEY": KEY}))


def _replicate(url: str, **options: Any) -> ReplicateProvider:
    config = ProviderConfig(
        options={"base_url": f"{url}/v1", **options}, secrets={"REPLICATE_API_TOKEN": KEY}
    )
    return ReplicateProvider(config)


def _video(frame: Path, **fields: Any) -> VideoRequest:
    values = {"prompt": "she turns", "image": str(frame), "duration_s": 4.0, **fields}
    return VideoRequest(**values)


async def _checked(provider: FalProvider | ReplicateProvider, request: Request) -> list[str]:
    try:
        return await provider.check_requests([("a-t01/video", request)])
    finally:
        await provider.aclose()


# -- the loopback servers do what the services do --------------------------------------


def test_the_loopback_fal_serves_the_endpoint_schema_and_refuses_what_breaks_it(
    fal_server: tuple[str, FalControl],
) -> None:
    url, control = fal_server
    auth = {"Authorization": f"Key {KEY}"}
    document = httpx.get(url + fal.SCHEMA_PATH, params={"endpoint_id": KLING}).json()
    assert document["info"]["x-fal-metadata"]["endpointId"] == KLING
    ref = document["paths"][f"/{KLING}"]["post"]["requestBody"]["content"]["application/json"]
    inputs = document["components"]["schemas"][ref["schema"]["$ref"].rsplit("/", 1)[-1]]
    assert inputs["properties"]["duration"]["enum"] == ["5", "10"]

    body = {"prompt": "p", "image_url": "data:image/png;base64,AAAA", "duration": 5}
    refused = httpx.post(f"{url}/{KLING}", json=body, headers=auth)

    assert refused.status_code == 422
    details = refused.json()["detail"]
    assert {tuple(d["loc"]) for d in details} == {("body", "duration")}
    assert "enum" in {d["type"] for d in details}
    assert control.jobs == {}


def test_fal_validates_late_when_told_and_ignores_inputs_it_does_not_name(
    fal_server: tuple[str, FalControl], frame: Path
) -> None:
    url, control = fal_server
    control.late_validation = True
    provider = _fal(url)
    request = _video(frame, model=KLING, params={"duration": "7", "motion": 1})
    # recoil's own check would refuse this before sending: go around it.
    body = {**asyncio.run(provider.file_urls(request)), "prompt": "p", "duration": "7"}
    image = body.pop("image")
    auth = {"Authorization": f"Key {KEY}"}
    answer = httpx.post(
        f"{url}/{KLING}", json={**body, "image_url": image, "motion": 1}, headers=auth
    ).json()
    wait_until(
        lambda: httpx.get(answer["status_url"], headers=auth).json()["status"] == "COMPLETED",
        what="the request to complete",
    )
    result = httpx.get(answer["response_url"], headers=auth)
    asyncio.run(provider.aclose())

    assert result.status_code == 422 and result.json()["detail"][0]["loc"] == ["body", "duration"]
    assert control.ignored == [(KLING, "motion")]


def test_the_loopback_replicate_serves_the_version_schema_and_refuses_what_breaks_it(
    replicate_server: tuple[str, ReplicateControl],
) -> None:
    url, control = replicate_server
    auth = {"Authorization": f"Bearer {KEY}"}
    model = httpx.get(f"{url}/v1/models/kwaivgi/kling-v2.1", headers=auth).json()
    schema = model["latest_version"]["openapi_schema"]["components"]["schemas"]
    assert schema["Input"]["properties"]["duration"]["allOf"] == [
        {"$ref": "#/components/schemas/duration"}
    ]
    assert schema["duration"]["enum"] == [5, 10]

    body = {"input": {"prompt": "p", "start_image": "data:,", "duration": 7, "fps": 24}}
    refused = httpx.post(f"{url}/v1/models/kwaivgi/kling-v2.1/predictions", json=body, headers=auth)

    assert refused.status_code == 422
    answer = refused.json()
    assert answer["title"] == "Input validation failed"
    kinds = {(f["type"], f["field"]) for f in answer["invalid_fields"]}
    assert ("enum", "input.duration") in kinds
    assert ("additional_property_not_allowed", "") in kinds
    assert control.predictions == {}


# -- the adapters fetch a schema once, keep it, and check every request -------------------


def test_a_schema_is_fetched_once_and_kept_in_the_project(
    fal_server: tuple[str, FalControl], tmp_path: Path, frame: Path
) -> None:
    url, control = fal_server
    request = _video(frame, model=KLING)
    for _ in range(2):
        _, state = asyncio.run(run_job(_fal(url, tmp_path), request))
        assert state.status is JobStatus.SUCCEEDED
    kept = tmp_path / "schemas" / "fal" / "fal-ai--kling-video--v2.1--standard--image-to-video.json"
    assert control.schema_fetches == 1
    document = json.loads(kept.read_text())
    assert (document["kind"], document["model"]) == ("model_schema", KLING)
    assert document["url"].endswith(f"?endpoint_id={KLING}")

    kept.unlink()  # deleting it fetches it anew
    asyncio.run(run_job(_fal(url, tmp_path), request))
    assert control.schema_fetches == 2 and kept.exists()


def test_an_unknown_param_is_one_line_naming_it_before_any_call(
    fal_server: tuple[str, FalControl], frame: Path
) -> None:
    url, control = fal_server
    request = _video(frame, model=KLING, params={"cfg_scal": 0.4})

    [problem] = asyncio.run(_checked(_fal(url), request))

    assert problem.startswith(f"video {KLING}: input.cfg_scal: {KLING} has no input 'cfg_scal'")
    assert "(did you mean 'cfg_scale'?)" in problem and problem.endswith("[a-t01/video]")
    assert control.submits == 0


def test_requests_sharing_a_problem_share_its_line(
    fal_server: tuple[str, FalControl], frame: Path
) -> None:
    url, _ = fal_server
    provider = _fal(url)
    requests = [(f"{b}-t01/video", _video(frame, model=KLING, duration_s=12.0)) for b in "abcde"]

    async def check() -> list[str]:
        try:
            return await provider.check_requests(requests)
        finally:
            await provider.aclose()

    [problem] = asyncio.run(check())
    assert "takes duration 5, 10 only, and 12 s is more than the largest" in problem
    assert "shorten the beat" in problem
    assert problem.endswith("[a-t01/video, b-t01/video, c-t01/video, d-t01/video and 1 more]")


def test_a_dispatch_checks_too_and_sends_nothing_that_does_not_fit(
    replicate_server: tuple[str, ReplicateControl], frame: Path
) -> None:
    url, control = replicate_server
    request = _video(frame, model="kwaivgi/kling-v2.1", params={"mode": "ultra"})

    with pytest.raises(ProviderError) as info:
        asyncio.run(run_job(_replicate(url), request))

    error = info.value
    assert (error.retryable, error.error_type) == (False, "invalid_input")
    assert "input.mode: got 'ultra', allowed: 'standard', 'pro'" in str(error)
    assert "was not sent" in str(error)
    assert control.submits == 0


def test_a_kept_schema_checks_a_request_when_it_is_validated(
    fal_server: tuple[str, FalControl], tmp_path: Path, frame: Path
) -> None:
    """``validate`` (the dry run, the plan) uses a schema already kept, and fetches nothing."""
    url, control = fal_server
    asyncio.run(_checked(_fal(url, tmp_path), _video(frame, model=KLING)))
    provider = _fal(url, tmp_path)

    provider.validate(_video(frame, model=KLING))
    # An input an earlier step will make (the keyframe) may be missing at that point.
    provider.validate(VideoRequest(prompt="p", model=KLING))
    with pytest.raises(PayloadError, match=r"input\.motion_bucket_id: .* has no input"):
        provider.validate(_video(frame, model=KLING, params={"motion_bucket_id": 127}))
    assert control.schema_fetches == 1
    asyncio.run(provider.aclose())


def test_preflight_fetches_every_configured_models_schema(
    fal_server: tuple[str, FalControl], tmp_path: Path
) -> None:
    url, _ = fal_server
    provider = _fal(url, tmp_path, models={"keyframe": "fal-ai/flux/dev", "video": "nothing"})

    async def preflight() -> list[str]:
        try:
            return await provider.preflight()
        finally:
            await provider.aclose()

    [problem] = asyncio.run(preflight())
    assert problem.startswith("[providers.fal.models] video: fal: schema of nothing failed with")
    assert "HTTP 404" in problem
    assert (tmp_path / "schemas" / "fal" / "fal-ai--flux--dev.json").exists()


# -- input files, outputs, bindings from recoil.toml ------------------------------------


def test_large_input_files_go_through_the_files_api_once(
    replicate_server: tuple[str, ReplicateControl], frame: Path
) -> None:
    url, control = replicate_server
    provider = _replicate(url, data_uri_max_bytes=16)
    request = _video(frame, model="wan-video/wan-2.2-i2v-fast", fps=24.0)

    async def twice() -> list[JobStatus]:
        statuses = []
        try:
            for _ in range(2):
                job = await provider.submit(request, "k")
                statuses.append(job.job_id)
        finally:
            await provider.aclose()
        return statuses

    asyncio.run(twice())
    assert control.count("POST", "/v1/files") == 1
    [upload] = control.uploads.values()
    assert upload == frame.read_bytes()
    images = {p.input["image"] for p in control.predictions.values()}
    assert len(images) == 1 and next(iter(images)).startswith(f"{url}/v1/files/")


def test_large_input_files_go_to_the_fal_cdn_once(
    fal_server: tuple[str, FalControl], frame: Path
) -> None:
    url, control = fal_server
    provider = _fal(url, data_uri_max_bytes=16)
    request = _video(frame, model=KLING)

    async def twice() -> list[JobState]:
        states = []
        try:
            for _ in range(2):
                job = await provider.submit(request, "k")
                states.append(await until_done(provider, job))
        finally:
            await provider.aclose()
        return states

    states = asyncio.run(twice())
    assert [s.status for s in states] == [JobStatus.SUCCEEDED] * 2
    assert control.count("POST", fal.INITIATE_PATH) == 1
    [upload] = control.uploads.values()
    assert upload == frame.read_bytes()
    sent = {job.input["image_url"] for job in control.jobs.values()}
    assert len(sent) == 1 and next(iter(sent)).startswith(f"{url}/files/")
    # The key goes to fal's API, never to the signed upload URL.
    assert all("Authorization" not in h for h in control.put_headers)


def test_a_binding_from_recoil_toml_names_a_models_inputs(
    fal_server: tuple[str, FalControl], frame: Path
) -> None:
    url, control = fal_server
    model = "acme/motion/image-to-video"
    binding = {
        "modality": "video",
        "output": "video",
        "defaults": {"enhance": False},
        "inputs": {
            "prompt": "text_prompt",
            "image": "first_frame_url",
            "duration_s": {"to": "seconds", "type": "integer"},
            "fps": {"to": "frame_rate", "type": "integer"},
            "aspect_ratio": {"to": "ratio", "choices": ["16:9", "1:1"]},
        },
    }
    provider = _fal(url, bindings={model: binding})
    request = _video(frame, model=model, duration_s=2.5, fps=23.976, width=1920, height=1080)

    asyncio.run(provider.aclose())
    sent = provider.body(request, provider.binding_for(request), None, {"image": "U"})

    assert sent == {
        "enhance": False,
        "text_prompt": "she turns",
        "first_frame_url": "U",
        "seconds": 3,
        "frame_rate": 24,
        "ratio": "16:9",
    }
    assert control.submits == 0


def test_a_shipped_binding_is_changed_input_by_input(fal_server: tuple[str, FalControl]) -> None:
    url, _ = fal_server
    tables = {
        "fal-ai/kokoro/american-english": {
            "inputs": {"voice": {"to": "voice", "map": {"en-us+f3": "af_bella"}}}
        },
        "fal-ai/flux/dev": {"inputs": {"steps": False}, "defaults": {"num_images": 1}},
    }
    provider = _fal(url, bindings=tables)
    asyncio.run(provider.aclose())

    kokoro = provider.bindings["fal-ai/kokoro/american-english"]
    assert {i.source: i.to for i in kokoro.inputs} == {"prompt": "prompt", "voice": "voice"}
    assert [i.map for i in kokoro.inputs if i.source == "voice"] == [{"en-us+f3": "af_bella"}]
    flux = provider.bindings["fal-ai/flux/dev"]
    assert "steps" not in {i.source for i in flux.inputs}
    assert flux.defaults == {"output_format": "png", "num_images": 1}
    assert flux.origin == "recoil.toml"


def test_a_bad_binding_in_recoil_toml_is_a_config_error(fal_server: tuple[str, FalControl]) -> None:
    url, _ = fal_server
    with pytest.raises(ConfigError, match=r"'duraton' is not a request field \(did you mean"):
        _fal(url, bindings={"a/b": {"modality": "video", "inputs": {"duraton": "duration"}}})


def test_a_binding_is_part_of_the_requests_identity(fal_server: tuple[str, FalControl]) -> None:
    """Editing a binding makes another request for the cache (SPEC 7, issue 15 item 8)."""
    url, _ = fal_server
    request = KeyframeRequest(prompt="p", model="fal-ai/flux/dev")
    edit = {"fal-ai/flux/dev": {"defaults": {"output_format": "jpeg"}}}
    shipped, edited = _fal(url), _fal(url, bindings=edit)
    for provider in (shipped, edited):
        asyncio.run(provider.aclose())

    assert shipped.identity_for(request) != edited.identity_for(request)
    assert shipped.identity_for(request) == _fal(url).identity_for(request)


def test_a_model_made_for_another_modality_is_refused(fal_server: tuple[str, FalControl]) -> None:
    url, _ = fal_server
    provider = _fal(url, models={"video": "fal-ai/flux/dev"})
    asyncio.run(provider.aclose())
    with pytest.raises(PayloadError, match=r"fal-ai/flux/dev makes keyframe, not video"):
        provider.validate(VideoRequest(prompt="p"))


def test_a_chained_keyframe_needs_a_model_that_takes_an_image(
    fal_server: tuple[str, FalControl], frame: Path
) -> None:
    url, _ = fal_server
    models = {"keyframe": "fal-ai/flux/dev"}
    provider = _fal(url, models=models)
    chained = KeyframeRequest(prompt="p", image=str(frame))
    with pytest.raises(PayloadError, match=r"fal-ai/flux/dev takes no 'image' input"):
        provider.validate(chained)

    both = _fal(url, models={**models, "keyframe_from_image": "fal-ai/flux/dev/image-to-image"})
    assert both.model_for(chained) == "fal-ai/flux/dev/image-to-image"
    assert both.model_for(KeyframeRequest(prompt="p")) == "fal-ai/flux/dev"
    for p in (provider, both):
        asyncio.run(p.aclose())


def test_a_result_without_the_bound_output_is_a_clear_failure(
    fal_server: tuple[str, FalControl], frame: Path
) -> None:
    url, _ = fal_server
    binding = {"modality": "video", "output": "clip", "inputs": {"prompt": "prompt"}}
    provider = _fal(url, bindings={"acme/odd": binding})

    _, state = asyncio.run(run_job(provider, VideoRequest(prompt="p", model="acme/odd")))

    assert state.status is JobStatus.FAILED and state.error is not None
    assert "without any media URL at 'clip'" in str(state.error)
    assert "fix output in [providers.fal.bindings.'acme/odd']" in str(state.error)
